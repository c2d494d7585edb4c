"""`build` for real: compile every example crate, read manifests back, load objects into
the kernel (scratch pins), and the failure classes a user meets."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import blake3
import pytest

from tatara_build.backends.toolchain import detect
from tests.conftest import BUILD_TARGET, EXAMPLES, build_cli, run_cli
from tests.kernel_util import eth, ipv4, require_kernel, scratch_pins, tcp, udp

pytestmark = pytest.mark.compile
build = build_cli


def _need_toolchain():
    tc = detect()
    if tc.route == "none":
        pytest.fail("no BPF toolchain: " + "; ".join(tc.problems))  # CI installs it: a real failure


def manifest(out: Path, policy: str) -> dict:
    return json.loads((out / "artifacts" / policy / "tatara.manifest.json").read_text())


def test_manifest_read_back_from_the_object(built):
    m = manifest(built, "edge_protection")
    [obj] = m["objects"]
    assert obj["file"] == "edge_protection.bpf.o" and obj["origin"] == "crate"
    assert {(p["name"], p["section"], p["kind"]) for p in obj["programs"]} == {
        ("drop_syn_flood", "xdp", ":xdp"), ("rate_limit_tcp", "classifier", ":tc")}
    assert {(x["name"], x["type"], x["key_size"], x["value_size"], x["max_entries"])
            for x in obj["maps"]} == {("syn_counter", "percpu_array", 4, 8, 1),
                                      ("tcp_budget", "lru_hash", 4, 8, 4096)}
    data = (built / "artifacts/edge_protection/edge_protection.bpf.o").read_bytes()
    assert obj["blake3"] == blake3.blake3(data).hexdigest() and obj["size"] == len(data)
    b3 = (built / "artifacts/edge_protection/edge_protection.b3").read_text()
    assert b3 == f"{obj['blake3']}  edge_protection.bpf.o\n"
    assert m["toolchain"]["aya_ebpf"] == "0.2.1" and m["toolchain"]["route"] in ("asm", "bpf-linker")
    assert m["spec_hash"] and obj["btf_error"] is None


def test_carried_object_and_tracepoint_sections(built):
    [obj] = manifest(built, "udp_counter")["objects"]
    assert obj["origin"] == "carried" and obj["programs"][0]["name"] == "count_udp"
    progs = manifest(built, "observability")["objects"][0]["programs"]
    sections = {p["name"]: p["section"] for p in progs}
    assert sections["trace_openat2"] == "kprobe/do_sys_openat2"
    assert sections["count_ingress"] == "cgroup_skb/ingress"
    assert manifest(built, "openat_counter")["objects"][0]["programs"][0]["section"] == \
        "tracepoint/syscalls/sys_enter_openat"


def test_noop_rebuild_runs_no_compiler(built):
    stamps = {p: p.stat().st_mtime_ns for p in (built / "artifacts").rglob("*") if p.is_file()}
    r = build([EXAMPLES], built, "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [p["compiled"] for p in data["policies"]] == [False] * len(data["policies"])
    assert stamps == {p: p.stat().st_mtime_ns for p in (built / "artifacts").rglob("*") if p.is_file()}


def test_reproducible_in_another_folder(built, tmp_path):
    r = build([EXAMPLES], tmp_path / "again", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    for art in (built / "artifacts").glob("*/*.bpf.o"):
        twin = tmp_path / "again" / "artifacts" / art.parent.name / art.name
        assert twin.read_bytes() == art.read_bytes(), f"{art.name} differs between folders"


@pytest.mark.kernel
@pytest.mark.parametrize("policy", ["edge_protection", "observability", "openat_counter",
                                    "cgroup_bytes", "udp_counter", "file_audit", "icmp_echo"])
def test_kernel_verifier_accepts_every_object(built, policy):
    require_kernel()
    from tatara_build.runtime.verify import unsupported_kinds, verify_object
    for obj in manifest(built, policy)["objects"]:
        missing = unsupported_kinds(obj["programs"])
        if missing:
            pytest.skip(f"{policy}: this kernel has no {', '.join(missing)} program type "
                        "(bpftool feature probe kernel)")
        assert verify_object(policy, built / "artifacts" / policy / obj["file"], obj["programs"]) is None


def _prog_run(pin: Path, packet: bytes, tmp: Path) -> int:
    f = tmp / "pkt.bin"
    f.write_bytes(packet)
    r = subprocess.run(["bpftool", "-j", "prog", "run", "pinned", str(pin), "data_in", str(f)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)["retval"]


@pytest.mark.kernel
def test_edge_protection_verdicts_in_the_kernel(built, tmp_path):
    require_kernel()
    obj = built / "artifacts/edge_protection/edge_protection.bpf.o"
    with scratch_pins() as pins:
        r = subprocess.run(["bpftool", "-n", "prog", "loadall", str(obj), str(pins / "progs"),
                            "pinmaps", str(pins / "maps")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
        assert "BTF is optional" not in r.stderr  # the sanitised BTF was accepted
        xdp = pins / "progs" / "drop_syn_flood"
        syn = eth(0x0800) + ipv4(6) + tcp(0x02)
        assert _prog_run(xdp, syn, tmp_path) == 1  # XDP_DROP
        assert _prog_run(xdp, eth(0x0800) + ipv4(6) + tcp(0x12), tmp_path) == 2  # SYN+ACK passes
        assert _prog_run(xdp, eth(0x0800) + ipv4(6, options=b"\x01\x01\x01\x00") + tcp(0x02),
                         tmp_path) == 1  # IPv4 options honoured
        assert _prog_run(xdp, syn[:40], tmp_path) == 2  # truncated TCP header: default verdict
        assert _prog_run(xdp, eth(0x0806) + bytes(28), tmp_path) == 2  # ARP
        assert _prog_run(xdp, eth(0x0800) + ipv4(17) + udp(), tmp_path) == 2
        dump = json.loads(subprocess.run(["bpftool", "-j", "map", "dump", "pinned",
                                          str(pins / "maps" / "syn_counter")],
                                         capture_output=True, text=True).stdout)
        assert sum(v["value"] for e in dump for v in e["formatted"]["values"]) == 2
        tc = pins / "progs" / "rate_limit_tcp"
        assert _prog_run(tc, syn, tmp_path) == 0  # TC_ACT_OK under the budget


# --- failure classes ---------------------------------------------------------------------
RS_POLICY = """
(defbpf-program :name "p" :kind :xdp :attach (:target "eth0") :source "body.rs")
(defbpf-policy :name "{name}" :description "d" :programs ("p"))
"""


def test_broken_crate_names_policy_and_compiler_message(spec, tmp_path):
    _need_toolchain()
    d = spec({"a.tlisp": RS_POLICY.format(name="broken"),
              "body.rs": "pub fn run(_ctx: &aya_ebpf::programs::XdpContext) -> u32 { \"no\" }\n"})
    r = build([d], tmp_path / "out")
    assert r.returncode == 3, r.stderr
    assert "policy `broken`: cargo failed to compile" in r.stderr
    assert "error[E0308]: mismatched types" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out" / "artifacts" / "broken").exists()  # nothing half-done


UNCHECKED = """pub fn run(ctx: &aya_ebpf::programs::XdpContext) -> u32 {
    // reads the EtherType without comparing against data_end: the verifier refuses it
    let proto = unsafe { core::ptr::read_volatile((ctx.data() + 12) as *const u16) };
    u32::from(proto)
}
"""


@pytest.mark.kernel
def test_verifier_rejection_names_policy_program_and_log(spec, tmp_path):
    require_kernel()
    _need_toolchain()
    d = spec({"a.tlisp": RS_POLICY.format(name="unchecked"), "body.rs": UNCHECKED})
    r = build([d], tmp_path / "out", "--verify")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "policy `unchecked`: kernel rejected program at load: program `p`" in r.stderr
    assert "verifier log:" in r.stderr and "invalid access to packet" in r.stderr


def test_object_that_disagrees_with_spec_fails_at_spec_location(spec, tmp_path):
    obj = EXAMPLES / "precompiled" / "count_udp.bpf.o"
    d = spec({"spec.tlisp":
              '(defbpf-map :name "udp_packets" :kind :hash :key-size 4 :value-size 8 :max-entries 1)\n'
              '(defbpf-program :name "count_udp" :kind :xdp :attach (:target "eth0")\n'
              '  :source "count_udp.bpf.o" :uses-maps ("udp_packets"))\n'
              '(defbpf-policy :name "pol" :description "d" :programs ("count_udp") :maps ("udp_packets"))\n'})
    shutil.copyfile(obj, d / "count_udp.bpf.o")
    r = build([d / "spec.tlisp"], tmp_path / "out")
    assert r.returncode == 3
    assert "map `udp_packets` in count_udp.bpf.o disagrees with its spec: type array (spec hash)" in r.stderr
    assert "spec.tlisp:1:" in r.stderr


def test_relative_output_folder(tmp_path):
    """`-o out` relative to the current folder (cargo itself runs inside each crate)."""
    _need_toolchain()
    r = run_cli("build", str(EXAMPLES / "tracepoint-counter.tlisp"), "-o", "out", "--target-dir",
                str(BUILD_TARGET), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "out" / "artifacts" / "openat_counter" / "openat_counter.bpf.o").exists()


def test_verify_reproducible_flag(tmp_path):
    _need_toolchain()
    r = build([EXAMPLES / "tracepoint-counter.tlisp"], tmp_path / "out", "--verify-reproducible",
              "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout)["reproducible"] is True
