"""The bpf-fn DSL -> Rust, as a careful aya author would write it.

Every value is a `u64` (wrapping arithmetic, `/` and `%` by zero give 0, as BPF);
comparisons and `and`/`or`/`not` give `bool`. The output is SSA-like: each
operation lands in a temporary on its own line and control flow is statement
`if`/`else`, so it is rustfmt-clean by construction and easy to read against the
Lisp. Packet reads are bounds-checked (`?` on `Option`): a packet shorter than a
header it claims makes the program return its kind's default verdict. No
`unwrap`, no indexing, no panics. Every error is a diagnostic at the form's
file:line:col, with upstream's LowerError texts where upstream has one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tatara_build.diagnostics import Diagnostic, error
from tatara_build.lower import dsl_tables as T
from tatara_build.lower.naming import local_ident, rust_ident, snake
from tatara_build.model.ir import BpfFnForm, MapSpec, ProgramSpec, ident
from tatara_build.model.kinds import MAP_KINDS, PROGRAM_KINDS, UPSTREAM_GENERIC_ACTIONS
from tatara_build.model.suggest import suggest
from tatara_build.reader.lisp import Node

U64, BOOL, UNIT, NEVER = "u64", "bool", "()", "!"
VALUE_TYPES = {4: "u32", 8: "u64"}


class LowerError(Exception):
    def __init__(self, message: str, node: Node, help: str | None = None):
        super().__init__(message)
        self.diag = error(message, node.span, help)


@dataclass(frozen=True)
class Val:
    code: str
    type: str


@dataclass
class Lowering:
    """State for lowering one bpf-fn into the body of one program."""

    fn: BpfFnForm
    program: ProgramSpec
    maps: dict[str, MapSpec]
    lines: list[str] = field(default_factory=list)
    depth: int = 1
    temps: int = 0
    scopes: list[dict[str, str]] = field(default_factory=lambda: [{}])
    uses_pkt: bool = False
    uses_ctx: bool = False

    @property
    def kind(self):
        return PROGRAM_KINDS[self.program.kind]

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

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
        last = Val("", UNIT)
        for i, form in enumerate(self.fn.body):
            final = i == len(self.fn.body) - 1
            last = self.expr(form, want=final)
        ret = self.kind.ret
        if last.type == U64:
            self.emit(f"Some({cast(last.code, 'u64', ret)})")
        elif last.type != NEVER:
            self.emit(f"Some({self.action_code(self.kind.default_action, self.fn.body[-1])})")
        elif self.lines[-1].startswith("    return ") and self.lines[-1].endswith(";"):
            self.lines[-1] = "    " + self.lines[-1][len("    return "):-1]  # tail expression
        return self.lines

    # --- expressions -----------------------------------------------------------------
    def expr(self, node: Node, want: bool = True) -> Val:
        k = node.kind
        if k == "int":
            n = int(node.value)  # type: ignore[arg-type]
            if not 0 <= n < 2**64:
                raise LowerError(f"integer {n} is outside u64 (the DSL's values are unsigned)", node)
            return Val(f"{n}_u64", U64)
        if k == "bool":
            return Val("true" if node.value else "false", BOOL)
        if k == "sym":
            return Val(self.lookup(node), U64 if not self.is_bool_var(node) else BOOL)
        if k == "kw":
            raise LowerError(f"action `:{node.value}` can only appear in `(return :{node.value})`",
                             node)
        if k != "list" or not node.items:
            raise LowerError(f"unknown form `{node.text()[:40]}` — bpf-fn supports only the "
                             "verifier-friendly subset", node)
        head = node.items[0]
        if head.kind != "sym":
            raise LowerError(f"unknown form `{node.text()[:40]}` — bpf-fn supports only the "
                             "verifier-friendly subset", node)
        return self.call_form(str(head.value), node, want)

    def call_form(self, op: str, node: Node, want: bool) -> Val:
        args = node.items[1:]
        if op == "return":
            return self.lower_return(node, args)
        if op == "call":
            return self.lower_call(node, args)
        if op == "let":
            return self.lower_let(node, args, want)
        if op == "if":
            return self.lower_if(node, args, want)
        if op == "when":
            return self.lower_when(node, args)
        if op == "do":
            return self.block(args, want)
        if op in T.COMPARE:
            return self.lower_compare(op, node, args)
        if op in ("and", "or"):
            return self.lower_logic(op, node, args)
        if op == "not":
            self.arity(node, args, 1, "`(not x)` takes one operand")
            return Val(f"!{self.as_bool(args[0])}", BOOL)
        if op in T.WRAPPING or op in T.BITWISE or op in T.SHIFTS or op in T.DIVISION:
            return self.lower_arith(op, node, args)
        if op in T.MAP_OPS:
            return self.lower_map(op, node, args)
        if op in T.ACCESSORS or op in T.LOADS or op == "packet-len":
            return self.lower_packet(op, node, args)
        hint = suggest(op, list(T.SPECIAL_FORMS) + list(T.COMPARE) + list(T.WRAPPING))
        raise LowerError(f"unknown form `({op} …)` — bpf-fn supports only the verifier-friendly "
                         "subset", node.items[0], f"did you mean `{hint}`?" if hint else None)

    def arity(self, node: Node, args: list, n: int, message: str) -> None:
        if len(args) != n:
            raise LowerError(message, node)

    # --- conversions -----------------------------------------------------------------
    def as_u64(self, node: Node) -> str:
        v = self.expr(node)
        if v.type == BOOL:
            return f"u64::from({v.code})"
        if v.type != U64:
            raise LowerError("this form has no value here (it returns or is a statement)", node)
        return v.code

    def as_bool(self, node: Node) -> str:
        v = self.expr(node)
        if v.type == BOOL:
            return v.code
        if v.type != U64:
            raise LowerError("this form has no value to test", node)
        return self.temp(f"{v.code} != 0")

    # --- variables -------------------------------------------------------------------
    def lookup(self, node: Node) -> str:
        name = str(node.value)
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name].split(":")[0]
        if name in self.fn.params:
            raise LowerError(f"`{name}` is the program context; pass it to an accessor, e.g. "
                             f"`(packet-len {name})`", node)
        if name in self.maps:
            raise LowerError(f"`{name}` is a map; read it with `(map-get {name} key)`", node)
        known = [n for s in self.scopes for n in s]
        hint = suggest(name, known)
        raise LowerError(f"unknown variable `{name}`", node, f"did you mean `{hint}`?" if hint else
                         "bind it with (let ((name expr)) ...)")

    def is_bool_var(self, node: Node) -> bool:
        name = str(node.value)
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name].endswith(":bool")
        return False

    def bind(self, name: str, val: Val) -> None:
        rust = local_ident(name)  # injective: `A` and `v_a` stay two variables
        self.emit(f"let {rust} = {val.code};")
        self.scopes[-1][name] = rust + (":bool" if val.type == BOOL else "")

    # --- forms -----------------------------------------------------------------------
    def action_code(self, action: str, node: Node) -> str:
        kind = self.kind
        if action in kind.actions:
            return kind.actions[action]
        if action in UPSTREAM_GENERIC_ACTIONS and self.program.kind not in (":cgroup-skb",):
            return UPSTREAM_GENERIC_ACTIONS[action]
        allowed = ", ".join(f":{a}" for a in kind.actions)
        if self.program.kind == ":cgroup-skb" and action in UPSTREAM_GENERIC_ACTIONS:
            raise LowerError(f"`:{action}` is ambiguous for `:cgroup-skb` (upstream's :ok is 0, "
                             "which drops the packet there)", node, "use :allow (1) or :drop (0)")
        raise LowerError(f"unknown return action `:{action}` for `{self.program.kind}` — "
                         f"allowed: {allowed}", node)

    def lower_return(self, node: Node, args: list[Node]) -> Val:
        self.arity(node, args, 1, "`(return :action)` takes exactly one action or value")
        a = args[0]
        ret = self.kind.ret
        code = (self.action_code(str(a.value), a) if a.kind == "kw"
                else cast(self.as_u64(a), "u64", ret))
        self.emit(f"return Some({code});")
        return Val("", NEVER)

    def lower_call(self, node: Node, args: list[Node]) -> Val:
        if not args or args[0].kind != "sym":
            raise LowerError("`(call helper-name)` needs a helper name", node)
        name = str(args[0].value)
        if name not in T.BPF_HELPERS:
            raise LowerError(f"unknown helper `{name}` — add it to BPF_HELPERS or call directly "
                             "via aya", args[0], "helpers: " + ", ".join(T.BPF_HELPERS))
        if len(args) > 1:
            raise LowerError(f"helper `{name}` takes no arguments", args[1])
        path, unsafe = T.BPF_HELPERS[name]
        call = f"unsafe {{ {path}() }}" if unsafe else f"{path}()"
        return Val(self.temp(f"u64::from({call})"), U64)

    def lower_let(self, node: Node, args: list[Node], want: bool) -> Val:
        bad = "`(let)` requires a binding-list with one or more (name expr) pairs"
        if len(args) < 2 or args[0].kind != "list" or not args[0].items:
            raise LowerError(bad, node)
        self.scopes.append({})
        for binding in args[0].items:
            if binding.kind != "list" or len(binding.items) != 2 or binding.items[0].kind != "sym":
                raise LowerError(bad, binding)
            val = self.expr(binding.items[1])
            if val.type not in (U64, BOOL):
                raise LowerError("a let binding needs a value", binding.items[1])
            self.bind(str(binding.items[0].value), val)
        result = self.sequence(args[1:], want)
        self.scopes.pop()
        return result

    def sequence(self, forms: list[Node], want: bool) -> Val:
        """Lower forms in order; a value nobody uses is discarded with `let _ =`."""
        last = Val("", UNIT)
        for i, f in enumerate(forms):
            final = i == len(forms) - 1
            last = self.expr(f, want=want and final)
            if not (want and final) and last.type in (U64, BOOL) and last.code:
                self.emit(f"let _ = {last.code};")
        return last

    def block(self, forms: list[Node], want: bool) -> Val:
        if not forms:
            return Val("", UNIT)
        return self.sequence(forms, want)

    def branch(self, forms: list[Node], out: str | None, want: bool) -> Val:
        """Emit forms inside `{ }` already opened; assign the value to `out` if any."""
        self.depth += 1
        self.scopes.append({})
        v = self.sequence(forms, want)
        if out is not None and v.type in (U64, BOOL):
            self.emit(f"{out} = {v.code};")
        self.scopes.pop()
        self.depth -= 1
        return v

    def lower_if(self, node: Node, args: list[Node], want: bool) -> Val:
        if len(args) != 3:
            raise LowerError("`(if cond then else)` requires exactly three sub-forms", node,
                             "use `(when cond body…)` for a one-armed if")
        cond = self.as_bool(args[0])
        at = len(self.lines)
        self.emit(f"if {cond} {{")
        out = f"t{self.temps + 1}" if want else None
        if out:
            self.temps += 1
        t = self.branch([args[1]], out, want)
        self.emit("} else {")
        e = self.branch([args[2]], out, want)
        self.emit("}")
        types = {t.type, e.type} - {NEVER}
        if not types:
            return Val("", NEVER)
        if want and types & {U64, BOOL}:
            if len(types) != 1:
                raise LowerError("both arms of `if` must give a value of the same type (a number "
                                 "or a test), or neither", node)
            self.lines.insert(at, "    " * self.depth + f"let {out}: {next(iter(types))};")
            return Val(out, next(iter(types)))
        return Val("", UNIT)

    def lower_when(self, node: Node, args: list[Node]) -> Val:
        if len(args) < 2:
            raise LowerError("`(when cond body…)` needs a condition and a body", node)
        cond = self.as_bool(args[0])
        self.emit(f"if {cond} {{")
        self.branch(args[1:], None, False)
        self.emit("}")
        return Val("", UNIT)

    def lower_compare(self, op: str, node: Node, args: list[Node]) -> Val:
        if len(args) != 2:
            raise LowerError(f"comparison `{op}` requires exactly two operands", node)
        a, b = self.as_u64(args[0]), self.as_u64(args[1])
        return Val(self.temp(f"{a} {T.COMPARE[op]} {b}"), BOOL)

    def lower_logic(self, op: str, node: Node, args: list[Node]) -> Val:
        """Short-circuit `and`/`or` over two or more tests."""
        if len(args) < 2:
            raise LowerError(f"`({op} …)` needs at least two operands", node)
        out = self.declare("bool")
        first = self.as_bool(args[0])
        test = first if op == "and" else f"!{first}"
        self.emit(f"if {test} {{")
        self.depth += 1
        rest = self.lower_logic(op, node, args[1:]).code if len(args) > 2 else self.as_bool(args[1])
        self.emit(f"{out} = {rest};")
        self.depth -= 1
        self.emit("} else {")
        self.emit(f"    {out} = {'false' if op == 'and' else 'true'};")
        self.emit("}")
        return Val(out, BOOL)

    def lower_arith(self, op: str, node: Node, args: list[Node]) -> Val:
        nary = op in ("+", "*", "&", "|", "^")
        if (nary and len(args) < 2) or (not nary and len(args) != 2):
            want = "two or more operands" if nary else "exactly two operands"
            raise LowerError(f"`({op} …)` needs {want}", node)
        acc = self.as_u64(args[0])
        for arg in args[1:]:
            b = self.as_u64(arg)
            if op in T.WRAPPING:
                acc = self.temp(f"{acc}.{T.WRAPPING[op]}({b})")
            elif op in T.BITWISE:
                acc = self.temp(f"{acc} {T.BITWISE[op]} {b}")
            elif op in T.SHIFTS:
                acc = self.temp(f"{acc}.{T.SHIFTS[op]}({b} as u32)")
            else:
                acc = self.temp(f"crate::rt::{T.DIVISION[op]}({acc}, {b})")
        return Val(acc, U64)

    # --- maps ------------------------------------------------------------------------
    def map_of(self, node: Node) -> tuple[str, MapSpec]:
        if node.kind not in ("sym", "str"):
            raise LowerError("expected a map name", node)
        name = str(node.value)
        spec = self.maps.get(name)
        if spec is None:
            hint = suggest(name, list(self.maps))
            raise LowerError(f"unknown map `{name}` (not in this policy's :maps)", node,
                             f"did you mean `{hint}`?" if hint else None)
        if ident(name) not in {ident(u) for u in self.program.uses_maps}:
            raise LowerError(f"program `{self.program.name}` uses map `{name}` without listing it "
                             "in :uses-maps", node, f'add "{name}" to :uses-maps')
        kind = MAP_KINDS[spec.kind]
        if not kind.keyed:
            raise LowerError(f"map `{name}` is `{spec.kind}`; the DSL's map operations work on "
                             "hash and array kinds", node)
        if spec.value_size not in VALUE_TYPES:
            raise LowerError(f"map `{name}` has value_size {spec.value_size}; the DSL reads and "
                             "writes 4- or 8-byte values (u32/u64)", node)
        if not kind.array and spec.key_size not in VALUE_TYPES:
            raise LowerError(f"map `{name}` has key_size {spec.key_size}; DSL keys are 4 or 8 "
                             "bytes (u32/u64)", node)
        return f"crate::maps::{rust_ident(name)}", spec

    def key_code(self, spec: MapSpec, key: str) -> str:
        return cast(key, "u64", "u32" if MAP_KINDS[spec.kind].array else VALUE_TYPES[spec.key_size])

    def lower_map(self, op: str, node: Node, args: list[Node]) -> Val:
        n = T.MAP_OPS[op]
        if len(args) != n:
            raise LowerError(f"map operation `{op}` requires {n} args, got {len(args)}", node)
        path, spec = self.map_of(args[0])
        kind = MAP_KINDS[spec.kind]
        vt = VALUE_TYPES[spec.value_size]
        key = self.key_code(spec, self.as_u64(args[1]))
        key = key if _is_atom(key) else self.temp(key)
        if op == "map-get":
            out = self.declare("u64")
            self.emit(f"match {path}.get_ptr({key}) {{")
            self.emit(f"    // SAFETY: a pointer from a successful lookup is valid for a {vt}.")
            self.emit(f"    Some(p) => {out} = u64::from(unsafe {{ *p }}),")
            self.emit(f"    None => {out} = 0,")
            self.emit("}")
            return Val(out, U64)
        if op == "map-delete":
            if kind.array:
                raise LowerError(f"cannot delete from array map `{spec.name}`", node,
                                 "set the slot to 0 with (map-set ...)")
            self.emit(f"let _ = {path}.remove({key});")
            return Val("", UNIT)
        value = self.as_u64(args[2]) if op in ("map-set", "map-add") else "1_u64"
        if op == "map-set":
            call = "set" if kind.array else "insert"
            self.emit(f"let _ = {path}.{call}({key}, {cast(value, 'u64', vt)}, 0);")
            return Val("", UNIT)
        return self.map_add(path, spec, key, value, vt)

    def map_add(self, path: str, spec: MapSpec, key: str, delta: str, vt: str) -> Val:
        kind = MAP_KINDS[spec.kind]
        d = cast(delta, "u64", vt)
        self.emit(f"if let Some(p) = {path}.get_ptr_mut({key}) {{")
        if kind.per_cpu:
            self.emit("    // SAFETY: this CPU's slot, from a successful lookup; no other writer.")
            self.emit(f"    unsafe {{ *p = (*p).wrapping_add({d}) }};")
        else:
            self.emit("    // SAFETY: a shared slot from a successful lookup, updated atomically.")
            self.emit(f"    unsafe {{ crate::rt::atomic_add_{vt}(p, {d}) }};")
        if kind.array:
            self.emit("}")
        else:
            self.emit("} else {")
            self.emit("    // BPF_NOEXIST: a concurrent first insert wins; this count is lost then.")
            self.emit(f"    let _ = {path}.insert({key}, {d}, 1);")
            self.emit("}")
        return Val("", UNIT)

    # --- packets ---------------------------------------------------------------------
    def ctx_arg(self, node: Node, args: list[Node], n: int) -> None:
        op = str(node.items[0].value)
        if len(args) != n or args[0].kind != "sym" or str(args[0].value) not in self.fn.params[:1]:
            ctx = self.fn.params[0] if self.fn.params else "ctx"
            extra = " offset" if n == 2 else ""
            raise LowerError(f"`({op} …)` takes the context `{ctx}`{extra}", node,
                             f"write `({op} {ctx}{extra})`")

    def lower_packet(self, op: str, node: Node, args: list[Node]) -> Val:
        kind = self.kind
        if op in T.LOADS:
            self.ctx_arg(node, args, 2)
        else:
            self.ctx_arg(node, args, 1)
        self.uses_ctx = True
        if op == "packet-len":
            if kind.packet_base is None and self.program.kind != ":socket-filter":
                raise LowerError(f"`(packet-len …)`: `{self.program.kind}` programs have no packet",
                                 node)
            if self.program.kind == ":xdp":
                self.uses_pkt = True
                return Val(self.temp("pkt.len()"), U64)
            return Val(self.temp("u64::from(ctx.len())"), U64)
        if self.program.kind == ":socket-filter" and op in T.LOADS:
            off = self.as_u64(args[1])
            return Val(self.temp(f"crate::rt::skb_{T.LOADS[op]}(ctx, {off})?"), U64)
        if kind.packet_base is None:
            raise LowerError(f"`({op} …)` reads packet headers; `{self.program.kind}` programs "
                             "have none", node, "packet accessors work in :xdp, :tc and :cgroup-skb")
        self.uses_pkt = True
        if op in T.LOADS:
            off = self.as_u64(args[1])
            return Val(self.temp(f"pkt.{T.LOADS[op]}({off})?"), U64)
        method, needs_eth = T.ACCESSORS[op]
        if needs_eth and not kind.has_ethernet:
            raise LowerError(f"`({op} …)`: `{self.program.kind}` packets start at the IP header",
                             node)
        return Val(self.temp(f"pkt.{method}()?"), U64)


def cast(code: str, src: str, dst: str) -> str:
    """`code as dst`, or `code` itself when the types already agree."""
    if src == dst:
        return code
    if re.fullmatch(r"[0-9]+_u64", code) and dst in ("u32", "i32", "i64", "u64"):
        return code[: -len("_u64")] + f"_{dst}" if dst != "i32" or int(code[:-4]) < 2**31 \
            else f"{code} as {dst}"
    return f"{code} as {dst}"


def _is_atom(code: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+_[a-z0-9]+", code) is not None


@dataclass(frozen=True)
class LoweredBody:
    name: str  # Rust function name in `mod bodies`
    lines: list[str]
    uses_pkt: bool
    uses_ctx: bool


PKT_INIT = {
    ":xdp": "crate::rt::Pkt::new(ctx.data(), ctx.data_end(), true)",
    ":tc": "crate::rt::Pkt::new(ctx.data(), ctx.data_end(), true)",
    ":cgroup-skb": ("crate::rt::Pkt::new(\n"
                    "        unsafe { (*ctx.skb.skb).data as usize },\n"
                    "        unsafe { (*ctx.skb.skb).data_end as usize },\n"
                    "        false,\n    )"),
}


def lower_bpf_fn(fn: BpfFnForm, program: ProgramSpec, maps: dict[str, MapSpec]
                 ) -> tuple[LoweredBody | None, list[Diagnostic]]:
    """Lower `fn` as the body of `program`; maps are the policy's, by spec name."""
    low = Lowering(fn, program, maps)
    if len(fn.params) != 1:
        return None, [error(f"bpf-fn `{fn.name}` must take exactly one parameter (the context)",
                            fn.span, f"(bpf-fn {fn.name} (ctx) ...)")]
    try:
        lines = low.body()
    except LowerError as exc:
        return None, [exc.diag]
    if low.uses_pkt:
        lines.insert(0, "    let pkt = " + PKT_INIT[program.kind] + ";")
    return LoweredBody(snake(program.name), lines, low.uses_pkt, low.uses_ctx), []
