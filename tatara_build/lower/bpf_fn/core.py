"""The lowering state of one bpf-fn: emitted lines, scopes, types, conversions.

Every value is a `u64` (wrapping arithmetic, `/` and `%` by zero give 0, as BPF);
comparisons and `and`/`or`/`not` give `bool`. The output is SSA-like: each
operation lands in a temporary on its own line and control flow is statement
`if`/`else`, so it is rustfmt-clean by construction and easy to read against the
Lisp. Forms are lowered by handlers found in `registry.FORMS`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from tatara_build.diagnostics import Span, error
from tatara_build.lower.bpf_fn.names import LocalNames
from tatara_build.lower.bpf_fn.registry import FORMS
from tatara_build.model.ir import BpfFnForm, MapSpec, ProgramSpec
from tatara_build.model.kinds import PROGRAM_KINDS, UPSTREAM_GENERIC_ACTIONS
from tatara_build.model.records import StructSpec
from tatara_build.model.suggest import suggest
from tatara_build.reader.lisp import Node


class Ty(enum.Enum):
    """The type of a lowered form's value."""

    U64 = "u64"
    BOOL = "bool"
    UNIT = "()"  # a statement: no value
    NEVER = "!"  # control left (return)
    REC = "record"  # a defbpf-struct value (Val.of names the struct)
    BYTES = "bytes"  # a byte-array value (Val.of is its field type: ipv6, mac, bytes:N)

    @property
    def has_value(self) -> bool:
        return self in (Ty.U64, Ty.BOOL)

    @property
    def bindable(self) -> bool:
        return self in (Ty.U64, Ty.BOOL, Ty.REC, Ty.BYTES)


class LowerError(Exception):
    """A form that cannot be lowered; carries the located diagnostic."""

    def __init__(self, message: str, node: Node, help: str | None = None):
        super().__init__(message)
        self.diag = error(message, node.span, help)


@dataclass(frozen=True)
class Val:
    code: str
    type: Ty
    of: str = ""  # REC: the struct's spec name; BYTES: the field type


@dataclass(frozen=True)
class Binding:
    """A DSL name in scope: its Rust identifier and its type."""

    rust: str
    type: Ty
    of: str = ""


UNKNOWN_FORM = "unknown form `{0}` — bpf-fn supports only the verifier-friendly subset"
# Where `bind` leaves a `let` its `mut ` is decided later: MUT_MARK, the Rust name, NUL.
MUT_MARK = "\0mut:"


