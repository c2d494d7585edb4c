"""Random well-typed bpf-fn bodies, table-driven: one row of FORMS per DSL form.

tests/test_verifier_property.py builds many of these into one crate and loads every
program through the real verifier. A row says what the form makes (`u64`, `bool`,
`stmt` or `rec`), where it is allowed (`when`, given the generator: the program kind,
the variables in scope) and how to write one (`gen`, which calls back into the
generator for sub-forms). A form added to the DSL is one more row here; the property
test fails while a row is never used, so every form keeps being exercised.

Every name (maps, structs, globals, helper fns) is declared by `project_files`, so a
generated body is a spec `check` accepts; one that it refuses is a generator bug.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from tatara_build.lower import dsl_tables as T
from tatara_build.model.kinds import PROGRAM_KINDS

# --- the fixed part of the generated project ---------------------------------------------
STRUCTS = {
    "vv": [("n", "u64"), ("m", "u32"), ("b", "u16"), ("s", "u8"), ("ip", "ipv4")],  # 24 bytes
    "kk": [("x", "u32"), ("y", "u32")],  # 8 bytes
    "ev": [("pid", "u32"), ("ip", "ipv4"), ("n", "u64"), ("comm", "bytes:16")],  # 32 bytes
    "tpargs": [("common", "bytes:8"), ("nr", "u32"), ("pad", "u32"), ("a", "u64")],
}
# name -> (kind, key size, value size, extra); scalar maps have u32/u64 keys and values
SCALAR_MAPS = {"cnt": (":array", 4, 8), "c32": (":array", 4, 4), "h64": (":hash", 8, 8),
               "h32": (":hash", 4, 4), "lru": (":lru-hash", 4, 8), "pca": (":per-cpu-array", 4, 8),
               "pch": (":per-cpu-hash", 8, 4)}
RECORD_MAPS = {"rk": (":hash", 8, 24, ':key-struct "kk" :value-struct "vv"'),
               "rv": (":array", 4, 24, ':value-struct "vv"'),
               "pr": (":per-cpu-array", 4, 24, ':value-struct "vv"'),
               "rs": (":hash", 8, 8, ':key-struct "kk"')}
OTHER_MAPS = {"ring": (":ring-buf", 0, 0, ':value-struct "ev"', 4096),
              "pea": (":perf-event-array", 4, 4, ':value-struct "ev"', 0),
              "st": (":stack-trace", 4, 1016, "", 64), "dev": (":devmap", 4, 8, "", 4)}
GLOBALS = {"g8": ("u8", 7), "g16": ("u16", 53), "g64": ("u64", 81985529216486895)}
HASHES = {n for n, (k, *_) in {**SCALAR_MAPS, **RECORD_MAPS}.items() if "hash" in k}
ATTACH = {":xdp": '(:target "eth0")', ":tc": '(:target "eth0" :direction "ingress")',
          ":cgroup-skb": '(:target "/sys/fs/cgroup/x" :direction "egress")',
          ":socket-filter": '(:target "")', ":tracepoint": '(:target "syscalls/sys_enter_getpid")',
          ":perf-event": '(:target "software/cpu-clock@99hz")'}
KINDS = list(ATTACH)
RANGE_LIMITED = {":cgroup-skb"}  # the verifier checks R0 is an action at exit
U64_SAMPLES = [0, 1, 2, 3, 7, 12, 14, 23, 34, 63, 255, 256, 1500, 65535, 2**32 - 1, 2**32,
               2**63 - 1]  # the reader's integers are i64: larger u64 values are computed


def _all_maps() -> list[str]:
    return [*SCALAR_MAPS, *RECORD_MAPS, *OTHER_MAPS]


@dataclass
class Form:
    """One DSL form: what it makes, where it may appear, how to write one."""

    name: str
    makes: str  # "u64" | "bool" | "stmt" | "rec"
    gen: Callable[[Gen, int], str]
    when: Callable[[Gen], bool] = lambda g: True
    weight: float = 1.0
    leaf: bool = False  # needs no sub-forms (usable when depth is spent)


@dataclass
class Gen:
    """Writes one body for one program kind; `used` counts rows (coverage)."""

    rng: random.Random
    kind: str
    scopes: list[dict[str, str]] = field(default_factory=lambda: [{}])
    names: int = 0
    used: dict[str, int] = field(default_factory=dict)
    loops: int = 0  # loops enclosing the form being written

    # --- facts about the kind ------------------------------------------------------
    @property
    def facts(self):
        return PROGRAM_KINDS[self.kind]

    @property
    def packet(self) -> bool:
        return self.facts.packet_base is not None

    @property
    def writable(self) -> bool:
        return self.facts.kernel_type in T.PACKET_WRITES and self.packet

    @property
    def skb_loads(self) -> bool:
        return self.facts.packet_base is None and self.facts.context == "SkBuffContext"

    def helpers(self, returns: str = "u64") -> list[str]:
        pt = self.facts.kernel_type
        return [n for n, h in T.BPF_HELPERS.items() if (h.prog_types is None or pt in h.prog_types)
                and h.returns == returns and n != "trace-printk"]

    def action(self) -> str:
        return ":" + self.rng.choice(list(self.facts.actions))

    # --- variables -----------------------------------------------------------------
    def vars(self, ty: str) -> list[str]:
        return [n for s in self.scopes for n, t in s.items() if t == ty]

    def fresh(self, ty: str) -> str:
        self.names += 1
        name = f"v{self.names}"
        self.scopes[-1][name] = ty
        return name

    # --- choosing forms --------------------------------------------------------------
    def pick(self, makes: str, depth: int) -> str:
        rows = [f for f in FORMS if f.makes == makes and (depth > 0 or f.leaf) and f.when(self)]
        row = self.rng.choices(rows, [f.weight for f in rows])[0]
        self.used[row.name] = self.used.get(row.name, 0) + 1
        return row.gen(self, depth - 1)

    def u64(self, d: int) -> str:
        return self.pick("u64", d)

    def boolean(self, d: int) -> str:
        return self.pick("bool", d)

    def stmt(self, d: int) -> str:
        return self.pick("stmt", d)

    def rec(self, struct: str, d: int) -> str:
        """A record of `struct`: a literal, a let-bound one, or a map's copy."""
        have = [n for n in self.vars("rec:" + struct)]
        if have and self.rng.random() < 0.4:
            return self.rng.choice(have)
        if struct == "vv" and self.rng.random() < 0.3:
            self.used["map-get-record"] = self.used.get("map-get-record", 0) + 1
            m = self.rng.choice(["rk", "rv", "pr"])
            return f"(map-get {m} {self.key(m, d)})"
        return self.record(struct, d)

    def record(self, struct: str, d: int) -> str:
        self.used["record"] = self.used.get("record", 0) + 1
        fields = [f for f in STRUCTS[struct] if self.rng.random() < 0.7]
        return f"(record {struct}" + "".join(
            f" ({n} {self.field_value(t, d)})" for n, t in fields) + ")"

    def field_value(self, t: str, d: int) -> str:
        if t == "bytes:16":
            return "(call get-current-comm)"
        return self.u64(max(d - 1, 0))

    def key(self, m: str, d: int) -> str:
        if m in ("rk", "rs"):
            return self.rec("kk", d)
        return self.u64(max(d - 1, 0))

    # --- a whole body ----------------------------------------------------------------
    def body(self, depth: int = 3, stmts: int = 5) -> str:
        """Statements, then a return; often inside a `let` holding a verdict variable."""
        verdict = None
        lets = []
        if self.rng.random() < 0.6:
            self.scopes.append({})
            verdict = self.fresh("act")
            lets.append(f"({verdict} {self.action()})")
            for _ in range(self.rng.randint(0, 2)):
                ty = self.rng.choice(["u64", "bool"])
                val = self.u64(depth) if ty == "u64" else self.boolean(depth)
                lets.append(f"({self.fresh(ty)} {val})")
        forms = [self.stmt(depth) for _ in range(self.rng.randint(1, stmts))]
        forms.append(self.final_return(depth, verdict))
        if lets:
            self.scopes.pop()
            return f"(let ({' '.join(lets)})\n    " + "\n    ".join(forms) + ")"
        return "\n  ".join(forms)

    def final_return(self, depth: int, verdict: str | None) -> str:
        r = self.rng.random()
        if verdict and r < 0.5:
            return f"(return {verdict})"
        if r < 0.8 or self.kind in RANGE_LIMITED:
            return f"(return {self.action()})"
        return f"(return {self.u64(depth)})"


