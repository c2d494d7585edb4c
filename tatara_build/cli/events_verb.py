"""`tatara-build events POLICY MAP`: print the records a policy's programs `emit`.

One line per record: `field=value …`, or a JSON object per line with `--json`
(JSON lines), decoded by the map's `:value-struct` (tatara_build/model/records.py);
a map without one prints each record as hex. Stops after `--count` records, after
`--timeout` seconds, or on Ctrl-C (exit 0 then: stopping is how a user ends it). Like
the `map` verbs it reads only a pin the policy owns (runtime/mapaccess.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tatara_build.cli.common import load_project
from tatara_build.errors import SpecError
from tatara_build.model.kinds import MAP_KINDS
from tatara_build.model.records import decode
from tatara_build.runtime.events import read_records
from tatara_build.runtime.layout import DEFAULT_ROOT
from tatara_build.runtime.mapaccess import owned_map


def events_verb(policy: str, name: str, paths: list[Path], count: int | None,
                timeout: float | None, root: Path | None, as_json: bool) -> int:
    project = load_project(paths or [Path(".")]).project
    pol = project.policy(policy)
    if pol is None:
        raise SpecError(f"no policy `{policy}` in the spec")
    loc = project.map(name)
    if loc is None or name not in pol.spec.maps:
        raise SpecError(f"policy `{policy}` has no map `{name}`")
    m = loc.spec
    kind = MAP_KINDS[m.kind]
    if not kind.streamed:
        outs = [n for n in pol.spec.maps if project.map(n) and MAP_KINDS[project.map(n).spec.kind].streamed]  # type: ignore[union-attr]
        raise SpecError(f"map `{name}` is `{m.kind}`, not an output map (ring buffer or perf "
                        f"event array); output maps of `{policy}`: {', '.join(outs) or 'none'}")
    struct = project.struct(m.value_struct) if m.value_struct else None
    # the same ownership boundary as the `map` verbs: only a pin the policy owns is read
    _, pin = owned_map(project, policy, name, root or DEFAULT_ROOT)  # runtime/mapaccess.py
    if not pin.exists():
        raise SpecError(f"map `{name}` is not pinned at {pin}: apply policy `{policy}` first")
    try:
        for raw in read_records(pin, kind.cpu_sized, count, timeout):
            rec = decode(struct.spec, raw) if struct else {"hex": raw.hex()}
            line = (json.dumps(rec) if as_json
                    else " ".join(f"{k}={v}" for k, v in rec.items()))
            print(line, flush=True)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0