@dataclass
class Lowering:
    """State for lowering one bpf-fn into the body of one program."""

    fn: BpfFnForm
    program: ProgramSpec
    maps: dict[str, MapSpec]
    structs: dict[str, StructSpec] = field(default_factory=dict)
    used_structs: set[str] = field(default_factory=set)  # records the crate must declare
    mutated: set[str] = field(default_factory=set)  # variables written with `set`
    helpers: dict[str, BpfFnForm] = field(default_factory=dict)  # the file's other bpf-fns
    inlining: list[str] = field(default_factory=list)  # helper calls being expanded
    ctx_names: list[str] = field(default_factory=list)  # names of the context in scope

    def __post_init__(self) -> None:
        self.ctx_names = list(self.fn.params[:1])

    def is_ctx(self, node: Node) -> bool:
        return node.kind == "sym" and str(node.value) in self.ctx_names
    lines: list[str] = field(default_factory=list)
    depth: int = 1
    temps: int = 0
    scopes: list[dict[str, Binding]] = field(default_factory=lambda: [{}])
    names: LocalNames = field(default_factory=LocalNames)
    uses_pkt: bool = False
    hdr_depth: int = 0  # header accessors: the body starts with `let hdr = pkt.parse::<N>();`
    uses_ctx: bool = False
    uses_setters: bool = False  # a packet field setter (stores.py) needs `pw`
    globals: dict = field(default_factory=dict)  # symbol name -> GlobalSpec (global_vars.py)
    # The line table: each emitted line starts with a marker naming the form being lowered
    # (`at`'s top, an index into `span_table`); body() strips the markers into line_spans.
    at: list[Span] = field(default_factory=list)
    span_table: list[Span] = field(default_factory=list)
    line_spans: list[Span] = field(default_factory=list)
    loops: list = field(default_factory=list)  # enclosing loops, innermost last (loops.Frame)
    loop_vars: set[str] = field(default_factory=set)  # loop counters' Rust names (not `set`)
    loop_floor: int = 0  # loops of the caller, while inlining: `break` cannot reach them

    @property
    def kind(self):
        return PROGRAM_KINDS[self.program.kind]

    # --- output ----------------------------------------------------------------------
    def emit(self, line: str) -> None:
        mark = ""
        if self.at:
            if not self.span_table or self.span_table[-1] is not self.at[-1]:
                self.span_table.append(self.at[-1])
            mark = f"{MARK}{len(self.span_table) - 1}{MARK_END}"
        self.lines.append(mark + "    " * self.depth + line)

    def temp(self, code: str) -> str:
        self.temps += 1
        name = f"t{self.temps}"
        self.emit(f"let {name} = {code};")
        return name

    def declare(self, ty: str) -> str:
        self.temps += 1
        name = f"t{self.temps}"
        self.emit(f"let {name}: {ty};")
        return name

    # --- entry -----------------------------------------------------------------------
    def body(self) -> list[str]:
        """Lower the whole body; returns the Rust lines inside the function."""
        last = Val("", Ty.UNIT)
        for i, form in enumerate(self.fn.body):
            last = self.expr(form, want=i == len(self.fn.body) - 1)
        self.lines, self.line_spans = split_marks(self.lines, self.span_table, self.fn.span)
        self.at = []  # the closing lines belong to the bpf-fn itself
        if last.type == Ty.U64:
            self.emit(f"Some({cast(last.code, 'u64', self.kind.ret)})")
        elif last.type != Ty.NEVER:
            self.emit(f"Some({self.action_code(self.kind.default_action, self.fn.body[-1])})")
        elif self.lines[-1].startswith("    return ") and self.lines[-1].endswith(";"):
            self.lines[-1] = "    " + self.lines[-1][len("    return "):-1]  # tail expression
        self.line_spans += [self.fn.span] * (len(self.lines) - len(self.line_spans))
        return [self._resolve_mut(ln) for ln in self.lines]

    def _resolve_mut(self, line: str) -> str:
        """The marker `bind` leaves in a record's `let`: `mut` when a `set` wrote it, else none."""
        i = line.find(MUT_MARK)
        j = line.find("\0", i + len(MUT_MARK)) if i >= 0 else -1
        if j < 0:  # no marker (a NUL from a refused name is not one)
            return line
        name = line[i + len(MUT_MARK):j]
        return line[:i] + ("mut " if name in self.mutated else "") + line[j + 1:]

    def expr(self, node: Node, want: bool = True) -> Val:
        """Lower one form; atoms here, lists through the form registry."""
        k = node.kind
        if k == "int":
            n = int(node.value)  # type: ignore[arg-type]
            if not 0 <= n < 2**64:
                raise LowerError(f"integer {n} is outside u64 (the DSL's values are unsigned)", node)
            return Val(f"{n}_u64", Ty.U64)
        if k == "bool":
            return Val("true" if node.value else "false", Ty.BOOL)
        if k == "sym":
            b = self.lookup(node)
            return Val(b.rust, b.type, b.of)
        if k == "kw":
            return self.action_value(node)
        if k != "list" or not node.items or node.items[0].kind != "sym":
            raise LowerError(UNKNOWN_FORM.format(node.text()[:40]), node)
        op = str(node.items[0].value)
        handler = FORMS.get(op)
        if handler is None and op not in self.helpers:
            hint = suggest(op, list(FORMS) + list(self.helpers))
            raise LowerError(UNKNOWN_FORM.format(f"({op} …)"), node.items[0],
                             f"did you mean `{hint}`?" if hint else None)
        self.at.append(node.span)  # lines emitted from here on come from this form
        try:
            if handler is None:
                return self.inline(self.helpers[op], node, want)
            return handler(self, op, node, node.items[1:], want)
        finally:
            self.at.pop()

    def inline(self, helper: BpfFnForm, node: Node, want: bool) -> Val:
        """`(helper a b)`: the helper's body, inlined with its parameters bound to the
        arguments (evaluated once, in order). A `return` inside returns from the program."""
        if helper.name in self.inlining:
            raise LowerError(f"bpf-fn `{helper.name}` calls itself (through "
                             f"{' -> '.join(self.inlining)}); helpers are inlined, so they "
                             "cannot recurse", node)
        args = node.items[1:]
        if len(args) != len(helper.params):
            raise LowerError(f"bpf-fn `{helper.name}` takes {len(helper.params)} argument(s) "
                             f"({' '.join(helper.params)}), got {len(args)}", node)
        values = [None if self.is_ctx(a) else self.expr(a) for a in args]  # ctx passes as is
        for a, v in zip(args, values, strict=True):
            if v is not None and not v.type.bindable:
                raise LowerError("an argument needs a value", a)
        saved, self.scopes = self.scopes, [{}]  # the helper sees its parameters only
        saved_ctx, saved_floor = self.ctx_names, self.loop_floor
        self.loop_floor = len(self.loops)  # `break` stays inside the helper
        self.ctx_names = [p for p, v in zip(helper.params, values, strict=True) if v is None]
        self.inlining.append(helper.name)
        try:
            for p, v in zip(helper.params, values, strict=True):
                if v is not None:
                    self.bind(p, v)
            last = Val("", Ty.UNIT)
            for i, f in enumerate(helper.body):
                final = want and i == len(helper.body) - 1
                last = self.expr(f, want=final)
                if not final and last.type.has_value and last.code:
                    self.emit(f"let _ = {last.code};")
            return last
        finally:
            self.inlining.pop()
            self.scopes, self.ctx_names = saved, saved_ctx
            self.loop_floor = saved_floor

    def arity(self, node: Node, args: list, n: int, message: str) -> None:
        if len(args) != n:
            raise LowerError(message, node)

    # --- conversions -----------------------------------------------------------------
    def as_u64(self, node: Node) -> str:
        v = self.expr(node)
        if v.type == Ty.BOOL:
            return f"u64::from({v.code})"
        if v.type in (Ty.REC, Ty.BYTES):
            raise LowerError(f"this is a {v.of or 'byte'} record, not a number", node,
                             "read one field with `(get record field)`" if v.type == Ty.REC
                             else "store it in a record field of the same type")
        if v.type != Ty.U64:
            raise LowerError("this form has no value here (it returns or is a statement)", node)
        return v.code

    def as_bool(self, node: Node) -> str:
        v = self.expr(node)
        if v.type == Ty.BOOL:
            return v.code
        if v.type != Ty.U64:
            raise LowerError("this form has no value to test", node)
        return self.temp(f"{v.code} != 0")

    # --- variables -------------------------------------------------------------------
    def lookup(self, node: Node) -> Binding:
        name = str(node.value)
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        if name in self.ctx_names:
            raise LowerError(f"`{name}` is the program context; pass it to an accessor, e.g. "
                             f"`(packet-len {name})`", node)
        if name in self.maps:
            raise LowerError(f"`{name}` is a map; read it with `(map-get {name} key)`", node)
        hint = suggest(name, [n for s in self.scopes for n in s])
        raise LowerError(f"unknown variable `{name}`", node, f"did you mean `{hint}`?" if hint else
                         "bind it with (let ((name expr)) ...)")

    def bind(self, name: str, val: Val) -> None:
        rust = self.names.fresh(name)
        mut = f"{MUT_MARK}{rust}\0"  # `mut ` if a `set` writes it, resolved by body()
        self.emit(f"let {mut}{rust} = {val.code};")
        self.scopes[-1][name] = Binding(rust, val.type, val.of)

    # --- actions ---------------------------------------------------------------------
    def action_value(self, node: Node) -> Val:
        """An action keyword where a value is wanted: its verdict number as a u64."""
        code = self.action_code(str(node.value), node)
        if code.startswith("-"):
            code += "_i64"  # `-1 as u64` does not parse as intended
        return Val(self.temp(f"{code} as u64"), Ty.U64)

    def action_code(self, action: str, node: Node) -> str:
        kind = self.kind
        if action in kind.actions:
            return kind.actions[action]
        if action in UPSTREAM_GENERIC_ACTIONS and kind.generic_actions:
            return UPSTREAM_GENERIC_ACTIONS[action]
        allowed = ", ".join(f":{a}" for a in kind.actions)
        if action in UPSTREAM_GENERIC_ACTIONS:
            uses = " or ".join(f":{a} ({v})" for a, v in kind.action_values.items())
            raise LowerError(f"`:{action}` is ambiguous for `{kind.wire}` (upstream's :ok is 0, "
                             "which drops the packet there)", node, f"use {uses}")
        raise LowerError(f"unknown return action `:{action}` for `{self.program.kind}` — "
                         f"allowed: {allowed}", node)


