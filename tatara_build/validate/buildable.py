"""What `build` needs that the spec's own rules don't say: `check` refuses here, at the
spec's location, what would otherwise fail later in lowering, cargo or the ELF reader.

- programs compiled into one policy object share one `license` section;
- a `.rs` body offers `pub fn run(&<Context>)`, the contract the generated entry
  point calls (templates/crate/main.rs.j2);
- a carried object is a BPF ELF file;
- a carried object's file name does not collide with the policy's own object.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from tatara_build.diagnostics import Diagnostic, error
from tatara_build.model.ir import ident
from tatara_build.model.kinds import PROGRAM_KINDS
from tatara_build.model.sources import classify, resolve
from tatara_build.validate.context import Context
from tatara_build.validate.sources import outside_allowed, outside_problem

EM_BPF = 247
RUST_READ_LIMIT = 1 << 20  # a body file larger than this is not searched for `run`


def _members(ctx: Context, pol):
    """(program Located, Source) of each declared program of `pol` with a known shape."""
    for name in pol.spec.programs:
        prog = ctx.project.program(name)
        src = classify(prog.spec.source) if prog else None
        if prog is not None and src is not None:
            yield prog, src


def one_license(ctx: Context) -> Iterable[Diagnostic]:
    for pol in ctx.project.policies:
        compiled = {p.spec.name: p.spec.license for p, s in _members(ctx, pol) if s.shape != "object"}
        if len(set(compiled.values())) > 1:
            detail = ", ".join(f'`{k}`: "{v}"' for k, v in compiled.items())
            yield error(f"policy `{pol.spec.name}`: programs built into one object must share a "
                        f"license (one `license` section), got {detail}", pol.span("programs"),
                        "give them one :license, or split them into two policies")


def _run_signature(context: str) -> re.Pattern:
    return re.compile(rf"\bpub\s+fn\s+run\s*\(\s*(?:mut\s+)?\w+\s*:\s*&\s*"
                      rf"(?:[A-Za-z_]\w*\s*::\s*)*{context}\s*[,)]")


def _usable(prog, shape: str):
    """(Source, path) of a program whose source has `shape` and that validate/sources.py
    accepts as a file (inside the spec's folder unless allowed); else None."""
    src = classify(prog.spec.source)
    if src is None or src.shape != shape:
        return None
    if outside_problem(prog.file, src.path) and not outside_allowed():
        return None
    path = resolve(prog.file, src.path)
    try:
        return (src, path) if path.is_file() else None
    except OSError:
        return None


def rust_contract(ctx: Context) -> Iterable[Diagnostic]:
    for prog in ctx.project.programs:
        found = _usable(prog, "rust")
        if found is None:
            continue
        src, path = found
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read(RUST_READ_LIMIT)
        except OSError:
            continue  # validate/sources.py reports a missing file
        context = PROGRAM_KINDS[prog.spec.kind].context
        if not _run_signature(context).search(text):
            ret = PROGRAM_KINDS[prog.spec.kind].ret
            yield error(f"program `{prog.spec.name}`: {src.path} has no "
                        f"`pub fn run(ctx: &{context}) -> {ret}`", prog.span("source"),
                        "the generated entry point calls `programs::<name>::run(&ctx)`; see "
                        "README.md, \"Program bodies\"")


def elf_problem(path: Path) -> str | None:
    """Why `path` is not a BPF ELF object, or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(20)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if head[:4] != b"\x7fELF":
        return "is not an ELF file"
    if len(head) < 20 or head[5] not in (1, 2):
        return "is a truncated ELF file"
    machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    if machine != EM_BPF:
        return f"is an ELF file for another machine (e_machine {machine}, BPF is {EM_BPF})"
    return None


def carried_objects(ctx: Context) -> Iterable[Diagnostic]:
    for prog in ctx.project.programs:
        found = _usable(prog, "object")
        if found is None:
            continue
        src, path = found
        problem = elf_problem(path)
        if problem:
            yield error(f"program `{prog.spec.name}`: carried object `{src.path}` {problem}",
                        prog.span("source"), "carry a BPF object, e.g. from `clang -target bpf -c`")


def object_file_names(ctx: Context) -> Iterable[Diagnostic]:
    """A carried program is copied as `<ident>.bpf.o` beside the policy's `<ident>.bpf.o`."""
    for pol in ctx.project.policies:
        members = list(_members(ctx, pol))
        if not any(s.shape != "object" for _, s in members):
            continue
        for prog, s in members:
            if s.shape == "object" and ident(prog.spec.name) == ident(pol.spec.name):
                yield error(f"program `{prog.spec.name}` and policy `{pol.spec.name}` would both "
                            f"be `{ident(pol.spec.name)}.bpf.o` in the policy's artifacts",
                            prog.span("name"), "rename the program or the policy")


RULES = [one_license, rust_contract, carried_objects, object_file_names]
