"""Papercuts from issue 10, each reproduced as a user meets it: `test` shows the verifier
log, `detach --netns` as `apply` takes it, a user's `.rs` warnings do not fail the build,
`map dump` of a ring buffer points at `events`, and the README documents packet tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BUILD_TARGET, EXAMPLES, ROOT, build_cli, run_cli
from tests.kernel_util import require_kernel

RS_POLICY = """
(defbpf-program :name "p" :kind :xdp :attach (:target "eth0") :source "body.rs")
(defbpf-policy :name "{name}" :description "d" :programs ("p"))
"""

UNCHECKED = """pub fn run(ctx: &aya_ebpf::programs::XdpContext) -> u32 {
    // reads the EtherType without comparing against data_end: the verifier refuses it
    let proto = unsafe { core::ptr::read_volatile((ctx.data() + 12) as *const u16) };
    u32::from(proto)
}
"""


def _need_toolchain():
    from tatara_build.backends.toolchain import detect

    if detect().route == "none":
        pytest.skip("no BPF toolchain")


# --- `tatara-build test` shows why a load failed ---------------------------------------
@pytest.mark.kernel
@pytest.mark.compile
def test_test_verb_shows_the_verifier_log(spec, tmp_path):
    require_kernel()
    _need_toolchain()
    d = spec({"a.tlisp": RS_POLICY.format(name="unchecked_t")
              + '(defbpf-test :name "passes" :program "p" :expect :xdp-pass)\n'
              + '(defbpf-test :name "also" :program "p" :expect :xdp-drop)\n',
              "body.rs": UNCHECKED})
    args = ["test", str(d), "-o", str(tmp_path / "out"), "--target-dir", str(BUILD_TARGET)]
    r = run_cli(*args)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED passes: kernel rejected program at load: program `p`" in r.stdout
    assert "FAILED also: kernel rejected program at load" in r.stdout
    assert r.stdout.count("verifier log:") == 1 and "invalid access to packet" in r.stdout
    assert "0 passed, 2 failed" in r.stdout
    r = run_cli(*args, "--json")
    assert r.returncode == 1
    results = json.loads(r.stdout)["tests"]
    assert [t["got"] for t in results] == ["load failed", "load failed"]
    assert all("invalid access to packet" in t["log"] for t in results)


# --- a user's .rs file: warnings stay warnings -----------------------------------------
UNUSED_HELPER = """use aya_ebpf::programs::XdpContext;

fn unused_helper(x: u32) -> u32 {
    x + 1
}

pub fn run(_ctx: &XdpContext) -> u32 {
    let unused_variable = 3;
    aya_ebpf::bindings::xdp_action::XDP_PASS
}
"""


@pytest.mark.compile
def test_unused_helper_in_a_users_rs_file_builds(spec, tmp_path):
    _need_toolchain()
    d = spec({"a.tlisp": RS_POLICY.format(name="unused_helper"), "body.rs": UNUSED_HELPER})
    r = build_cli([d], tmp_path / "out")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "out" / "artifacts" / "unused_helper" / "unused_helper.bpf.o").exists()
    crate = next((tmp_path / "out").rglob("src/programs/mod.rs")).read_text()
    assert "#[warn(warnings)]\npub mod p;" in crate


@pytest.mark.compile
def test_generated_code_still_builds_with_warnings_denied():
    """Our generated code keeps `-D warnings` (backends/cargo_backend.py passes it to rustc);
    only the user's module is scoped back to warnings."""
    from tatara_build.backends.cargo_backend import cargo_argv
    from tatara_build.backends.toolchain import detect

    tc = detect()
    for asm in (None, ROOT / "x.s"):  # both routes: bpf-linker and asm
        argv = cargo_argv(tc, "demo", "--remap-path-prefix=/x=/y", asm)
        assert "-Dwarnings" in argv[argv.index("--"):]
    nix = (ROOT / "nix" / "buildBpfObject.nix").read_text()
    assert "-- -D warnings" in nix
    golden = (ROOT / "tests" / "golden" / "cgroup_bytes" / "src")
    assert "warn(warnings)" not in (golden / "main.rs").read_text()
    assert "#[warn(warnings)]" in (golden / "programs" / "mod.rs").read_text()


# --- map dump of a ring buffer ---------------------------------------------------------
@pytest.mark.parametrize("name, kind", [("events", ":ring-buf"),
                                        ("perf_events", ":perf-event-array")])
def test_map_dump_of_an_event_stream_says_to_use_events(name, kind):
    for action in ("dump", "get"):
        r = run_cli("map", action, "observability", name, str(EXAMPLES), "--key", "0")
        assert r.returncode == 1, r.stderr
        assert (f"map `{name}` is a `{kind}`: it holds a stream of events, not entries by key; "
                f"read it with `tatara-build events observability {name}`") in r.stderr
        assert "Traceback" not in r.stderr


@pytest.mark.kernel
def test_map_dump_of_a_keyed_map_still_reads_the_kernel(tmp_path):
    """The event-stream check is by kind: a keyed map that is not applied still says so."""
    require_kernel()
    r = run_cli("map", "dump", "observability", "ingress_packets", str(EXAMPLES),
                "--pin-root", f"/sys/fs/bpf/tatara-none-{os.getpid()}")
    assert r.returncode == 1 and "apply policy `observability` first" in r.stderr


# --- detach --netns, as apply takes it -------------------------------------------------
def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(list(argv), capture_output=True, text=True)
    if check and r.returncode:
        raise AssertionError(f"{argv}: {r.stderr}")
    return r


def _xdp_on_eth0(netns: str) -> bool:
    out = sh("ip", "-n", netns, "-j", "link", "show", "eth0").stdout
    return any("xdp" in link for link in json.loads(out))


@pytest.mark.kernel
def test_detach_takes_netns_as_apply_does(tmp_path, monkeypatch):
    require_kernel()
    tag = os.getpid() % 100000
    ns, host, root = f"tsd{tag}", f"tsh{tag}", Path(f"/sys/fs/bpf/tatara-seed-{tag}")
    monkeypatch.setenv("TATARA_STATE_DIR", str(tmp_path / "state"))
    folder = tmp_path / "spec"
    shutil.copytree(EXAMPLES / "precompiled", folder)
    out = tmp_path / "out"
    assert build_cli([folder], out).returncode == 0
    common = ["udp_counter", str(folder), "--artifacts", str(out / "artifacts"),
              "--pin-root", str(root)]
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns)
        r = run_cli("apply", *common, "--netns", ns)
        assert r.returncode == 0, r.stderr
        assert _xdp_on_eth0(ns)
        r = run_cli("detach", *common, "--netns", "elsewhere")
        assert r.returncode == 1
        assert f"was applied in netns `{ns}`, not `elsewhere`: detach --netns {ns}" in r.stderr
        assert _xdp_on_eth0(ns) and root.exists()  # nothing touched
        r = run_cli("detach", *common, "--netns", ns)
        assert r.returncode == 0, r.stderr
        assert not _xdp_on_eth0(ns) and not (root / "udp_counter").exists()
    finally:
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", host, check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_detach_help_lists_netns():
    r = run_cli("detach", "--help")
    assert r.returncode == 0 and "--netns" in r.stdout


# --- README: packet tests ---------------------------------------------------------------
def test_readme_documents_packet_tests():
    readme = (ROOT / "README.md").read_text()
    assert "## Packet tests" in readme
    for needle in ("(defbpf-test", "[[tests]]", "tatara-build test", ":maps-before",
                   ":maps-after", "verifier log"):
        assert needle in readme, needle
