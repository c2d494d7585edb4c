"""defbpf-struct rules: names, fields, and the maps that use a record as key or value."""

from __future__ import annotations

from collections.abc import Iterable

from tatara_build.diagnostics import Diagnostic, error
from tatara_build.lower.naming import identifier_problem
from tatara_build.model.kinds import MAP_KINDS
from tatara_build.model.records import layout, rust_name
from tatara_build.model.suggest import suggest
from tatara_build.validate.context import Context


def struct_rules(ctx: Context) -> Iterable[Diagnostic]:
    seen: dict[str, str] = {}
    for s in ctx.project.structs:
        problem = identifier_problem(s.spec.name)
        if problem:
            yield error(f"struct `{s.spec.name}`: name {problem}", s.span("name"))
        rust = rust_name(s.spec.name)
        if rust in seen and seen[rust] != s.spec.name:
            yield error(f"struct `{s.spec.name}` and `{seen[rust]}` both become Rust type "
                        f"`{rust}`", s.span("name"), "rename one of them")
        elif rust in seen:
            yield error(f"struct `{s.spec.name}` is defined twice", s.span("name"))
        seen[rust] = s.spec.name
        names: set[str] = set()
        for i, f in enumerate(s.spec.fields):
            problem = identifier_problem(f.name)
            if problem or f.name.replace("-", "_") in names:
                why = f"name {problem}" if problem else "is declared twice"
                yield error(f"struct `{s.spec.name}`: field `{f.name}` {why}", s.span(f"fields[{i}]"))
            names.add(f.name.replace("-", "_"))


def map_record_rules(ctx: Context) -> Iterable[Diagnostic]:
    for m in ctx.project.maps:
        spec = m.spec
        kind = MAP_KINDS.get(spec.kind)
        if kind is None:
            continue
        for role in ("key", "value"):
            name = getattr(spec, f"{role}_struct")
            if name is None:
                continue
            span = m.span(f"{role}_struct")
            s = ctx.project.struct(name)
            if s is None:
                hint = suggest(name, [x.spec.name for x in ctx.project.structs])
                yield error(f"map `{spec.name}`: unknown struct `{name}`", span,
                            f"did you mean `{hint}`?" if hint else "declare it with defbpf-struct")
                continue
            size = layout(s.spec).size
            if role == "key" and (not kind.keyed or kind.array):
                yield error(f"map `{spec.name}`: a `{spec.kind}` map has no record keys", span)
            elif not kind.keyed and not kind.streamed:
                yield error(f"map `{spec.name}`: a `{spec.kind}` map holds no records", span)
            elif kind.keyed and getattr(spec, f"{role}_size") != size:
                yield error(f"map `{spec.name}`: {role}_size {getattr(spec, f'{role}_size')} but "
                            f"struct `{name}` is {size} bytes", m.span(f"{role}_size") or span,
                            f"set :{role}-size ({role}_size in TOML/JSON) to {size}")


RULES = [struct_rules, map_record_rules]
