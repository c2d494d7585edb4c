"""`tatara-build map dump|get|set`: read and write a policy's pinned maps by its spec's
sizes (keys and values as integers, little-endian, or hex with two digits per byte).
Ring buffers and perf-event arrays carry events, not entries: `events` reads them.
Only a map of the policy, pinned where the policy owns it, is touched
(runtime/mapaccess.py)."""

from __future__ import annotations

from pathlib import Path

from tatara_build.cli.common import emit_json
from tatara_build.errors import SpecError
from tatara_build.model.kinds import MAP_KINDS
from tatara_build.model.records import decode
from tatara_build.runtime import bpftool
from tatara_build.runtime.codec import encode
from tatara_build.runtime.kernel import Kernel
from tatara_build.runtime.layout import DEFAULT_ROOT
from tatara_build.runtime.mapaccess import owned_map


def _decode(values: list[str]) -> int:
    return int.from_bytes(bytes(int(v, 16) for v in values), "little")


def _decoder(project, struct: str | None):
    """Hex byte strings -> an integer, or {field: value} for a record (model/records.py)."""
    s = project.struct(struct) if struct else None
    if s is None:
        return _decode
    return lambda values: decode(s.spec, bytes(int(v, 16) for v in values))


def _show(v) -> str:
    """A record as `field=value …`; lists (per CPU) item by item; numbers as they are."""
    if isinstance(v, dict):
        return " ".join(f"{k}={x}" for k, x in v.items())
    if isinstance(v, list):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    return str(v)


def map_verb(action: str, policy: str, name: str, paths: list[Path], key: str | None,
             value: str | None, root: Path | None, as_json: bool,
             artifacts: Path = Path("out/artifacts")) -> int:
    from tatara_build.cli.common import project_for  # the spec the artifacts carry

    project = project_for(policy, paths, artifacts)
    m, pin = owned_map(project, policy, name, root or DEFAULT_ROOT)  # runtime/mapaccess.py
    if MAP_KINDS[m.kind].streamed:  # bpftool has no entries to show (ring-buf dump: exit 244)
        raise SpecError(f"map `{name}` is a `{m.kind}`: it holds a stream of events, not "
                        f"entries by key; read it with `tatara-build events {policy} {name}`")
    if not pin.exists():
        raise SpecError(f"map `{name}` is not pinned at {pin}: apply policy `{policy}` first")
    Kernel().check_map(m, pin)  # a pin of ours holding another map is not written (exit 4)
    if action == "set":
        if key is None or value is None:
            raise SpecError("map set needs --key and --value")
        bpftool.map_update(pin, encode(key, m.key_size, "key"), encode(value, m.value_size, "value"))
        rows = [{"key": key, "value": value}]
    elif action in ("dump", "get"):
        rows = []
        kdec, vdec = _decoder(project, m.key_struct), _decoder(project, m.value_struct)
        for e in bpftool.map_dump(pin):
            k = kdec(e["key"])
            vals = [vdec(v["value"]) for v in e["values"]] if "values" in e else [vdec(e["value"])]
            rows.append({"key": k, "value": vals[0] if len(vals) == 1 else vals})
        if action == "get":
            if key is None:
                raise SpecError("map get needs --key")
            want = kdec([f"{b:02x}" for b in encode(key, m.key_size, "key")])
            rows = [r for r in rows if r["key"] == want]
    else:
        raise SpecError(f"unknown map action `{action}` (dump, get, set)")
    if as_json:
        emit_json({"map": name, "kind": m.kind, "pin": str(pin), "entries": rows})
    else:
        per_cpu = MAP_KINDS[m.kind].per_cpu
        for r in rows:
            print(f"{_show(r['key'])}: {_show(r['value'])}"
                  + ("  (per CPU)" if per_cpu and action != 'set' else ""))
    return 0
