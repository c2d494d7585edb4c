"""defbpf-test rules: the program exists and can be test-run, the action belongs to its
kind, the maps are the program's policy's, keys and values fit, the packet is coherent."""

from __future__ import annotations

from collections.abc import Iterable

from tatara_build.diagnostics import Diagnostic, error
from tatara_build.model import records
from tatara_build.model.ir import ident
from tatara_build.model.kinds import PROGRAM_KINDS, actions_of, runnable_kinds
from tatara_build.model.suggest import suggest
from tatara_build.validate.context import Context


def test_rules(ctx: Context) -> Iterable[Diagnostic]:
    p = ctx.project
    seen: set[str] = set()
    for t in p.tests:
        s = t.spec
        if s.name in seen:
            yield error(f"test `{s.name}` is declared twice", t.span("name"))
        seen.add(s.name)
        prog = p.program(s.program)
        if prog is None:
            hint = suggest(s.program, [x.spec.name for x in p.programs])
            yield error(f"test `{s.name}`: no program `{s.program}`", t.span("program"),
                        f"did you mean `{hint}`?" if hint else None)
            continue
        kind = prog.spec.kind
        if not PROGRAM_KINDS[kind].test_run:
            runnable = ", ".join(k.removeprefix(":") for k in runnable_kinds())
            yield error(f"test `{s.name}`: `{kind}` programs cannot be test-run "
                        f"(BPF_PROG_TEST_RUN takes packets: {runnable})",
                        t.span("program"))
        if isinstance(s.expect, str):
            action = s.expect.removeprefix(":")
            actions = actions_of(PROGRAM_KINDS[kind])
            if action not in actions:
                yield error(f"test `{s.name}`: `{s.expect}` is not an action of `{kind}` "
                            f"(allowed: {', '.join(':' + a for a in actions)})",
                            t.span("expect"))
        yield from _maps(ctx, t, prog)
        yield from _packet(t)


def _maps(ctx: Context, t, prog) -> Iterable[Diagnostic]:
    p = ctx.project
    policies = p.policies_of(prog.spec.name)
    if not policies:
        yield error(f"test `{t.spec.name}`: program `{prog.spec.name}` is in no policy, so it is "
                    "never built", t.span("program"))
        return
    allowed = {ident(n) for n in policies[0].spec.maps}
    for field in ("maps_before", "maps_after"):
        for e in getattr(t.spec, field):
            m = p.map(e.map)
            if m is None or ident(e.map) not in allowed:
                yield error(f"test `{t.spec.name}`: map `{e.map}` is not a map of policy "
                            f"`{policies[0].spec.name}`", t.span(field))
                continue
            for what, val, size in (("key", e.key, m.spec.key_size),
                                    ("value", e.value, m.spec.value_size)):
                problem = _record_fits(p, m.spec, what, val) if isinstance(val, dict) \
                    else _fits(val, size)
                if problem:
                    yield error(f"test `{t.spec.name}`: {what} of `{e.map}` {problem}", t.span(field))


def _record_fits(p, m, what: str, val: dict) -> str | None:
    """A record given by field: the map must have a struct there, the fields must fit it."""
    name = getattr(m, f"{what}_struct")
    s = p.struct(name) if name else None
    if s is None:
        return f"is given by field, but the map has no :{what}-struct"
    try:
        records.encode(s.spec, val)
    except ValueError as exc:
        return str(exc)
    return None


def _fits(val: int | str, size: int) -> str | None:
    if isinstance(val, int):  # bit_length, not 1 << 8*size: sizes reach 2**32 - 1
        return None if val >= 0 and val.bit_length() <= 8 * size \
            else f"{val} does not fit in {size} bytes"
    if not val.startswith("hex:"):
        return f"`{val}` is neither an integer nor hex:.."
    try:
        n = len(bytes.fromhex(val[4:]))
    except ValueError:
        return f"`{val}` is not hex (two digits per byte)"
    return None if n == size else f"has {n} bytes, the map's size is {size}"


def _packet(t) -> Iterable[Diagnostic]:
    pk = t.spec.packet
    if pk.hex is not None and (pk.ipv4 or pk.ipv6 or pk.tcp or pk.udp or pk.eth or pk.payload):
        yield error(f"test `{t.spec.name}`: :hex gives the whole packet; drop the other layers",
                    t.span("packet"))
    if pk.ipv4 and pk.ipv6:
        yield error(f"test `{t.spec.name}`: a packet has :ipv4 or :ipv6, not both", t.span("packet"))
    if pk.tcp and pk.udp:
        yield error(f"test `{t.spec.name}`: a packet has :tcp or :udp, not both", t.span("packet"))
    if pk.hex is not None:
        try:
            data = bytes.fromhex(pk.hex)
        except ValueError:
            yield error(f"test `{t.spec.name}`: :hex is not hex", t.span("packet"))
            return
        if len(data) < 14:
            yield error(f"test `{t.spec.name}`: the kernel needs at least 14 bytes (an Ethernet "
                        "header) to test-run a packet", t.span("packet"))


RULES = [test_rules]
