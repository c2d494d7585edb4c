"""Property over name styles, end to end: check -> render -> build -> test -> apply ->
detach, for policies, programs and maps named in kebab, snake, mixed and keyword
styles, in the real kernel (own netns and pin root) with the real compiler."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from tatara_build.model.ir import ident
from tests.conftest import BUILD_TARGET, build_cli, run_cli
from tests.kernel_util import require_kernel
from tests.test_names import small_spec

pytestmark = [pytest.mark.kernel, pytest.mark.compile]

WORDS = st.sampled_from(["edge", "syn", "Drop", "type", "loop", "v", "A", "x2"])


@st.composite
def names(draw) -> str:
    """One to three words joined kebab, snake or mixed (`edge-syn_v`)."""
    words = draw(st.lists(WORDS, min_size=1, max_size=3))
    seps = draw(st.lists(st.sampled_from("-_"), min_size=len(words) - 1,
                         max_size=len(words) - 1))
    out = words[0]
    for sep, w in zip(seps, words[1:], strict=True):
        out += sep + w
    return out


def sh(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True)


@pytest.fixture(scope="module")
def netns(tmp_path_factory):
    require_kernel()
    tag = os.getpid() % 100000
    ns, host = f"tbn{tag}", f"tbnh{tag}"
    root = Path(f"/sys/fs/bpf/tatara-names-{tag}")
    state = tmp_path_factory.mktemp("state")
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        yield ns, root, state
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", host], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _xdp_prog(ns: str):
    out = sh("ip", "-n", ns, "-j", "link", "show", "dev", "eth0").stdout
    return json.loads(out)[0].get("xdp", {}).get("prog")


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(pol=names(), prog=names(), mp=names())
@example(pol="edge-protection", prog="drop-syn-flood", mp="syn_counter")
@example(pol="edge_pol", prog="Drop-Syn", mp="my-map_v2")
@example(pol="loop", prog="type", mp="match")
def test_every_verb_accepts_the_name_style(netns, tmp_path_factory, pol, prog, mp):
    ns, root, state = netns
    # one crate namespace: check refuses shared idents (tested in test_names.py)
    assume(len({ident(pol), ident(prog), ident(mp)}) == 3)
    folder = tmp_path_factory.mktemp("names")
    (folder / "s.tlisp").write_text(small_spec(pol, prog, mp))
    out = folder / "out"
    for verb in (["check", str(folder)], ["render", str(folder), "-o", str(out)]):
        r = run_cli(*verb)
        assert r.returncode == 0, (verb[0], r.stderr)
    r = build_cli([folder], out)
    assert r.returncode == 0, r.stderr[-3000:]
    r = run_cli("test", str(folder), "-o", str(out), "--target-dir", str(BUILD_TARGET))
    assert r.returncode == 0 and "1 passed, 0 failed" in r.stdout, r.stdout + r.stderr
    env = {**os.environ, "TATARA_STATE_DIR": str(state)}
    args = [pol, str(folder), "--artifacts", str(out / "artifacts"), "--pin-root", str(root)]
    try:
        r = subprocess.run([sys.executable, "-m", "tatara_build", "apply", *args, "--netns", ns],
                           capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
        assert _xdp_prog(ns) is not None
        assert (root / ident(pol) / "maps" / ident(mp)).exists()
    finally:
        r = subprocess.run([sys.executable, "-m", "tatara_build", "detach", *args],
                           capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert _xdp_prog(ns) is None
    assert not (root / ident(pol)).exists()
