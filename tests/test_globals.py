"""defbpf-global: load-time config declared in the spec, read by `(global NAME)`, set with
`--set NAME=VALUE` at `test` and `apply` (written into the loaded copy, never the
artifact), recorded in the runtime state and shown by `status`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tatara_build.runtime import objglobals
from tests.conftest import BUILD_TARGET, ROOT, build_cli, messages, run_cli
from tests.kernel_util import require_kernel

FIXTURE = ROOT / "tests" / "fixtures" / "globals"

BASE = ('(defbpf-program :name "p" :kind :xdp :attach (:target "e") :source "a.tlisp:f")\n'
        '(defbpf-policy :name "pol" :description "d" :programs ("p"))\n')


def _spec(spec, extra: str, body: str = "(return :xdp-pass)"):
    return spec({"a.tlisp": BASE + extra + f"\n(bpf-fn f (ctx) {body})\n"})


def _crate_text(d: Path) -> str:
    from tatara_build.cli.common import load_project
    from tatara_build.lower.plan import plan
    from tatara_build.render.templates import render_file

    rplan, _ = plan(load_project([d]).project)
    return "\n".join(render_file(f).decode() for f in rplan.files
                     if f.path.endswith(".rs") and f.copy_from is None)


def test_a_global_renders_as_a_rodata_static_read_volatile(spec):
    d = _spec(spec, '(defbpf-global :name "target-port" :type :u16 :default 53 :description "port")',
              "(if (= (l4-dport ctx) (global target-port)) (return :xdp-drop) (return :xdp-pass))")
    assert messages(d) == []
    out = _crate_text(d)
    assert "#[unsafe(no_mangle)]\npub static target_port: u16 = 53;" in out
    assert "core::ptr::read_volatile" in out
    assert "u64::from(crate::globals::read(&crate::globals::target_port))" in out
    assert "mod globals;\nmod maps;" in out


@pytest.mark.parametrize("extra, body, expect", [
    ("", "(return (global port))",
     "unknown global `port`"),
    ('(defbpf-global :name "port" :type :u16)', "(return (global prot))",
     "unknown global `prot`"),
    ('(defbpf-global :name "port" :type :u16)', "(return (global))",
     "`(global NAME)` takes the name of a defbpf-global"),
    ('(defbpf-global :name "port" :type :u17)', "(return :xdp-pass)",
     "compile error in :type: Input should be 'u8', 'u16', 'u32' or 'u64'"),
    ('(defbpf-global :name "port" :type :u8 :default 256)', "(return :xdp-pass)",
     "default 256 is out of u8 range (0..=255)"),
    ('(defbpf-global :name "port" :type :u8 :default "1")', "(return :xdp-pass)",
     "compile error in :default: expected int, got string"),
    ('(defbpf-global :name "p" :type :u8)', "(return :xdp-pass)",
     "global `p` has the same symbol `p` as program `p`"),
    ('(defbpf-global :name "license" :type :u8)', "(return :xdp-pass)",
     "the crate's LICENSE static"),
    ('(defbpf-global :name "a" :type :u8)(defbpf-global :name "a" :type :u16)',
     "(return :xdp-pass)", "global `a` is declared twice"),
    ('(defbpf-global :name "9x" :type :u8)', "(return :xdp-pass)", "global name `9x`"),
])
def test_bad_globals_are_located_errors(spec, extra, body, expect):
    d = _spec(spec, extra, body)
    found = [m for m in messages(d) if expect in m]
    assert found, messages(d)
    r = run_cli("check", str(d))
    assert r.returncode == 1 and "a.tlisp:" in r.stderr, r.stderr


def test_the_unknown_global_is_refused_at_its_form(spec):
    d = _spec(spec, '(defbpf-global :name "port" :type :u16)', "(return (global prot))")
    r = run_cli("check", str(d))
    assert r.returncode == 1
    assert "a.tlisp:4:33" in r.stderr and "did you mean `port`?" in r.stderr, r.stderr


def test_toml_and_json_twins(spec):
    toml = ('[[globals]]\nname = "target_port"\ntype = "u16"\ndefault = 53\n'
            '[[globals]]\nname = "flag"\ntype = ":u8"\n')
    d = spec({"a.tlisp": BASE + "(bpf-fn f (ctx) (return (global target_port)))\n",
              "g.toml": toml})
    assert messages(d) == []
    bad = json.dumps({"globals": [{"name": "x", "type": "u32", "default": -1}]})
    d = spec({"a.tlisp": BASE + "(bpf-fn f (ctx) (return :xdp-pass))\n", "g.json": bad})
    assert any("globals[0] (`x`): field `default`: default -1 is out of u32 range"
               in m for m in messages(d)), messages(d)


def test_globals_change_the_policy_hash_and_the_wire_form(spec):
    from tatara_build.cli.common import load_project

    a = load_project([_spec(spec, '(defbpf-global :name "g" :type :u8 :default 1)')]).project
    b = load_project([_spec(spec, '(defbpf-global :name "g" :type :u8 :default 2)')]).project
    assert a.policy_hash("pol") != b.policy_hash("pol")
    assert a.wire()["globals"] == [{"name": "g", "type": "u8", "default": 1, "description": ""}]


@pytest.mark.parametrize("test_form, expect", [
    ('(defbpf-test :name "t" :program "p" :expect :xdp-pass :globals (:nope 1))',
     "test `t`: no global `nope` (globals: port)"),
    ('(defbpf-test :name "t" :program "p" :expect :xdp-pass :globals (:port 70000))',
     "test `t`: global `port`: 70000 is out of u16 range (0..=65535)"),
])
def test_bad_test_globals_are_located(spec, test_form, expect):
    d = _spec(spec, '(defbpf-global :name "port" :type :u16)\n' + test_form)
    assert any(expect in m for m in messages(d)), messages(d)


@pytest.fixture(scope="module")
def built_globals(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("globals-build")
    r = build_cli([FIXTURE], out)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


@pytest.mark.compile
def test_patch_writes_the_copy_at_the_symbol(built_globals):
    obj = built_globals / "artifacts" / "config" / "config.bpf.o"
    data = obj.read_bytes()
    assert objglobals.read(data, "target_port") == 53
    assert objglobals.read(data, "mark") == 0x0123456789ABCDEF
    patched = objglobals.patch(data, {"target_port": (8053, 2), "mark": (7, 8)}, "x")
    assert len(patched) == len(data)
    assert objglobals.read(patched, "target_port") == 8053 and objglobals.read(patched, "mark") == 7
    assert objglobals.read(patched, "drop_all") == 0
    diff = [i for i in range(len(data)) if data[i] != patched[i]]
    assert len(diff) <= 10  # only the two values' bytes
    with pytest.raises(Exception, match="has no global `nope`"):
        objglobals.patch(data, {"nope": (1, 1)}, "x")
    with pytest.raises(Exception, match="is 2 bytes in the object, 4 in the spec"):
        objglobals.patch(data, {"target_port": (1, 4)}, "x")


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _test(*extra: str, out: Path) -> subprocess.CompletedProcess:
    return run_cli("test", str(FIXTURE), "-o", str(out), "--target-dir", str(BUILD_TARGET),
                   *extra)


@pytest.mark.kernel
@pytest.mark.compile
def test_set_changes_the_verdict_under_test(tmp_path):
    require_kernel()
    out = tmp_path / "out"
    r = _test("--json", out=out)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert (json.loads(r.stdout)["passed"], json.loads(r.stdout)["failed"]) == (6, 0)
    obj = out / "artifacts" / "config" / "config.bpf.o"
    before = _sha(obj)
    r = _test("--set", "target_port=8053", out=out)
    assert r.returncode == 1
    # port 53 is no longer the dropped one: the default tests flip, the per-test ones hold
    assert "FAILED the-default-port-is-dropped: verdict 2, expected 1 (:xdp-drop)" in r.stdout
    assert "FAILED another-port-passes: verdict 1, expected 2 (:xdp-pass)" in r.stdout
    assert "4 passed, 2 failed" in r.stdout
    r = _test("--set", "drop_all=1", out=out)  # the Rust body reads the same global
    assert "FAILED a-rust-body-reads-the-default: verdict 1, expected 2 (:xdp-pass)" in r.stdout
    assert _sha(obj) == before  # the artifact was never written
    r = _test("--set", "target_port=70000", out=out)
    assert r.returncode == 1
    assert "--set target_port=70000: 70000 is out of u16 range (0..=65535)" in r.stderr
    assert "globals.tlisp:4:42" in r.stderr  # the declaration's :type
    r = _test("--set", "tarket_port=1", out=out)
    assert r.returncode == 1 and "did you mean `target_port`?" in r.stderr
    r = _test("--set", "target_port", out=out)
    assert r.returncode == 1 and "expected NAME=VALUE" in r.stderr
    r = _test("--set", "target_port=fifty", out=out)
    assert r.returncode == 1 and "`fifty` is not an integer" in r.stderr


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


def _send_udp(ns: str, src: str, dst: str, port: int, n: int = 3) -> None:
    """UDP datagrams from the host end of our veth into our netns."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((src, 0))
        for _ in range(n):
            s.sendto(b"x", (dst, port))
            time.sleep(0.05)