def _map_set(g: Gen, d: int) -> str:
    if g.rng.random() < 0.3:
        m = g.rng.choice(["rk", "rv", "pr"])
        return f"(map-set {m} {g.key(m, d)} {g.rec('vv', d)})"
    m = g.rng.choice([*SCALAR_MAPS, "rs"])
    return f"(map-set {m} {g.key(m, d)} {g.u64(d)})"


def _map_add(g: Gen, d: int) -> str:
    if g.rng.random() < 0.4:
        m = g.rng.choice(["rk", "rv", "pr"])
        k = g.key(m, d)
        r = g.rng.random()
        if r < 0.3:
            return f"(map-incr {m} {k} {g.rng.choice(['n', 'm'])})"
        if r < 0.6:
            return f"(map-add {m} {k} {g.rng.choice(['n', 'm'])} {g.u64(d)})"
        return f"(map-add {m} {k} (n {g.u64(d)}) (m {g.u64(d)}))"
    m = g.rng.choice([*SCALAR_MAPS, "rs"])
    if g.rng.random() < 0.5:
        return f"(map-incr {m} {g.key(m, d)})"
    return f"(map-add {m} {g.key(m, d)} {g.u64(d)})"


def _when(g: Gen, d: int) -> str:
    cond = g.boolean(d)
    g.scopes.append({})
    body = " ".join(g.stmt(d) for _ in range(g.rng.randint(1, 2)))
    g.scopes.pop()
    return f"(when {cond} {body})"


