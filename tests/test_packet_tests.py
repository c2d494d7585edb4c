"""defbpf-test: the form, its validation, the packet builder, and `tatara-build test`
running every example's and the DSL fixture's tests in the kernel."""

from __future__ import annotations

import json
import struct

import pytest

from tatara_build.model.testspec import Packet
from tatara_build.testing.packets import build
from tests.conftest import BUILD_TARGET, EXAMPLES, ROOT, messages, run_cli
from tests.kernel_util import require_kernel

DSL = ROOT / "tests" / "fixtures" / "dsl.tlisp"


def test_packet_builder_layers_and_checksum():
    pkt = build(Packet(ipv4={"src": "10.0.0.1", "dst": "10.0.0.2", "options": "01010100"},
                       tcp={"sport": 1, "dport": 2, "flags": "SA"}))
    assert pkt[12:14] == b"\x08\x00"
    assert pkt[14] == 0x46  # IHL 6 with one word of options
    total = struct.unpack("!H", pkt[16:18])[0]
    assert total == len(pkt) - 14 == 24 + 20
    hdr = pkt[14:38]
    s = sum(struct.unpack("!12H", hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    assert s == 0xFFFF  # header checksum verifies
    assert pkt[38 + 13] == 0x12  # SYN|ACK
    assert build(Packet(hex="00" * 14)) == b"\0" * 14
    v6 = build(Packet(ipv6={}, udp={"dport": 53}))
    assert v6[12:14] == b"\x86\xdd" and v6[14 + 6] == 17


BASE = ('(defbpf-map :name "m" :kind :array :key-size 4 :value-size 8 :max-entries 1)\n'
        '(defbpf-program :name "p" :kind :xdp :attach (:target "e") :source "a.tlisp:f" :uses-maps ("m"))\n'
        '(defbpf-program :name "tp" :kind :tracepoint :attach (:target "a/b") :source "a.tlisp:g")\n'
        '(defbpf-policy :name "pol" :description "d" :programs ("p" "tp") :maps ("m"))\n'
        '(bpf-fn f (ctx) (return :xdp-pass))\n(bpf-fn g (ctx) (return :ok))\n')


@pytest.mark.parametrize("test_form, expect", [
    ('(defbpf-test :name "t" :program "nope" :expect :xdp-pass)', "test `t`: no program `nope`"),
    ('(defbpf-test :name "t" :program "p" :expect :tc-act-ok)', "`:tc-act-ok` is not an action of `:xdp`"),
    ('(defbpf-test :name "t" :program "tp" :expect :ok)', "`:tracepoint` programs cannot be test-run"),
    ('(defbpf-test :name "t" :program "p" :expect :xdp-pass :maps-after ((:map "zz" :key 0 :value 1)))',
     "map `zz` is not a map of policy `pol`"),
    ('(defbpf-test :name "t" :program "p" :expect :xdp-pass :maps-before ((:map "m" :key 0 :value "hex:01")))',
     "value of `m` has 1 bytes, the map's size is 8"),
    ('(defbpf-test :name "t" :program "p" :expect :xdp-pass :packet (:ipv4 () :ipv6 ()))',
     "a packet has one of :arp, :ipv4, :ipv6, not :ipv4 and :ipv6"),
    ('(defbpf-test :name "t" :program "p" :expect :xdp-pass :packet (:hex "0011"))',
     "at least 14 bytes"),
    ('(defbpf-test :name "t" :program "p" :expect :xdp-pass :packet (:ipv4 (:src "1.2.3")))',
     "compile error in :packet.ipv4.src"),
    ('(defbpf-test :name "t" :program "p" :expect :xdp-pass :packet (:tcp (:flags "SQ")))',
     "unknown TCP flag letters Q"),
])
def test_bad_tests_are_located_errors(spec, test_form, expect):
    d = spec({"a.tlisp": BASE + test_form + "\n"})
    found = messages(d)
    assert any(expect in m for m in found), found


def test_toml_twin(spec):
    d = spec({"a.tlisp": BASE, "t.toml": '[[tests]]\nname = "t"\nprogram = "p"\nexpect = ":xdp-drop"\n'
                                         '[tests.packet.ipv4]\nsrc = "10.0.0.1"\n[tests.packet.tcp]\nflags = "S"\n'})
    assert messages(d) == []


def _run_tests(path, tmp_path, *extra):
    return run_cli("test", str(path), "-o", str(tmp_path / "out"), "--target-dir",
                   str(BUILD_TARGET), *extra)


@pytest.mark.kernel
@pytest.mark.compile
@pytest.mark.parametrize("path, count", [(EXAMPLES, 20), (DSL, 17)])
def test_every_declared_test_passes_in_the_kernel(path, count, tmp_path):
    require_kernel()
    r = _run_tests(path, tmp_path, "--json")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    data = json.loads(r.stdout)
    assert (data["passed"], data["failed"]) == (count, 0)


@pytest.mark.kernel
@pytest.mark.compile
def test_a_failing_expectation_exits_1_with_a_summary(spec, tmp_path):
    require_kernel()
    base = BASE.replace('(defbpf-program :name "tp" :kind :tracepoint :attach (:target "a/b") '
                        ':source "a.tlisp:g")\n', "").replace('("p" "tp")', '("p")')
    d = spec({"a.tlisp": base + '(defbpf-test :name "wrong" :program "p" :expect :xdp-drop\n'
                                '  :maps-after ((:map "m" :key 0 :value 3)))\n'})
    r = _run_tests(d / "a.tlisp", tmp_path)
    assert r.returncode == 1, r.stderr
    assert "FAILED wrong: verdict 2, expected 1 (:xdp-drop)" in r.stdout
    assert "FAILED wrong: map m[0] = 0, expected 3" in r.stdout
    assert "0 passed, 1 failed" in r.stdout
