"""The seed policy check, with upstream's exact messages, plus what rendering needs."""

from __future__ import annotations

from collections.abc import Iterable

from tatara_build.diagnostics import Diagnostic, error, warning
from tatara_build.model.suggest import suggest
from tatara_build.validate.context import Context


def seed_check(ctx: Context) -> Iterable[Diagnostic]:
    """Upstream BpfPolicySpec::validate, message for message, in the same order."""
    p = ctx.project
    map_names = [m.spec.name for m in p.maps]
    for pol in p.policies:
        name = pol.spec.name
        for i, prog_name in enumerate(pol.spec.programs):
            prog = p.program(prog_name)
            if prog is None and prog_name in p.broken:
                continue
            if prog is None:
                hint = suggest(prog_name, [x.spec.name for x in p.programs])
                yield error(f"policy `{name}`: program `{prog_name}` not declared",
                            pol.span(f"programs[{i}]"), f"did you mean `{hint}`?" if hint else None)
                continue
            for j, m in enumerate(prog.spec.uses_maps):
                if m not in pol.spec.maps:
                    yield error(f"policy `{name}`: program `{prog_name}` uses map `{m}`, "
                                "but the policy doesn't declare it", prog.span(f"uses_maps[{j}]"),
                                f"add \"{m}\" to the :maps of policy `{name}`")
                if m not in map_names and m not in p.broken:
                    hint = suggest(m, map_names)
                    yield error(f"policy `{name}`: program `{prog_name}` uses map `{m}`, "
                                "which has no BpfMapSpec", prog.span(f"uses_maps[{j}]"),
                                f"did you mean `{hint}`?" if hint
                                else f"declare (defbpf-map :name \"{m}\" ...)")


def policy_maps_exist(ctx: Context) -> Iterable[Diagnostic]:
    """Extension: a map the policy lists must exist, since its crate defines it."""
    p = ctx.project
    names = [m.spec.name for m in p.maps]
    for pol in p.policies:
        for i, m in enumerate(pol.spec.maps):
            if m not in names and m not in p.broken:
                hint = suggest(m, names)
                yield error(f"policy `{pol.spec.name}`: map `{m}` has no BpfMapSpec",
                            pol.span(f"maps[{i}]"), f"did you mean `{hint}`?" if hint else None)


def duplicates_in_lists(ctx: Context) -> Iterable[Diagnostic]:
    for pol in ctx.project.policies:
        for field in ("programs", "maps"):
            seen: set[str] = set()
            for i, n in enumerate(getattr(pol.spec, field)):
                if n in seen:
                    yield error(f"policy `{pol.spec.name}` lists `{n}` twice in :{field}",
                                pol.span(f"{field}[{i}]"))
                seen.add(n)


def empty_policy(ctx: Context) -> Iterable[Diagnostic]:
    for pol in ctx.project.policies:
        if not pol.spec.programs:
            yield warning(f"policy `{pol.spec.name}` has no programs", pol.span("name"))


def orphan_uses(ctx: Context) -> Iterable[Diagnostic]:
    """A program outside every policy still must name maps that exist."""
    p = ctx.project
    in_policy = {n for pol in p.policies for n in pol.spec.programs}
    names = {m.spec.name for m in p.maps}
    for prog in p.programs:
        if prog.spec.name in in_policy:
            continue
        for j, m in enumerate(prog.spec.uses_maps):
            if m not in names:
                yield error(f"program `{prog.spec.name}` uses map `{m}`, which has no BpfMapSpec",
                            prog.span(f"uses_maps[{j}]"))


RULES = [seed_check, policy_maps_exist, duplicates_in_lists, empty_policy, orphan_uses]