def _let(g: Gen, d: int) -> str:
    pairs = []
    values = []
    for _ in range(g.rng.randint(1, 2)):
        ty = g.rng.choice(["u64", "u64", "bool", "rec:vv"])
        values.append((ty, g.u64(d) if ty == "u64" else g.boolean(d) if ty == "bool"
                       else g.rec("vv", d)))
    g.scopes.append({})
    for ty, v in values:
        pairs.append(f"({g.fresh(ty)} {v})")
    body = " ".join(g.stmt(d) for _ in range(g.rng.randint(1, 3)))
    g.scopes.pop()
    return f"(let ({' '.join(pairs)}) {body})"


def _set_var(g: Gen, d: int) -> str:
    name = g.rng.choice(g.vars("u64") + g.vars("bool") + g.vars("act"))
    ty = next(t for s in g.scopes for n, t in s.items() if n == name)
    value = g.u64(d) if ty == "u64" else g.boolean(d) if ty == "bool" else g.action()
    return f"(set {name} {value})"


def _emit(g: Gen, d: int) -> str:
    return f"(emit {g.rng.choice(['ring', 'pea'])} {g.rec('ev', d)})"


def _printk(g: Gen, d: int) -> str:
    n = g.rng.randint(0, 3)
    fmt = "gen" + "".join(" %llu" for _ in range(n))
    return f'(call trace-printk "{fmt}"' + "".join(f" {g.u64(d)}" for _ in range(n)) + ")"


