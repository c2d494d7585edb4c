"""The IR: frozen dataclasses matching tatara-ebpf's spec.rs field for field.

The specs arrive from three readers (Lisp, TOML, JSON) and leave as JSON Schema, JSON
and TOML. One declaration serves all of that: plain dataclasses with `annotated_types`
bounds, built from data and checked by model/construct.py (errors with field paths),
dumped in declaration order by `construct.dump`, and read by pydantic only where the
`schema` verb writes the JSON Schema (pydantic's import alone costs more than a whole
`check`: bench/bench_cli.py). Spans are not part of the models: they live beside them in
`Located`, so the wire form and the spec hash never depend on where a spec was written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Generic, Literal, TypeVar

import blake3

from tatara_build.diagnostics import Span
from tatara_build.model.construct import Ge, Le, dump
from tatara_build.model.globals import GlobalSpec
from tatara_build.model.kinds import MAP_KINDS, PROGRAM_KINDS
from tatara_build.model.records import StructSpec
from tatara_build.model.testspec import TestSpec

U32 = Annotated[int, Ge(0), Le(2**32 - 1)]

# The wire strings of the kinds table, in its order (the JSON Schema's enums follow it).
ProgramKindWire = Literal[tuple(PROGRAM_KINDS)]  # type: ignore[valid-type]
MapKindWire = Literal[tuple(MAP_KINDS)]  # type: ignore[valid-type]

ATTEST_NAMESPACE = "pleme.io/ebpf"


class ByIdent(dict):
    """A dict keyed by spec names in which any spelling finds its entry (`a-b` finds
    `a_b`): lowering resolves map names written in bpf-fn bodies through it."""

    def get(self, key, default=None):
        return super().get(self._keys().get(ident(key), key), default)

    def __contains__(self, key) -> bool:
        return ident(key) in self._keys()

    def __getitem__(self, key):
        return super().__getitem__(self._keys().get(ident(key), key))

    def _keys(self) -> dict:
        return {ident(k): k for k in self}


spec = dataclass(frozen=True, kw_only=True)  # every model class: frozen, built by keyword


class _Spec:
    def wire(self) -> dict:
        """The JSON wire form (snake_case keys, `None` as null, as upstream serde)."""
        return dump(self)


@spec
class AttachPoint(_Spec):
    """Where a program attaches: an interface, cgroup, tracepoint, symbol or hook."""

    target: str = ""
    direction: str | None = None


@spec
class ProgramSpec(_Spec):
    """One BPF program (upstream BpfProgramSpec, keyword `defbpf-program`)."""

    name: str
    kind: ProgramKindWire
    attach: AttachPoint = field(default_factory=AttachPoint)
    source: str
    license: str = "GPL"
    pin_path: str | None = None
    uses_maps: list[str] = field(default_factory=list)


@spec
class MapSpec(_Spec):
    """One BPF map (upstream BpfMapSpec, keyword `defbpf-map`)."""

    name: str
    kind: MapKindWire
    key_size: U32 = 0
    value_size: U32
    max_entries: U32
    pin_path: str | None = None
    key_struct: str | None = None  # a defbpf-struct: the key's record type (extension)
    value_struct: str | None = None  # the value's (or a ring buffer's event) record type

    def wire(self) -> dict:
        """Upstream's fields; the record extensions only when set (hashes stay upstream's)."""
        unset = {k for k in ("key_struct", "value_struct") if getattr(self, k) is None}
        return dump(self, exclude=unset)


@spec
class PolicySpec(_Spec):
    """Programs and maps applied as one unit (upstream BpfPolicySpec)."""

    name: str
    description: str
    programs: list[str] = field(default_factory=list)
    maps: list[str] = field(default_factory=list)


@spec
class ProjectWire(_Spec):
    """The file-level wire form of a TOML/JSON spec: lists of maps, programs, policies
    and packet tests."""

    maps: list[MapSpec] = field(default_factory=list)
    programs: list[ProgramSpec] = field(default_factory=list)
    policies: list[PolicySpec] = field(default_factory=list)
    tests: list[TestSpec] = field(default_factory=list)
    globals: list[GlobalSpec] = field(default_factory=list)
    structs: list[StructSpec] = field(default_factory=list)


T = TypeVar("T")


def ident(name: str) -> str:
    """The one normal form of a spec name (kebab -> snake): crate, bin, Rust item, ELF
    symbol, object and pin file names all derive from it, and every lookup uses it.

    Not injective on all strings (`a-b`, `a_b`), so validate/names.py refuses two names
    of one namespace with the same ident; on the names a valid project holds, it is."""
    return name.replace("-", "_")


@dataclass(frozen=True)
class Located(Generic[T]):
    """A spec with the file it came from and the span of the form and each field.

    `spans` keys: "" for the whole form, a field name ("kind"), a nested field
    ("attach.target") or a list item ("uses_maps[1]").
    """

    spec: T
    file: str
    spans: Mapping[str, Span] = field(default_factory=dict)

    def span(self, key: str = "") -> Span | None:
        """The most precise span known for `key`, falling back to its parents."""
        while True:
            if key in self.spans:
                return self.spans[key]
            if not key:
                return None
            key = key.rsplit(".", 1)[0] if "." in key else key.split("[")[0] if "[" in key else ""


@dataclass(frozen=True)
class BpfFnForm:
    """A `(bpf-fn name (params) body...)` form, kept as read (lowering is elsewhere)."""

    name: str
    params: tuple[str, ...]
    body: tuple  # reader Nodes
    file: str
    span: Span


@dataclass
class Project:
    """Everything read from a set of spec files, in reading order."""

    programs: list[Located[ProgramSpec]] = field(default_factory=list)
    maps: list[Located[MapSpec]] = field(default_factory=list)
    policies: list[Located[PolicySpec]] = field(default_factory=list)
    bpf_fns: dict[tuple[str, str], BpfFnForm] = field(default_factory=dict)
    tests: list[Located] = field(default_factory=list)  # Located[TestSpec]
    globals: list[Located] = field(default_factory=list)  # Located[GlobalSpec]
    structs: list[Located[StructSpec]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)  # names of forms that failed to compile
    # Lookup indexes, derived from the lists above and rebuilt when those grow (the
    # reader appends while validation already looks names up); not part of equality.
    name_index: dict[str, tuple[int, dict]] = field(default_factory=dict, repr=False,
                                                    compare=False)
    fn_index: dict = field(default_factory=dict, repr=False, compare=False)
    fn_files_tried: set[str] = field(default_factory=set, repr=False, compare=False)

    def _index(self, what: str) -> dict:
        """ident(name) -> first Located of that kind; rebuilt when the list grows.

        Lookups go through `ident`, so `edge-protection` and `edge_protection` find the
        same policy: validation refuses two names with one ident, which makes this safe."""
        objs = getattr(self, what)
        cache = self.name_index
        hit = cache.get(what)
        if hit is None or hit[0] != len(objs):
            idx: dict = {}
            for o in objs:
                idx.setdefault(ident(o.spec.name), o)
            hit = cache[what] = (len(objs), idx)
        return hit[1]

    def program(self, name: str) -> Located[ProgramSpec] | None:
        return self._index("programs").get(ident(name))

    def map(self, name: str) -> Located[MapSpec] | None:
        return self._index("maps").get(ident(name))

    def policy(self, name: str) -> Located[PolicySpec] | None:
        return self._index("policies").get(ident(name))

    def policies_of(self, program: str) -> list[Located[PolicySpec]]:
        """The policies that list `program` (any spelling of its name)."""
        return [p for p in self.policies if ident(program) in {ident(n) for n in p.spec.programs}]

    def struct(self, name: str) -> Located[StructSpec] | None:
        return self._index("structs").get(ident(name))

    def _fns_by_file(self) -> dict[str, dict[str, BpfFnForm]]:
        cache = self.fn_index
        if cache.get("n") != len(self.bpf_fns):
            by_file: dict[str, dict[str, BpfFnForm]] = {}
            for (f, name), fn in self.bpf_fns.items():
                by_file.setdefault(_resolved(f), {}).setdefault(name, fn)
            cache.update(n=len(self.bpf_fns), by_file=by_file)
        return cache["by_file"]

    def bpf_fns_in(self, path) -> list[str]:
        """Names of the bpf-fns defined in the file at `path` (any spelling of it)."""
        return list(self._fns_by_file().get(_resolved(str(path)), {}))

    def bpf_fn(self, path, name: str) -> BpfFnForm | None:
        return self._fns_by_file().get(_resolved(str(path)), {}).get(name)

    def wire(self) -> dict:
        """Sorted, deterministic wire form of the whole project."""
        out = {
            "maps": [m.spec.wire() for m in sorted(self.maps, key=lambda x: x.spec.name)],
            "programs": [p.spec.wire() for p in sorted(self.programs, key=lambda x: x.spec.name)],
            "policies": [p.spec.wire() for p in sorted(self.policies, key=lambda x: x.spec.name)],
        }
        if self.structs:
            out["structs"] = [s.spec.wire() for s in sorted(self.structs, key=lambda x: x.spec.name)]
        if self.tests:
            out["tests"] = [dump(t.spec, exclude_defaults=True)
                            for t in sorted(self.tests, key=lambda x: x.spec.name)]
        if self.globals:
            out["globals"] = self.globals_wire()
        return out

    def globals_wire(self) -> list[dict]:
        return [g.spec.wire() for g in sorted(self.globals, key=lambda x: x.spec.name)]

    def policy_closure(self, name: str) -> dict:
        """The policy with the programs and maps it names: what its hash covers."""
        pol = self.policy(name)
        assert pol is not None
        progs = [self.program(n) for n in pol.spec.programs]
        maps = [self.map(n) for n in pol.spec.maps]
        out = {
            "policy": pol.spec.wire(),
            "programs": [p.spec.wire() for p in progs if p],
            "maps": [m.spec.wire() for m in maps if m],
        }
        used = sorted({n for m in maps if m for n in (m.spec.key_struct, m.spec.value_struct) if n})
        structs = [s.spec.wire() for s in map(self.struct, used) if s]
        if structs:  # only then: policies without records keep upstream's hash
            out["structs"] = structs
        if self.globals:  # every crate declares every global (model/globals.py)
            out["globals"] = self.globals_wire()
        return out

    def policy_hash(self, name: str) -> str:
        return attest_value(self.policy_closure(name))


@lru_cache(maxsize=4096)
def _resolved(path: str) -> str:
    """`path` made absolute with links resolved; a name no file can have (a NUL in a
    hostile `:source`) stays as written, so it matches nothing instead of crashing."""
    try:
        return str(Path(path).resolve())
    except (ValueError, OSError):
        return path


def canonical_json(value: object) -> str:
    """Compact JSON with sorted keys, as serde_json prints a `Value`."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def attest_value(value: object, namespace: str = ATTEST_NAMESPACE) -> str:
    """Upstream `attest_value`: hex BLAKE3 of `ns + ":" + compact sorted JSON`."""
    return blake3.blake3(f"{namespace}:{canonical_json(value)}".encode()).hexdigest()
