"""Names: unique per kind, valid identifiers after kebab->snake, no snake collisions,
and a warning where the kernel's 15-character object names would coincide."""

from __future__ import annotations

from collections.abc import Iterable

from tatara_build.diagnostics import Diagnostic, error, warning
from tatara_build.lower.naming import CRATE_ITEMS, identifier_problem, kernel_name, snake
from tatara_build.validate.context import Context


def _groups(ctx: Context):
    p = ctx.project
    return [("program", p.programs), ("map", p.maps), ("policy", p.policies)]


def identifiers(ctx: Context) -> Iterable[Diagnostic]:
    for what, objs in _groups(ctx):
        for o in objs:
            problem = identifier_problem(o.spec.name)
            if problem is None and what == "program" and snake(o.spec.name) in CRATE_ITEMS:
                problem = f"is taken by the generated crate's `{snake(o.spec.name)}` item"
            if problem:
                yield error(f"{what} name `{o.spec.name}` {problem}", o.span("name"),
                            "names become Rust identifiers, ELF symbols and bpffs file names")


def unique(ctx: Context) -> Iterable[Diagnostic]:
    for what, objs in _groups(ctx):
        seen: dict[str, object] = {}
        for o in objs:
            key = snake(o.spec.name)
            first = seen.get(key)
            if first is None:
                seen[key] = o
                continue
            same = first.spec.name == o.spec.name  # type: ignore[attr-defined]
            msg = (f"{what} `{o.spec.name}` is declared twice" if same else
                   f"{what} `{o.spec.name}` collides with `{first.spec.name}` "  # type: ignore[attr-defined]
                   f"(both are `{key}` in generated code)")
            yield error(msg, o.span("name"), f"first declared at {first.span('name')}")  # type: ignore[attr-defined]


def kernel_names(ctx: Context) -> Iterable[Diagnostic]:
    for what, objs in _groups(ctx)[:2]:
        seen: dict[str, object] = {}
        for o in objs:
            k = kernel_name(o.spec.name)
            first = seen.setdefault(k, o)
            if first is not o and snake(first.spec.name) != snake(o.spec.name):  # type: ignore[attr-defined]
                yield warning(
                    f"{what} `{o.spec.name}` and `{first.spec.name}` have the same kernel name "  # type: ignore[attr-defined]
                    f"`{k}` (the kernel keeps 15 characters)", o.span("name"),
                    "bpftool and `ip link` will show them alike; shorten one")


def shared_namespace(ctx: Context) -> Iterable[Diagnostic]:
    """Within one policy's crate, programs and maps share Rust's value namespace."""
    p = ctx.project
    for pol in p.policies:
        progs = {snake(n) for n in pol.spec.programs}
        for i, m in enumerate(pol.spec.maps):
            if snake(m) in progs:
                yield error(f"policy `{pol.spec.name}`: `{m}` names both a program and a map",
                            pol.span(f"maps[{i}]"), "rename the map or the program")


RULES = [identifiers, unique, kernel_names, shared_namespace]