def _call(g: Gen, d: int) -> str:
    name = g.rng.choice(g.helpers())
    h = T.BPF_HELPERS[name]
    args = []
    for a in h.args:
        if a.startswith("map:"):
            args.append("st" if "stack" in a else "dev")
        else:
            args.append(g.u64(d) if d > 0 else str(g.rng.choice(U64_SAMPLES)))
    return f"(call {name}" + "".join(" " + a for a in args) + ")"


def _load(g: Gen, d: int, computed: bool) -> str:
    op = g.rng.choice(list(T.LOADS))
    off = g.u64(d) if computed else str(g.rng.choice([0, 1, 6, 12, 13, 14, 16, 23, 30, 34, 40]))
    return f"({op} ctx {off})"


def _accessor(g: Gen, d: int) -> str:
    names = [n for n, (_, eth) in T.ACCESSORS.items() if (g.facts.has_ethernet or not eth)
             and n not in T.ACCESSOR_BYTES]
    return f"({g.rng.choice(names)} ctx)"


def _ctx_field(g: Gen, d: int) -> str:
    return f"(ctx-field ctx {g.rng.choice(list(T.CONTEXT_FIELDS[g.facts.context][1]))})"


def _arith(g: Gen, d: int) -> str:
    op = g.rng.choice(["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"])
    n = g.rng.randint(2, 3) if op in "+*&|^" else 2
    return f"({op}" + "".join(" " + g.u64(d) for _ in range(n)) + ")"


def _if(g: Gen, d: int, ty: str) -> str:
    sub = g.u64 if ty == "u64" else g.boolean
    return f"(if {g.boolean(d)} {sub(d)} {sub(d)})"


def _get(g: Gen, d: int) -> str:
    struct = g.rng.choice(["vv", "vv", "kk", "ev"])
    names = [n for n, t in STRUCTS[struct] if t != "bytes:16"]
    return f"(get {g.rec(struct, d)} {g.rng.choice(names)})"


def _set_field(g: Gen, d: int) -> str:
    name = g.rng.choice(g.vars("rec:vv"))
    f, _ = g.rng.choice(STRUCTS["vv"])
    return f"(set {name} {f} {g.u64(d)})"


def _early_return(g: Gen, d: int) -> str:
    if g.kind in RANGE_LIMITED or g.rng.random() < 0.7:
        return f"(when {g.boolean(d)} (return {g.action()}))"
    return f"(when {g.boolean(d)} (return {g.u64(d)}))"


def _let_value(g: Gen, d: int) -> str:
    v = g.u64(d)
    g.scopes.append({})
    name = g.fresh("u64")
    out = f"(let (({name} {v})) {g.stmt(d)} (+ {name} {g.u64(d)}))"
    g.scopes.pop()
    return out


def _for(g: Gen, d: int) -> str:
    """`(for (i N) …)` or `(for (i FROM TO) …)`, one level deep (the limits stay far)."""
    bound = g.rng.choice([f"{g.rng.randint(1, 8)}", f"{g.rng.randint(0, 3)} {g.rng.randint(4, 9)}"])
    g.scopes.append({})
    g.loops += 1
    var = g.fresh("loop")
    body = " ".join(g.stmt(d) for _ in range(g.rng.randint(1, 2)))
    g.loops -= 1
    g.scopes.pop()
    return f"(for ({var} {bound}) {body})"


def _setter(g: Gen, d: int) -> str:
    names = [n for n, st in T.SETTERS.items() if g.facts.has_ethernet or not st.needs_eth]
    name = g.rng.choice(names)
    bits = T.SETTERS[name].bits
    return f"({name} ctx{f' (& {g.u64(d)} {2 ** bits - 1})' if bits else ''})"


def _lit(g: Gen, d: int) -> str:
    r = g.rng.random()
    if r < 0.05:
        return g.rng.choice(["(<< 1 63)", "(- 0 1)"])  # 2**63, 2**64 - 1
    return str(g.rng.choice(U64_SAMPLES) if r < 0.7 else g.rng.randrange(2**63))


