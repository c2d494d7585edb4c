"""Map rules per kind, as the kernel accepts them (what `bpftool map create` takes here)."""

from __future__ import annotations

from collections.abc import Iterable

from tatara_build.diagnostics import Diagnostic, error, note
from tatara_build.model.kinds import (
    LPM_MAX_KEY,
    MAP_KINDS,
    MAX_VALUE_SIZE,
    PAGE_SIZE,
    STACK_TRACE_MAX_VALUE,
    ring_bytes,
)
from tatara_build.model.sources import classify
from tatara_build.validate.context import Context

PER_CPU_VALUE_MAX = 32768  # PCPU_MIN_UNIT_SIZE
HASH_KEY_MAX = 512  # MAX_BPF_STACK
RING_MAX = 1 << 31  # the largest power-of-two ring buffer size a u32 max_entries holds


def _key(kind, key: int) -> str | None:
    rule = kind.key_rule
    if rule == "4" and key != 4:
        return f"key_size must be 4 for `{kind.wire}` (a u32 index), got {key}"
    if rule == "0" and key != 0:
        return f"key_size must be 0 for `{kind.wire}`, got {key}"
    if rule == "0|4" and key not in (0, 4):
        return f"key_size must be 0 or 4 for `{kind.wire}` (a u32 CPU index), got {key}"
    if rule == ">0" and not 0 < key <= HASH_KEY_MAX:
        return f"key_size must be 1..={HASH_KEY_MAX} for `{kind.wire}`, got {key}"
    if rule == ">=5" and not 5 <= key <= LPM_MAX_KEY:
        return (f"key_size must be 5..={LPM_MAX_KEY} for `{kind.wire}` (4-byte prefix length + "
                f"data), got {key}")
    return None


def _value(kind, value: int) -> str | None:
    rule = kind.value_rule
    if rule == "0" and value != 0:
        return f"value_size must be 0 for `{kind.wire}`, got {value}"
    if rule == "4" and value != 4:
        return f"value_size must be 4 for `{kind.wire}`, got {value}"
    if rule == "4|8" and value not in (4, 8):
        return (f"value_size must be 4 or 8 for `{kind.wire}` (a handle, optionally with a "
                f"program fd), got {value}")
    if rule == "x8" and (value == 0 or value % 8 or value > STACK_TRACE_MAX_VALUE):
        return (f"value_size must be a multiple of 8 in 8..={STACK_TRACE_MAX_VALUE} for "
                f"`{kind.wire}` (8 bytes per frame), got {value}")
    if rule == ">0":
        limit = PER_CPU_VALUE_MAX if kind.per_cpu else MAX_VALUE_SIZE
        if not 0 < value <= limit:
            return f"value_size must be 1..={limit} for `{kind.wire}`, got {value}"
    return None


def _entries(kind, entries: int) -> str | None:
    rule = kind.entries_rule
    if rule == ">0" and entries == 0:
        return f"max_entries must be > 0 for `{kind.wire}`"
    if rule == "pow2-page" and (entries < PAGE_SIZE or entries % PAGE_SIZE
                                or entries & (entries - 1)):
        return (f"max_entries of `{kind.wire}` is its byte size and must be a power-of-two "
                f"multiple of {PAGE_SIZE}, got {entries}")
    if rule == "page-up" and entries == 0:
        return f"max_entries of `{kind.wire}` is its byte size and must be > 0"
    if rule == "page-up" and ring_bytes(entries) > RING_MAX:
        return (f"max_entries of `{kind.wire}` is its byte size, at most {RING_MAX} (a "
                f"power of two in a u32), got {entries}")
    return None


def _rounding(kind, entries: int) -> str | None:
    """The seed's note: a ring buffer's byte size is rounded up to a page (here: to a
    power-of-two multiple of one, which is what the kernel takes)."""
    if kind.entries_rule != "page-up" or not entries or ring_bytes(entries) == entries:
        return None
    return (f"max_entries {entries} of `{kind.wire}` is rounded up to {ring_bytes(entries)} "
            f"bytes (a power-of-two multiple of the {PAGE_SIZE}-byte page)")


def size_rules(ctx: Context) -> Iterable[Diagnostic]:
    for m in ctx.project.maps:
        s = m.spec
        kind = MAP_KINDS[s.kind]
        for field, problem in (("key_size", _key(kind, s.key_size)),
                               ("value_size", _value(kind, s.value_size)),
                               ("max_entries", _entries(kind, s.max_entries))):
            if problem:
                yield error(f"map `{s.name}`: {problem}", m.span(field) or m.span("kind"))
        rounded = _rounding(kind, s.max_entries)
        if rounded and not _entries(kind, s.max_entries):
            yield note(f"map `{s.name}`: {rounded}", m.span("max_entries") or m.span("kind"))


def aya_rules(ctx: Context) -> Iterable[Diagnostic]:
    """Maps of a policy that renders an aya crate must have an aya-ebpf 0.2.1 btf_maps type
    (model/kinds.py `aya_type`, `aya_value`); carried C objects may use any kind."""
    rendered: set[str] = set()
    for pol in ctx.project.policies:
        progs = [ctx.project.program(n) for n in pol.spec.programs]
        if any(p and (src := classify(p.spec.source)) and src.shape != "object" for p in progs):
            rendered.update(pol.spec.maps)
    for m in ctx.project.maps:
        s, kind = m.spec, MAP_KINDS[m.spec.kind]
        if s.name not in rendered:
            continue
        if not kind.aya_type:
            yield error(f"map `{s.name}`: `{kind.wire}` cannot be rendered into an aya crate "
                        "(aya-ebpf 0.2.1 declares a map of maps with the inner map's type, "
                        "which a spec cannot state)", m.span("kind"),
                        "use it from a carried C object (.bpf.o) only")
        elif kind.aya_value and s.value_size != kind.aya_value:
            yield error(f"map `{s.name}`: aya-ebpf 0.2.1's {kind.aya_type} has a "
                        f"{kind.aya_value}-byte value, got value_size {s.value_size}",
                        m.span("value_size") or m.span("kind"),
                        f"set value_size {kind.aya_value}, or carry a C object")


RULES = [size_rules, aya_rules]