MARK, MARK_END = "\x02", "\x03"  # around a span index at the start of an emitted line


def dedent(line: str) -> str:
    """An emitted line one level (4 spaces) less indented, keeping its span marker."""
    if line.startswith(MARK):
        mark, rest = line.split(MARK_END, 1)
        return mark + MARK_END + rest[4:]
    return line[4:]


def split_marks(lines: list[str], table: list[Span], default: Span) -> tuple[list[str], list[Span]]:
    """Lines without their span markers, and each line's span: a line emitted without
    one (inserted later by a form) takes the span of the line before it."""
    out, spans, last = [], [], default
    for ln in lines:
        if ln.startswith(MARK):
            idx, ln = ln[1:].split(MARK_END, 1)
            last = table[int(idx)]
        out.append(ln)
        spans.append(last)
    return out, spans


def cast(code: str, src: str, dst: str) -> str:
    """`code as dst`, or `code` itself when the types already agree."""
    if src == dst:
        return code
    if re.fullmatch(r"[0-9]+_u64", code) and int(code[:-4]) < _LITERAL_LIMIT.get(dst, 0):
        return code[: -len("_u64")] + f"_{dst}"  # a literal of a type it fits (no lint)
    return f"{code} as {dst}"


# Literals below these fit the type; larger ones are cast (`N_u64 as u32` truncates,
# as the DSL's u64 values do), since an out-of-range `N_u32` is a compile error.
_LITERAL_LIMIT = {"u32": 2**32, "i32": 2**31, "i64": 2**63, "u64": 2**64}


def is_atom(code: str) -> bool:
    """A Rust identifier or literal (needs no temporary)."""
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+_[a-z0-9]+", code) is not None