FORMS: list[Form] = [
    # numbers
    Form("int", "u64", _lit, leaf=True, weight=3),
    Form("var", "u64", lambda g, d: g.rng.choice(g.vars("u64") + g.vars("act") + g.vars("loop")),
         when=lambda g: bool(g.vars("u64") + g.vars("act") + g.vars("loop")), leaf=True,
         weight=3),
    Form("action-value", "u64", lambda g, d: g.action(), leaf=True),
    Form("arith", "u64", _arith, weight=3),
    Form("bswap", "u64", lambda g, d: f"({g.rng.choice(list(T.BSWAP))} {g.u64(d)})"),
    Form("if-u64", "u64", lambda g, d: _if(g, d, "u64")),
    Form("let-value", "u64", _let_value, weight=0.5),
    Form("do-value", "u64", lambda g, d: f"(do {g.stmt(d)} {g.u64(d)})", weight=0.5),
    Form("map-get", "u64", lambda g, d: f"(map-get {(m := g.rng.choice([*SCALAR_MAPS, 'rs']))} "
         f"{g.key(m, d)})"),
    Form("get", "u64", _get),
    Form("call", "u64", _call, weight=1.5),
    Form("global", "u64", lambda g, d: f"(global {g.rng.choice(list(GLOBALS))})", leaf=True),
    Form("packet-len", "u64", lambda g, d: "(packet-len ctx)",
         when=lambda g: g.packet or g.skb_loads, leaf=True),
    Form("accessor", "u64", _accessor, when=lambda g: g.packet, leaf=True, weight=2),
    Form("load-const", "u64", lambda g, d: _load(g, d, False),
         when=lambda g: g.packet or g.skb_loads, leaf=True, weight=1.5),
    Form("load-computed", "u64", lambda g, d: _load(g, d, True),
         when=lambda g: g.packet or g.skb_loads, weight=1.5),
    Form("ctx-field", "u64", _ctx_field, when=lambda g: g.facts.context in T.CONTEXT_FIELDS,
         leaf=True),
    Form("tp-field", "u64", lambda g, d: f"(tp-field ctx tpargs {g.rng.choice(['nr', 'a'])})",
         when=lambda g: g.kind == ":tracepoint", leaf=True),
    Form("task-field", "u64", lambda g, d: f"(task-field {g.rng.choice(list(T.TASK_FIELDS))}"
         + (" (task-field real-parent))" if g.rng.random() < 0.3 else ")"),
         when=lambda g: "probe-read-kernel-u64" in g.helpers(), leaf=True),
    Form("helper-fn", "u64", lambda g, d: f"(g-add3 {g.u64(d)} {g.u64(d)} {g.u64(d)})"),
    Form("helper-fn-ctx", "u64", lambda g, d: f"(g-ctx ctx {g.u64(d)})"),
    Form("helper-fn-exit", "u64", lambda g, d: f"(g-exit {g.u64(d)})"),
    # tests
    Form("bool", "bool", lambda g, d: g.rng.choice(["#t", "#f"]), leaf=True),
    Form("var-bool", "bool", lambda g, d: g.rng.choice(g.vars("bool")),
         when=lambda g: bool(g.vars("bool")), leaf=True),
    Form("compare", "bool", lambda g, d: f"({g.rng.choice(list(T.COMPARE))} {g.u64(d)} "
         f"{g.u64(d)})", weight=3),
    Form("logic", "bool", lambda g, d: f"({g.rng.choice(['and', 'or'])}"
         + "".join(" " + g.boolean(d) for _ in range(g.rng.randint(2, 3))) + ")"),
    Form("not", "bool", lambda g, d: f"(not {g.boolean(d)})"),
    Form("if-bool", "bool", lambda g, d: _if(g, d, "bool"), weight=0.5),
    Form("map-has", "bool", lambda g, d: f"(map-has {(m := g.rng.choice([*SCALAR_MAPS, 'rk']))}"
         f" {g.key(m, d)})"),
    Form("helper-fn-pred", "bool", lambda g, d: f"(g-pred {g.u64(d)})"),
    # statements
    Form("map-set", "stmt", _map_set, leaf=True, weight=2),
    Form("map-add", "stmt", _map_add, leaf=True, weight=2),
    Form("map-delete", "stmt", lambda g, d: f"(map-delete {(m := g.rng.choice(sorted(HASHES)))}"
         f" {g.key(m, d)})", leaf=True),
    Form("when", "stmt", _when, weight=1.5),
    Form("if-stmt", "stmt", lambda g, d: f"(if {g.boolean(d)} {g.stmt(d)} {g.stmt(d)})"),
    Form("do", "stmt", lambda g, d: f"(do {g.stmt(d)} {g.stmt(d)})", weight=0.5),
    Form("let", "stmt", _let, weight=1.5),
    Form("set", "stmt", _set_var, when=lambda g: bool(g.vars("u64") + g.vars("bool")
                                                       + g.vars("act")), weight=1.5),
    Form("set-field", "stmt", _set_field, when=lambda g: bool(g.vars("rec:vv"))),
    Form("emit", "stmt", _emit),
    Form("trace-printk", "stmt", _printk, weight=0.5),
    Form("value-as-stmt", "stmt", lambda g, d: g.u64(d), weight=0.5),
    Form("early-return", "stmt", _early_return),
    Form("for", "stmt", _for, when=lambda g: g.loops == 0, weight=0.7),
    Form("break", "stmt", lambda g, d: f"(when {g.boolean(d)} ({g.rng.choice(['break', 'continue'])}))",
         when=lambda g: g.loops > 0, leaf=True),
    Form("store", "stmt", lambda g, d: f"({(op := g.rng.choice(list(T.STORES)))} ctx "
         f"{g.rng.choice([str(g.rng.randint(0, 60)), g.u64(d)])} "
         f"(& {g.u64(d)} {2 ** T.STORES[op][1] - 1}))",
         when=lambda g: g.writable, leaf=True, weight=0.7),
    Form("setter", "stmt", _setter, when=lambda g: g.writable, leaf=True, weight=0.7),
    Form("helper-fn-stmt", "stmt", lambda g, d: f"(g-count {g.u64(d)})", leaf=True),
]
# forms reached through Gen.rec, not a row of their own
EXTRA_COVERAGE = ("record", "map-get-record")


