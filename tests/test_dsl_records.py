"""Records in maps (issue 14): check refuses bad record use at its location; the struct
reaches BTF (bpftool prints fields by name); the `map` verb decodes records by field."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tatara_build.cli.render import render_files
from tests.conftest import EXAMPLES, build_cli, run_cli
from tests.kernel_util import require_kernel

HEAD = ('(defbpf-struct :name "flow" :fields ((src :ipv4) (dport :u16) (proto :u8)))\n'
        '(defbpf-struct :name "stats" :fields ((packets :u64) (bytes :u64) (comm (:bytes 16))))\n'
        '(defbpf-map :name "flows" :kind :hash :key-size 8 :value-size 32 :max-entries 64\n'
        '  :key-struct "flow" :value-struct "stats")\n'
        '(defbpf-map :name "rb" :kind :ring-buf :max-entries 4096 :value-size 0 :value-struct "flow")\n'
        '(defbpf-map :name "cnt" :kind :array :key-size 4 :value-size 8 :max-entries 4)\n'
        '(defbpf-program :name "p" :kind :xdp :attach (:target "eth0") :source "a.tlisp:f"\n'
        '  :uses-maps ("flows" "rb" "cnt"))\n'
        '(defbpf-policy :name "pol" :description "d" :programs ("p") :maps ("flows" "rb" "cnt"))\n')


def _render(spec, body: str) -> str:
    d = spec({"a.tlisp": HEAD + f"(bpf-fn f (ctx)\n  {body})\n"})
    files, _, _ = render_files([d])
    return files["pol/src/bodies.rs"].decode() + files["pol/src/records.rs"].decode() \
        + files["pol/src/maps.rs"].decode()


def _check(spec, body: str) -> str:
    d = spec({"a.tlisp": HEAD + f"(bpf-fn f (ctx)\n  {body})\n"})
    r = run_cli("check", str(d / "a.tlisp"))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stdout + r.stderr
    return r.stderr


def test_records_lower_to_repr_c_structs_in_maps(spec):
    out = _render(spec, "(let ((k (record flow (src (ipv4-src ctx)) (dport (l4-dport ctx)))))\n"
                        "  (map-add flows k bytes (packet-len ctx))\n"
                        "  (emit rb k)\n"
                        "  (when (map-has flows k) (return (get (map-get flows k) packets)))\n"
                        "  (return :xdp-pass))")
    assert "#[repr(C)]" in out and "pub struct Flow {" in out and "pub src: [u8; 4]," in out
    assert "btf_maps::HashMap<crate::records::Flow, crate::records::Stats, 64>" in out
    assert "src: (t1 as u32).to_be_bytes()," in out and "..crate::records::Flow::ZERO" in out
    assert "crate::rt::atomic_add_u64(&raw mut (*p).bytes," in out
    assert "output_untyped::<crate::records::Flow>(&k, 0)" in out
    assert "let k = " in out and "let mut k" not in out  # never `set`: no unused mut


def test_set_makes_the_binding_mutable(spec):
    out = _render(spec, "(let ((s (record stats))) (set s comm (call get-current-comm))"
                        " (set s packets 1) (map-set flows (record flow) s) (return :xdp-pass))")
    assert "let t1 = crate::records::Stats::ZERO;" in out and "let mut s = t1;" in out
    assert "s.comm = t" in out and "s.packets = 1_u64;" in out


@pytest.mark.parametrize("body, message, line_col", [
    ("(return (map-get flows 1))", "expected a record here (a `flow`)", "11:26"),
    ("(return (get (record flow) port))", "struct `flow` has no field `port`", "11:30"),
    ("(emit cnt (record flow))", "map `cnt` is `:array`; `emit` sends to a ring buffer", "11:9"),
    ("(emit rb (record stats))", "expected a `flow` record, got a `stats`", "11:12"),
    ("(return (record flow))", "this is a flow record, not a number", "11:11"),
    ("(let ((s (record stats))) (set s comm 1))", "field `comm` is bytes:16; this value is not", "11:41"),
    ("(return (tp-field ctx flow dport))", "`(tp-field …)` reads a tracepoint record", "11:11"),
    ("(return (record flw))", "unknown struct `flw`", "11:19"),
])
def test_check_refuses_bad_record_use_at_its_location(spec, body, message, line_col):
    err = _check(spec, body)
    assert message in err and f"a.tlisp:{line_col}" in err, err


def test_struct_and_map_sizes_are_checked(spec):
    d = spec({"a.tlisp": '(defbpf-struct :name "k" :fields ((a :u32) (b :u8)))\n'
              '(defbpf-struct :name "bad" :fields ((a :u24)))\n'
              '(defbpf-map :name "m" :kind :hash :key-size 5 :value-size 8 :max-entries 4 '
              ':key-struct "k")\n'
              '(defbpf-map :name "n" :kind :hash :key-size 8 :value-size 8 :max-entries 4 '
              ':value-struct "kk")\n'})
    r = run_cli("check", str(d / "a.tlisp"))
    assert r.returncode == 1
    assert "map `m`: key_size 5 but struct `k` is 8 bytes" in r.stderr and "set :key-size (key_size in TOML/JSON) to 8" in r.stderr
    assert "unknown field type `u24`" in r.stderr and "a.tlisp:2:" in r.stderr
    assert "map `n`: unknown struct `kk`" in r.stderr and "did you mean `k`?" in r.stderr


def test_toml_twin_of_a_struct(spec):
    d = spec({"s.toml": '[[structs]]\nname = "flow"\nfields = [{name = "src", type = "ipv4"}, '
              '{name = "port", type = "u16"}]\n'
              '[[maps]]\nname = "m"\nkind = ":hash"\nkey_size = 6\nvalue_size = 8\n'
              'max_entries = 4\nkey_struct = "flow"\n'})
    r = run_cli("check", str(d / "s.toml"), "--json")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.kernel
@pytest.mark.compile
def test_btf_names_record_fields_and_the_map_verb_decodes_them(tmp_path):
    require_kernel()
    spec = EXAMPLES / "xdp-stats.tlisp"
    r = build_cli([spec], tmp_path / "out")
    assert r.returncode == 0, r.stderr[-3000:]
    obj = tmp_path / "out/artifacts/xdp_stats_policy/xdp_stats_policy.bpf.o"
    root = Path(f"/sys/fs/bpf/tt-rec-{os.getpid()}")
    maps = root / "xdp_stats_policy" / "maps"
    try:
        maps.mkdir(parents=True)
        subprocess.run(["bpftool", "prog", "loadall", str(obj), str(root / "progs"), "pinmaps",
                        str(maps)], check=True, capture_output=True)
        out = json.loads(subprocess.run(["bpftool", "-j", "map", "dump", "pinned",
                                         str(maps / "xdp_stats_map")], check=True,
                                        capture_output=True, text=True).stdout)
        assert out[0]["formatted"]["values"][0]["value"] == {"rx_packets": 0, "rx_bytes": 0}
        r = run_cli("map", "dump", "xdp_stats_policy", "xdp_stats_map", str(spec), "--pin-root",
                    str(root), "--json")
        assert r.returncode == 0, r.stderr
        entry = json.loads(r.stdout)["entries"][0]
        assert entry["key"] == 0 and entry["value"][0] == {"rx_packets": 0, "rx_bytes": 0}
        r = run_cli("map", "dump", "xdp_stats_policy", "xdp_stats_map", str(spec), "--pin-root",
                    str(root))
        assert "0: [rx_packets=0 rx_bytes=0" in r.stdout
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_map_add_of_several_fields_uses_one_lookup(spec):
    out = _render(spec, "(do (map-add flows (record flow) (packets 1) (bytes (packet-len ctx)))"
                        " (return :xdp-pass))")
    assert out.count("get_ptr_mut(") == 1
    assert "atomic_add_u64(&raw mut (*p).packets, 1_u64)" in out
    assert "atomic_add_u64(&raw mut (*p).bytes, t" in out
    assert "packets: 1_u64," in out and "..crate::records::Stats::ZERO" in out  # insert when absent


def test_set_assigns_a_let_variable_so_one_update_covers_every_path(spec):
    out = _render(spec, "(let ((verdict :xdp-pass) (hits 0))\n"
                        "  (when (= (ip-proto ctx) 1) (set verdict :xdp-drop) (set hits (+ hits 1)))\n"
                        "  (map-add cnt 0 hits)\n"
                        "  (return verdict))")
    assert "let mut verdict = t1;" in out and "let mut hits = 0_u64;" in out
    assert "verdict = t" in out and "hits = t" in out
    assert out.count("let mut ") == 2  # only what `set` writes is mut


def test_helper_bpf_fns_are_inlined_with_their_parameters(spec):
    d = spec({"a.tlisp": HEAD + "(bpf-fn count (m-key d) (map-add cnt m-key d))\n"
              "(bpf-fn twice (x) (+ x x))\n(bpf-fn icmp? (c) (= (ip-proto c) 1))\n"
              "(bpf-fn f (ctx)\n  (count 1 (twice (packet-len ctx)))\n"
              "  (if (icmp? ctx) (return :xdp-drop) (return :xdp-pass)))\n"})
    files, _, _ = render_files([d])
    out = files["pol/src/bodies.rs"].decode()
    assert out.count("crate::rt::atomic_add_u64(p,") == 1 and ".wrapping_add(" in out
    assert "hdr.ip_proto()?" in out


@pytest.mark.parametrize("fns, message", [
    ("(bpf-fn a (x) (b x))\n(bpf-fn b (x) (a x))\n(bpf-fn f (ctx) (return (a 1)))\n",
     "bpf-fn `a` calls itself (through a -> b)"),
    ("(bpf-fn a (x y) (+ x y))\n(bpf-fn f (ctx) (return (a 1)))\n",
     "bpf-fn `a` takes 2 argument(s) (x y), got 1"),
    ("(bpf-fn a (x) (+ x ctx))\n(bpf-fn f (ctx) (return (a 1)))\n", "unknown variable `ctx`"),
    ("(bpf-fn a (c) (ip-proto c))\n(bpf-fn f (ctx) (return (a 1)))\n",
     "`(ip-proto …)` takes the context"),
])
def test_helper_calls_are_checked(spec, fns, message):
    d = spec({"a.tlisp": HEAD + fns})
    r = run_cli("check", str(d / "a.tlisp"))
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
