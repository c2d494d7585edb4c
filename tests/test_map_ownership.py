"""`tatara-build map` touches only a map the policy owns (runtime/mapaccess.py): its own
map, pinned inside `<pin-root>/<policy>/` on bpffs, or at its spec `:pin-path` when the
journal says the policy created it. Maps here are made with `bpftool map create` (no
build); a foreign "victim" map outside the pin root must never change."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.kernel_util import require_kernel

pytestmark = [pytest.mark.kernel]


def sh(*argv: str) -> str:
    r = subprocess.run(list(argv), capture_output=True, text=True)
    assert r.returncode == 0, f"{argv}: {r.stderr}"
    return r.stdout


def create(pin: Path, key: int = 4, value: int = 8) -> None:
    pin.parent.mkdir(parents=True, exist_ok=True)
    sh("bpftool", "map", "create", str(pin), "type", "hash", "key", str(key), "value", str(value),
       "entries", "8", "name", "tbvictim")


def entries(pin: Path) -> list:
    return json.loads(sh("bpftool", "-j", "map", "dump", "pinned", str(pin)) or "[]")


SPEC = """
(defbpf-map :name "mo_own" :kind :hash :key-size 4 :value-size 8 :max-entries 8{own_pin})
(defbpf-map :name "mo_other" :kind :hash :key-size 4 :value-size 8 :max-entries 8)
(defbpf-program :name "mo_xdp" :kind :xdp :attach (:target "lo")
  :source "m.tlisp:mo-xdp" :uses-maps ("mo_own"))
(defbpf-policy :name "mo_pol" :description "d" :programs ("mo_xdp") :maps ("mo_own"))
(defbpf-program :name "mo_xdp2" :kind :xdp :attach (:target "lo")
  :source "m.tlisp:mo-xdp" :uses-maps ("mo_other"))