def helper_fns(kind: str) -> str:
    """The helper bpf-fns a kind's file offers (inlined at each call)."""
    k = PROGRAM_KINDS[kind]
    ctx_val = "(packet-len c)" if k.packet_base is not None or k.context == "SkBuffContext" \
        else "(call ktime-ns)"
    act = ":" + next(iter(k.actions))
    return (f"(bpf-fn g-add3 (a b c) (+ a b c))\n"
            f"(bpf-fn g-pred (x) (or (= x 1) (> x 100)))\n"
            f"(bpf-fn g-count (k) (map-incr cnt k))\n"
            f"(bpf-fn g-ctx (c x) (+ x {ctx_val}))\n"
            f"(bpf-fn g-exit (x) (when (= x 3) (return {act})) (* x 2))\n")


def declarations() -> str:
    out = []
    for name, fields in STRUCTS.items():
        fs = " ".join(f"({n} {'(:bytes ' + t[6:] + ')' if t.startswith('bytes:') else ':' + t})"
                      for n, t in fields)
        out.append(f'(defbpf-struct :name "{name}" :fields ({fs}))')
    for name, (kind, ks, vs) in SCALAR_MAPS.items():
        out.append(f'(defbpf-map :name "{name}" :kind {kind} :key-size {ks} :value-size {vs} '
                   ":max-entries 64)")
    for name, (kind, ks, vs, extra) in RECORD_MAPS.items():
        out.append(f'(defbpf-map :name "{name}" :kind {kind} :key-size {ks} :value-size {vs} '
                   f":max-entries 64 {extra})")
    for name, (kind, ks, vs, extra, n) in OTHER_MAPS.items():
        out.append(f'(defbpf-map :name "{name}" :kind {kind} :key-size {ks} :value-size {vs} '
                   f":max-entries {n} {extra})")
    for name, (ty, default) in GLOBALS.items():
        out.append(f'(defbpf-global :name "{name}" :type :{ty} :default {default})')
    return "\n".join(out) + "\n"


