"""defbpf-global rules: a valid identifier (it is an ELF symbol and a Rust static), declared
once, and no clash with a map or program of the same generated name (every crate declares
every global beside its maps and program functions)."""

from __future__ import annotations

from collections.abc import Iterable

from tatara_build.diagnostics import Diagnostic, error
from tatara_build.lower.naming import identifier_problem, snake
from tatara_build.validate.context import Context

RESERVED = {"license": "the crate's LICENSE static"}


def global_rules(ctx: Context) -> Iterable[Diagnostic]:
    p = ctx.project
    taken = {snake(m.spec.name): f"map `{m.spec.name}`" for m in p.maps}
    taken |= {snake(x.spec.name): f"program `{x.spec.name}`" for x in p.programs}
    seen: dict[str, object] = {}
    for g in p.globals:
        name, key = g.spec.name, snake(g.spec.name)
        problem = identifier_problem(name)
        if problem:
            yield error(f"global name `{name}` {problem}", g.span("name"),
                        "a global becomes an ELF symbol and a Rust static")
            continue
        if key in seen:
            yield error(f"global `{name}` is declared twice", g.span("name"),
                        f"first declared at {seen[key].span('name')}")  # type: ignore[attr-defined]
            continue
        seen[key] = g
        clash = taken.get(key) or RESERVED.get(key.lower())
        if clash:
            yield error(f"global `{name}` has the same symbol `{key}` as {clash}",
                        g.span("name"), "rename the global")


RULES = [global_rules]
