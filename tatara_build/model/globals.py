"""`(defbpf-global ...)`: load-time configuration, a typed value with a default that the
program reads and `apply`/`test --set NAME=VALUE` overrides without a rebuild.

    (defbpf-global :name "target_port" :type :u16 :default 53
      :description "the UDP port to count")

The TOML/JSON twin is a `globals` list (`[[globals]] name = "target_port" type = "u16"
default = 53`). Each global becomes a `#[no_mangle] static` in every crate's `.rodata`
(templates/crate/globals.rs.j2), read with a volatile load so the compiler cannot fold
the default in; the loader writes the chosen value into the section of the copy it loads
(tatara_build/runtime/objglobals.py), and libbpf freezes it, so the verifier sees a
constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tatara_build.diagnostics import error
from tatara_build.errors import SpecError
from tatara_build.model.construct import FieldProblem, dump
from tatara_build.model.suggest import suggest

# type -> (size in bytes, Rust type); unsigned, as every value in the bpf-fn DSL
GLOBAL_TYPES: dict[str, tuple[int, str]] = {"u8": (1, "u8"), "u16": (2, "u16"),
                                            "u32": (4, "u32"), "u64": (8, "u64")}
GlobalType = Literal[tuple(GLOBAL_TYPES)]  # type: ignore[valid-type]


@dataclass(frozen=True, kw_only=True)
class GlobalSpec:
    name: str
    type: GlobalType
    default: int = 0
    description: str = ""

    @classmethod
    def before(cls, data: dict) -> dict:
        """`:u16` (Lisp keyword, TOML with a colon) and `u16` are the same type."""
        ty = data.get("type")
        return {**data, "type": ty.removeprefix(":")} if isinstance(ty, str) else data

    def __post_init__(self):
        problem = range_problem(self.type, self.default) if self.type in GLOBAL_TYPES else None
        if problem:
            raise FieldProblem("default", f"default {problem}")

    @property
    def size(self) -> int:
        return GLOBAL_TYPES[self.type][0]

    @property
    def rust_type(self) -> str:
        return GLOBAL_TYPES[self.type][1]

    def wire(self) -> dict:
        return dump(self)


def symbol(name: str) -> str:
    """A global's ELF symbol and Rust static: its name kebab -> snake (as lower/naming.py's
    `snake`; the model does not import the lowering)."""
    return name.replace("-", "_")


def range_problem(ty: str, value: int) -> str | None:
    """Why `value` does not fit the global type `ty`, or None."""
    top = (1 << (8 * GLOBAL_TYPES[ty][0])) - 1
    return None if 0 <= value <= top else f"{value} is out of {ty} range (0..={top})"


def parse_sets(sets: list[str], globals_: list) -> dict[str, int]:
    """`--set NAME=VALUE` arguments -> {global's symbol name: value}, each checked against
    its declaration (Located[GlobalSpec]); errors name the argument and the declaration."""
    by_name = {symbol(g.spec.name): g for g in globals_}
    out: dict[str, int] = {}
    for arg in sets:
        name, eq, text = arg.partition("=")
        name = symbol(name.strip())
        if not eq or not name:
            raise SpecError(f"--set {arg}: expected NAME=VALUE (e.g. --set target_port=80)")
        g = by_name.get(name)
        if g is None:
            known = ", ".join(sorted(by_name)) or "none declared"
            hint = suggest(name, list(by_name))
            raise SpecError(f"--set {arg}: no global `{name}` (globals: {known})"
                            + (f"; did you mean `{hint}`?" if hint else ""))
        try:
            value = int(text.strip().replace("_", ""), 0)
        except ValueError:
            raise SpecError(f"--set {arg}: `{text}` is not an integer (decimal or 0x hex)",
                            [error(f"--set {arg}: `{text}` is not an integer for {g.spec.type} "
                                   f"global `{g.spec.name}`", g.span("name"))]) from None
        problem = range_problem(g.spec.type, value)
        if problem:
            raise SpecError(f"--set {arg}: {problem}",
                            [error(f"--set {arg}: {problem} for global `{g.spec.name}`",
                                   g.span("type"), f"`{g.spec.name}` is declared {g.spec.type}")])
        if name in out:
            raise SpecError(f"--set {arg}: `{name}` is set twice")
        out[name] = value
    return out


def effective(globals_: list, overrides: dict[str, int]) -> dict[str, dict]:
    """Every global's symbol -> {type, size, default, value}: the value loaded is the
    override when `--set` gave one, else the default the object already holds."""
    out = {}
    for g in sorted(globals_, key=lambda x: symbol(x.spec.name)):
        name = symbol(g.spec.name)
        out[name] = {"type": g.spec.type, "size": g.spec.size, "default": g.spec.default,
                     "value": overrides.get(name, g.spec.default)}
    return out


def to_write(config: dict[str, dict]) -> dict[str, tuple[int, int]]:
    """The values the loader must write into the object: those that differ from it."""
    return {n: (c["value"], c["size"]) for n, c in config.items() if c["value"] != c["default"]}