@dataclass
class Generated:
    files: dict[str, str]  # file name -> text
    programs: dict[str, str]  # program name -> kind
    policies: dict[str, list[str]]  # policy -> its programs
    used: dict[str, int]
    bodies: dict[str, str] = field(default_factory=dict)  # program name -> its bpf-fn text


def project_files(seed: int, count: int, per_policy: int = 150, kinds: list[str] | None = None,
                  depth: int = 3) -> Generated:
    """`count` random programs over `kinds` (round robin), `per_policy` to a crate."""
    rng = random.Random(seed)
    kinds = kinds or KINDS
    used: dict[str, int] = {}
    per_kind: dict[str, list[str]] = {k: [] for k in kinds}
    programs: dict[str, str] = {}
    bodies: dict[str, str] = {}
    maps = " ".join(f'"{m}"' for m in _all_maps())
    for i in range(count):
        kind = kinds[i % len(kinds)]
        g = Gen(rng, kind, used=used)
        name = f"p{i}"
        programs[name] = kind
        file = f"k_{kind[1:].replace('-', '_')}.tlisp"
        bodies[name] = f"(bpf-fn f{i} (ctx)\n  {g.body(depth)})\n"
        per_kind[kind].append(
            f'(defbpf-program :name "{name}" :kind {kind} :attach {ATTACH[kind]} '
            f':source "{file}:f{i}" :uses-maps ({maps}))\n' + bodies[name])
    files = {f"k_{k[1:].replace('-', '_')}.tlisp": helper_fns(k) + "".join(v)
             for k, v in per_kind.items() if v}
    names = list(programs)
    policies = {f"gen{j}": names[j * per_policy:(j + 1) * per_policy]
                for j in range((len(names) + per_policy - 1) // per_policy)}
    files["main.tlisp"] = declarations() + "".join(
        f'(defbpf-policy :name "{pol}" :description "generated bodies" :programs ('
        + " ".join(f'"{p}"' for p in progs) + f") :maps ({maps}))\n"
        for pol, progs in policies.items())
    return Generated(files, programs, policies, used, bodies)


def subset_files(gen: Generated, names: list[str]) -> dict[str, str]:
    """A project of only the named programs of `gen` (one policy, `once`): a body the
    property test found is rebuilt alone, as a regression test."""
    maps = " ".join(f'"{m}"' for m in _all_maps())
    per_kind: dict[str, list[str]] = {}
    for name in names:
        kind = gen.programs[name]
        file = f"k_{kind[1:].replace('-', '_')}.tlisp"
        fn = gen.bodies[name].split()[1]
        per_kind.setdefault(kind, []).append(
            f'(defbpf-program :name "{name}" :kind {kind} :attach {ATTACH[kind]} '
            f':source "{file}:{fn}" :uses-maps ({maps}))\n' + gen.bodies[name])
    files = {f"k_{k[1:].replace('-', '_')}.tlisp": helper_fns(k) + "".join(v)
             for k, v in per_kind.items()}
    files["main.tlisp"] = declarations() + (
        '(defbpf-policy :name "once" :description "bodies the verifier once refused" '
        ":programs (" + " ".join(f'"{n}"' for n in names) + f") :maps ({maps}))\n")
    return files