def _hits(common: list[str]) -> tuple[int, int]:
    r = run_cli("map", "dump", "config", "hits", str(FIXTURE), "--pin-root", common[-1], "--json")
    assert r.returncode == 0, r.stderr
    rows = {int(e["key"]): int(e["value"]) for e in json.loads(r.stdout)["entries"]}
    return rows.get(0, 0), rows.get(1, 0)


def _rodata_in_kernel(pin: Path) -> bytes:
    """The `.rodata` map of the loaded program, as the kernel holds it."""
    prog = json.loads(sh("bpftool", "-j", "prog", "show", "pinned", str(pin)).stdout)
    for mid in prog.get("map_ids", []):
        info = json.loads(sh("bpftool", "-j", "map", "show", "id", str(mid)).stdout)
        if info.get("name", "").endswith(".rodata"):
            dump = json.loads(sh("bpftool", "-j", "map", "dump", "id", str(mid)).stdout)
            return bytes(int(b, 16) for b in dump[0]["value"])
    raise AssertionError("no .rodata map on the program")


@pytest.mark.kernel
@pytest.mark.compile
def test_set_at_apply_is_loaded_recorded_and_shown(built_globals, tmp_path, monkeypatch):
    require_kernel()
    tag = os.getpid() % 100000
    ns, host, root = f"tgn{tag}", f"tgh{tag}", Path(f"/sys/fs/bpf/tatara-dsl2-{tag}")
    net = f"10.246.{tag % 250}"
    monkeypatch.setenv("TATARA_STATE_DIR", str(tmp_path / "state"))
    artifacts = built_globals / "artifacts"
    common = ["config", str(FIXTURE), "--artifacts", str(artifacts), "--pin-root", str(root)]
    before = _sha(artifacts / "config" / "config.bpf.o")
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "add", host + "b", "type", "veth", "peer", "name", "eth1", "netns", ns)
        sh("ip", "addr", "add", f"{net}.1/24", "dev", host)
        sh("ip", "link", "set", host, "up")
        sh("ip", "-n", ns, "addr", "add", f"{net}.2/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        r = run_cli("apply", *common, "--netns", ns)
        assert r.returncode == 0, r.stderr
        _send_udp(ns, f"{net}.1", f"{net}.2", 53)
        dropped, mark = _hits(common)
        assert dropped >= 3 and mark == 0x0123456789ABCDEF  # the defaults
        r = run_cli("status", *common, "--json")
        assert json.loads(r.stdout)["globals"]["target_port"] == 53
        r = run_cli("apply", *common, "--netns", ns, "--set", "target_port=8053",
                    "--set", "mark=0x1122334455667788")
        assert r.returncode == 0, r.stderr
        assert "replace" in r.stdout  # other values: the program is reloaded
        _send_udp(ns, f"{net}.1", f"{net}.2", 53)
        assert _hits(common)[0] == dropped  # 53 passes now
        _send_udp(ns, f"{net}.1", f"{net}.2", 8053)
        now, mark = _hits(common)
        assert now >= dropped + 3 and mark == 0x1122334455667788
        rodata = _rodata_in_kernel(root / "config" / "progs" / "port_gate")
        assert int.from_bytes(rodata[16:18], "little") == 8053  # the value the kernel holds
        r = run_cli("status", *common)
        assert "global    target_port = 8053  (set; default 53)" in r.stdout, r.stdout
        assert "global    drop_all = 0  (default)" in r.stdout
        r = run_cli("apply", *common, "--netns", ns, "--set", "target_port=8053",
                    "--set", "mark=0x1122334455667788")
        assert "nothing" in r.stdout  # same values: unchanged
        r = run_cli("apply", *common, "--netns", ns, "--set", "drop_all=2x")
        assert r.returncode == 1 and "`2x` is not an integer" in r.stderr
        assert _sha(artifacts / "config" / "config.bpf.o") == before
    finally:
        run_cli("detach", *common, "--netns", ns)
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", host, check=False)
        sh("ip", "link", "del", host + "b", check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_a_dry_run_refuses_bad_set_values_at_the_declaration():
    r = run_cli("plan", "config", str(FIXTURE), "--runtime", "simulated", "--set", "drop_all=300")
    assert r.returncode == 1
    assert "--set drop_all=300: 300 is out of u8 range (0..=255)" in r.stderr
    assert "globals.tlisp:6:39" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("apply", "config", str(FIXTURE), "--runtime", "simulated", "--set", "drop_all=1")
    assert r.returncode == 0, r.stderr


def test_readme_documents_globals_and_packet_layers():
    readme = (ROOT / "README.md").read_text()
    assert "## Load-time config (defbpf-global)" in readme
    for needle in ("(defbpf-global", "[[globals]]", "--set target_port=8053", "(global target-port)",
                   ":globals (:target-port 8053)", ":packet-out", ":vlan", ":icmpv6", ":arp"):
        assert needle in readme, needle
