"""The seed policy check, with upstream's exact messages, plus what rendering needs."""

from __future__ import annotations

from collections.abc import Iterable

from tatara_build.diagnostics import Diagnostic, error, warning
from tatara_build.model.ir import ident
from tatara_build.model.suggest import suggest
from tatara_build.validate.context import Context


def seed_check(ctx: Context) -> Iterable[Diagnostic]:
    """Upstream BpfPolicySpec::validate, message for message, in the same order."""
    p = ctx.project
    map_names = [m.spec.name for m in p.maps]
    map_ids, broken = _ids(map_names), _ids(p.broken)
    for pol in p.policies:
        name, pol_maps = pol.spec.name, _ids(pol.spec.maps)
        for i, prog_name in enumerate(pol.spec.programs):
            prog = p.program(prog_name)
            if prog is None and ident(prog_name) in broken:
                continue
            if prog is None:
                hint = suggest(prog_name, [x.spec.name for x in p.programs])
                yield error(f"policy `{name}`: program `{prog_name}` not declared",
                            pol.span(f"programs[{i}]"), f"did you mean `{hint}`?" if hint else None)
                continue
            for j, m in enumerate(prog.spec.uses_maps):
                if ident(m) not in pol_maps:
                    yield error(f"policy `{name}`: program `{prog_name}` uses map `{m}`, "
                                "but the policy doesn't declare it", prog.span(f"uses_maps[{j}]"),
                                f"add \"{m}\" to the :maps of policy `{name}`")
                if ident(m) not in map_ids | broken:
                    hint = suggest(m, map_names)
                    yield error(f"policy `{name}`: program `{prog_name}` uses map `{m}`, "
                                "which has no BpfMapSpec", prog.span(f"uses_maps[{j}]"),
                                f"did you mean `{hint}`?" if hint
                                else f"declare (defbpf-map :name \"{m}\" ...)")


def policy_maps_exist(ctx: Context) -> Iterable[Diagnostic]:
    """Extension: a map the policy lists must exist, since its crate defines it."""
    p = ctx.project
    names = [m.spec.name for m in p.maps]
    known = _ids(names) | _ids(p.broken)
    for pol in p.policies:
        for i, m in enumerate(pol.spec.maps):
            if ident(m) not in known:
                hint = suggest(m, names)
                yield error(f"policy `{pol.spec.name}`: map `{m}` has no BpfMapSpec",
                            pol.span(f"maps[{i}]"), f"did you mean `{hint}`?" if hint else None)


def duplicates_in_lists(ctx: Context) -> Iterable[Diagnostic]:
    for pol in ctx.project.policies:
        for field in ("programs", "maps"):
            seen: set[str] = set()
            for i, n in enumerate(getattr(pol.spec, field)):
                if ident(n) in seen:
                    yield error(f"policy `{pol.spec.name}` lists `{n}` twice in :{field}",
                                pol.span(f"{field}[{i}]"))
                seen.add(ident(n))


def empty_policy(ctx: Context) -> Iterable[Diagnostic]:
    for pol in ctx.project.policies:
        if not pol.spec.programs:
            yield warning(f"policy `{pol.spec.name}` has no programs", pol.span("name"))


def orphan_uses(ctx: Context) -> Iterable[Diagnostic]:
    """A program outside every policy still must name maps that exist."""
    p = ctx.project
    in_policy = {ident(n) for pol in p.policies for n in pol.spec.programs}
    names = _ids(m.spec.name for m in p.maps) | _ids(p.broken)
    for prog in p.programs:
        if ident(prog.spec.name) in in_policy:
            continue
        for j, m in enumerate(prog.spec.uses_maps):
            if ident(m) not in names:
                yield error(f"program `{prog.spec.name}` uses map `{m}`, which has no BpfMapSpec",
                            prog.span(f"uses_maps[{j}]"))


def _ids(names) -> set[str]:
    return {ident(n) for n in names}


RULES = [seed_check, policy_maps_exist, duplicates_in_lists, empty_policy, orphan_uses]
