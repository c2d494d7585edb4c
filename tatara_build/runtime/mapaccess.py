"""Which pinned map the `map` verbs may read or write: one the policy owns.

The same boundaries as removal (runtime/safety.py `Owner`, lifecycle.py `owner_of`):
the pin root must be plain and on bpffs; the policy must be in the spec and the map
one of *its* maps (not merely some map of the spec); the pin, resolved, must lie inside
`<pin-root>/<policy>/` on bpffs, or be the map's own spec `:pin-path` that the journal
records this policy created. What the journal says is only ever used to *narrow* that
(a recorded path is believed only when it is the spec's own pin), so a crafted state
file cannot point a verb at another map. Finally the pinned object must be a map with
the spec's type and sizes (runtime/kernel.py `map_diff`) before anything is written.
"""

from __future__ import annotations

import os
from pathlib import Path

from tatara_build.errors import SpecError
from tatara_build.lower.naming import snake
from tatara_build.model.ir import MapSpec, Project, ident
from tatara_build.runtime.layout import PinLayout
from tatara_build.runtime.records import Unpin
from tatara_build.runtime.safety import NotOurs, Owner, check_name, check_pin_root


def owned_map(project: Project, policy: str, name: str, root: Path) -> tuple[MapSpec, Path]:
    """(spec, pin) of map `name` of `policy`; SpecError (exit 1) for a policy or map the
    spec does not pair, NotOurs (exit 4) for a pin that is not provably the policy's."""
    check_pin_root(root)
    pol = project.policy(policy)
    if pol is None:
        names = ", ".join(p.spec.name for p in project.policies) or "none"
        raise SpecError(f"no policy `{policy}` in the spec (policies: {names})")
    if ident(name) not in {ident(n) for n in pol.spec.maps}:
        raise SpecError(f"map `{name}` is not one of policy `{pol.spec.name}`'s maps "
                        f"({', '.join(pol.spec.maps) or 'none'})")
    loc = project.map(name)
    if loc is None:
        raise SpecError(f"no map `{name}` in the spec")
    layout = PinLayout(check_name("policy", snake(pol.spec.name)), root)
    pin = layout.map_pin(snake(loc.spec.name), loc.spec.pin_path)
    owner = Owner(layout.base, _created(layout.base.name, pin))
    if not _under(layout.base, root) or not owner.owns(pin):
        raise NotOurs(f"refusing to touch map `{name}` at {pin}: not inside {owner.base} on "
                      f"bpffs, nor a pin policy `{pol.spec.name}` created (its journal)")
    return loc.spec, pin


def _created(policy: str, pin: Path) -> set[str]:
    """The map's own spec pin when the policy's journal says an apply created it."""
    from tatara_build.runtime.state import Journal

    j = Journal(policy)
    claimed = set(j.applied.get("created", []) if isinstance(j.applied, dict) else [])
    claimed |= {r.path for r in j.data.get("steps", []) if isinstance(r, Unpin)}
    return {str(pin)} & {c for c in claimed if isinstance(c, str)}


def _under(base: Path, root: Path) -> bool:
    real_base, real_root = os.path.realpath(base), os.path.realpath(root)
    return os.path.dirname(real_base) == real_root