(defbpf-policy :name "mo_pol2" :description "d" :programs ("mo_xdp2") :maps ("mo_other"))
(bpf-fn mo-xdp (ctx) (return :xdp-pass))
"""


@pytest.fixture
def lab(tmp_path, monkeypatch):
    require_kernel()
    tag = os.getpid()
    root, foreign = Path(f"/sys/fs/bpf/tbmo-{tag}"), Path(f"/sys/fs/bpf/tbmo-foreign-{tag}")
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("TATARA_STATE_DIR", str(state))
    try:
        create(foreign / "victim")
        yield root, foreign / "victim", state, tmp_path
    finally:
        sh("rm", "-rf", str(root), str(foreign))


def spec_file(tmp: Path, own_pin: str = "") -> Path:
    path = tmp / "m.tlisp"
    path.write_text(SPEC.format(own_pin=f' :pin-path "{own_pin}"' if own_pin else ""))
    return path


def map_set(spec: Path, root: Path, name: str = "mo_own", policy: str = "mo_pol"):
    return run_cli("map", "set", policy, name, str(spec), "--pin-root", str(root),
                   "--key", "1", "--value", "7")


def test_own_map_in_the_pin_folder_is_written(lab):
    root, victim, _, tmp = lab
    create(root / "mo_pol" / "maps" / "mo_own")
    r = map_set(spec_file(tmp), root)
    assert r.returncode == 0, r.stderr
    assert len(entries(root / "mo_pol" / "maps" / "mo_own")) == 1
    assert entries(victim) == []


def test_spec_pin_path_outside_the_root_not_created_by_us_is_refused(lab):
    root, victim, _, tmp = lab
    r = map_set(spec_file(tmp, str(victim)), root)
    assert r.returncode == 4, r.stderr
    assert "refusing to touch map `mo_own`" in r.stderr and "Traceback" not in r.stderr
    assert entries(victim) == []


def test_hostile_state_claiming_the_foreign_map_is_not_believed(lab):
    root, victim, state, tmp = lab
    create(root / "mo_pol" / "maps" / "mo_own")
    (state / "mo_pol.json").write_text(json.dumps({
        "policy": "mo_pol", "status": "applied",
        "applied": {"created": [str(victim)], "maps": {"mo_own": str(victim)}}}))
    r = map_set(spec_file(tmp), root)  # the spec's pin is ours: only it is written
    assert r.returncode == 0, r.stderr
    assert entries(victim) == []
    # the spec names another :pin-path than the one the state claims: refused
    other = victim.with_name("victim2")
    create(other)
    r = map_set(spec_file(tmp, str(other)), root)
    assert r.returncode == 4 and entries(other) == [] and entries(victim) == []


def test_journal_created_spec_pin_path_is_ours(lab):
    root, victim, state, tmp = lab
    (state / "mo_pol.json").write_text(json.dumps({
        "policy": "mo_pol", "status": "applied", "applied": {"created": [str(victim)]}}))
    r = map_set(spec_file(tmp, str(victim)), root)
    assert r.returncode == 0, r.stderr
    assert len(entries(victim)) == 1


def test_symlink_in_our_folder_to_a_foreign_map_is_refused(lab):
    root, victim, _, tmp = lab
    (root / "mo_pol" / "maps").mkdir(parents=True)
    (root / "mo_pol" / "maps" / "mo_own").symlink_to(victim)
    r = map_set(spec_file(tmp), root)
    assert r.returncode == 4, r.stderr
    assert entries(victim) == []


def test_map_of_another_policy_or_unknown_policy_is_refused(lab):
    root, victim, _, tmp = lab
    create(root / "mo_pol" / "maps" / "mo_other")
    spec = spec_file(tmp)
    r = map_set(spec, root, name="mo_other")
    assert r.returncode == 1 and "not one of policy `mo_pol`'s maps" in r.stderr
    assert entries(root / "mo_pol" / "maps" / "mo_other") == []
    r = map_set(spec, root, policy="nope")
    assert r.returncode == 1 and "no policy `nope`" in r.stderr


def test_our_pin_holding_a_map_of_another_shape_is_not_written(lab):
    root, _, _, tmp = lab
    pin = root / "mo_pol" / "maps" / "mo_own"
    create(pin, key=8, value=8)
    r = map_set(spec_file(tmp), root)
    assert r.returncode == 4 and "does not match spec" in r.stderr
    assert entries(pin) == []


def test_pin_root_off_bpffs_is_refused(lab, tmp_path):
    _, victim, _, tmp = lab
    r = map_set(spec_file(tmp), tmp_path / "notbpf")
    assert r.returncode == 1 and "not on a BPF filesystem" in r.stderr


RING_SPEC = """
(defbpf-map :name "mo_ring" :kind :ring-buf :key-size 0 :value-size 0 :max-entries 4096
  :pin-path "{pin}")
(defbpf-program :name "mo_tp" :kind :tracepoint :attach (:target "sched/sched_process_exec")
  :source "r.tlisp:mo-tp" :uses-maps ("mo_ring"))
(defbpf-policy :name "mo_rpol" :description "d" :programs ("mo_tp") :maps ("mo_ring"))
(bpf-fn mo-tp (ctx) (return :ok))
"""


def test_events_reads_no_ring_buffer_the_policy_does_not_own(lab):
    """`events` has the `map` verbs' boundary: a spec `:pin-path` at someone else's
    ring buffer (not created by an apply of ours) is refused, exit 4, nothing read."""
    root, victim, _, tmp = lab
    ring = victim.with_name("victim-ring")
    sh("bpftool", "map", "create", str(ring), "type", "ringbuf", "key", "0", "value", "0",
       "entries", "4096", "name", "tbvictimring")
    spec = tmp / "r.tlisp"
    spec.write_text(RING_SPEC.format(pin=ring))
    r = run_cli("events", "mo_rpol", "mo_ring", str(spec), "--pin-root", str(root),
                "--count", "1", "--timeout", "1")
    assert r.returncode == 4, r.stdout + r.stderr
    assert "refusing to touch map `mo_ring`" in r.stderr and "Traceback" not in r.stderr
