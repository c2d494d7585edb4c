"""`(call helper args…)`: the BPF helpers the DSL offers (table in lower/dsl_tables.py).

A helper the kernel refuses for this program's type is a located error here,
not a verifier log after the build.
"""

from __future__ import annotations

import re

from tatara_build.lower import dsl_tables as T
from tatara_build.lower.bpf_fn.core import LowerError, Lowering, Ty, Val
from tatara_build.lower.bpf_fn.mapref import map_named
from tatara_build.lower.bpf_fn.registry import form
from tatara_build.model.suggest import suggest
from tatara_build.reader.lisp import Node

_CONVERSION = re.compile(r"%%|%[-0-9]*(?:ll|l|h|hh)?[diuxXcps]")


def available(low: Lowering) -> list[str]:
    pt = low.kind.kernel_type
    return [n for n, h in T.BPF_HELPERS.items() if h.prog_types is None or pt in h.prog_types]


@form("call")
def lower_call(low: Lowering, op: str, node: Node, args: list[Node], want: bool) -> Val:
    if not args or args[0].kind != "sym":
        raise LowerError("`(call helper-name)` needs a helper name", node)
    name, rest = str(args[0].value), args[1:]
    helper = T.BPF_HELPERS.get(name)
    here = available(low)
    if helper is None:
        hint = suggest(name, list(T.BPF_HELPERS))
        raise LowerError(f"unknown helper `{name}`", args[0],
                         (f"did you mean `{hint}`? " if hint else "")
                         + f"helpers for `{low.program.kind}`: " + ", ".join(here))
    if name not in here:
        raise LowerError(f"helper `{name}` is not allowed in `{low.program.kind}` programs "
                         "(the kernel refuses it there)", args[0],
                         f"helpers for `{low.program.kind}`: " + ", ".join(here))
    if name == "trace-printk":
        return _printk(low, node, rest)
    if len(rest) != len(helper.args):
        shape = " ".join(a.split(":")[-1] for a in helper.args)
        raise LowerError(f"helper `{name}` takes {len(helper.args)} argument(s): "
                         f"`(call {name}{' ' + shape if shape else ''})`", node)
    code = helper.rust
    for i, (spec, a) in enumerate(zip(helper.args, rest, strict=True)):
        code = code.replace(f"{{{i}}}", _arg(low, spec, a))
    if "{ctx}" in code:
        low.uses_ctx = True
        code = code.replace("{ctx}", "ctx")
    if helper.returns != "u64":
        return Val(low.temp(code), Ty.BYTES, helper.returns)
    return Val(low.temp(code), Ty.U64)


def _arg(low: Lowering, spec: str, node: Node) -> str:
    if spec.startswith("map:"):
        path, m = map_named(low, node)
        kinds = [":" + k for k in spec[4:].split("|")]
        if m.kind not in kinds:
            raise LowerError(f"map `{m.name}` is `{m.kind}`; this argument needs a "
                             f"{' or '.join(f'`{k}`' for k in kinds)} map", node)
        return path
    return low.as_u64(node)


def _printk(low: Lowering, node: Node, rest: list[Node]) -> Val:
    if not rest or rest[0].kind != "str":
        raise LowerError("`(call trace-printk \"format\" values…)` needs a format string", node)
    fmt, values = str(rest[0].value), rest[1:]
    if "\0" in fmt or not fmt.isascii():
        raise LowerError("a trace-printk format is ASCII without NUL bytes", rest[0])
    wanted = [c for c in _CONVERSION.findall(fmt) if c != "%%"]
    if len(values) > T.PRINTK_MAX_ARGS or len(wanted) != len(values):
        raise LowerError(f"trace-printk format has {len(wanted)} conversion(s) for "
                         f"{len(values)} value(s) (the kernel takes at most "
                         f"{T.PRINTK_MAX_ARGS})", rest[0])
    lit = "".join(c if c.isprintable() and c not in '"\\' else
                  ("\\" + c if c in '"\\' else f"\\x{ord(c):02x}") for c in fmt)
    # `bpf_printk!(fmt)` expands to an unqualified `bpf_printk!` (aya-ebpf 0.2.1), which
    # is not in scope here; `bpf_printk!(fmt,)` takes the arm with arguments instead.
    args = "".join(f", {low.as_u64(v)}" for v in values) or ","
    code = f'unsafe {{ aya_ebpf::helpers::bpf_printk!(c"{lit}"{args}) }}'
    return Val(low.temp(f"{code} as u64"), Ty.U64)
