"""Issue 15, read side: VLAN/QinQ-aware offsets, IPv6 accessors, ICMP fields and
`(on-short …)`: what the lowering writes and every misuse located at its form. The kernel
half (real packets through BPF_PROG_TEST_RUN) is tests/fixtures/parse.tlisp and
examples/xdp-parser.tlisp, run by test_parse_fixture_in_the_kernel below."""

from __future__ import annotations

import json

import pytest

from tests.conftest import BUILD_TARGET, ROOT, run_cli
from tests.kernel_util import require_kernel
from tests.test_bpf_fn import lower, lower_error

FIXTURE = ROOT / "tests" / "fixtures" / "parse.tlisp"
EXAMPLE = ROOT / "examples" / "xdp-parser.tlisp"


def test_new_accessors_lower_to_pkt_methods(spec):
    out = lower(spec, "(return (+ (vlan-id ctx) (vlan-count ctx) (ipv6-next-header ctx) "
                      "(ipv6-hop-limit ctx) (ipv6-src-hi ctx) (ipv6-dst-lo ctx) (icmp-seq ctx)))")
    for m in ("vlan_id()?", "vlan_count()?", "ipv6_next_header()?", "ipv6_hop_limit()?",
              "ipv6_src_hi()?", "ipv6_dst_lo()?", "icmp_seq()?"):
        assert f"hdr.{m}" in out


def test_on_short_wraps_the_body_and_runs_its_own(spec):
    out = lower(spec, "(on-short (map-incr cnt 3) (return :xdp-aborted))\n"
                      "  (return (if (= (ip-proto ctx) 1) :xdp-drop :xdp-pass))")
    head, tail = out.split("if body.is_some() {")
    assert "let body = (|| -> Option<u32> {" in head and "hdr.ip_proto()?" in head
    assert "crate::maps::cnt" in tail and "Some(aya_ebpf::bindings::xdp_action::XDP_ABORTED)" in tail
    assert "ip_proto" not in tail


@pytest.mark.parametrize("body, kind, message, line, col", [
    ("(return (vlan-id ctx))", ":cgroup-skb",
     "`(vlan-id …)`: `:cgroup-skb` packets start at the IP header", 8, 11),
    ("(return (vlan-count))", ":xdp", "`(vlan-count …)` takes the context `ctx`", 8, 11),
    ("(return (ipv6-src-hi ctx 1))", ":xdp", "`(ipv6-src-hi …)` takes the context `ctx`", 8, 11),
    ("(return (ipv6-hop-limit ctx))", ":tracepoint",
     "`(ipv6-hop-limit …)` reads packet headers; `:tracepoint` programs have none", 8, 11),
    ("(return (ipv6-src ctx))", ":xdp",
     "this is a ipv6 record, not a number", 8, 11),
    ("(return (+ 1 (icmp-seq 7)))", ":xdp", "`(icmp-seq …)` takes the context `ctx`", 8, 16),
    ("(when 1 (on-short (return :xdp-drop)))\n  (return :xdp-pass)", ":xdp",
     "`(on-short …)` must be the first form of a program's bpf-fn body", 8, 11),
    ("(return (g ctx)))\n(bpf-fn g (c) (on-short (return :xdp-drop)) (ip-proto c)", ":xdp",
     "`(on-short …)` must be the first form of a program's bpf-fn body", 9, 15),
    ("(on-short (return :xdp-drop))", ":xdp",
     "`(on-short …)` handles the reads of the forms after it; this body has none", 8, 3),
    ("(on-short)\n  (return :xdp-pass)", ":xdp", "`(on-short body…)` needs a body", 8, 3),
    ("(on-short (return :ok))\n  (return :ok)", ":tracepoint",
     "`(on-short …)`: `:tracepoint` programs have no packet", 8, 3),
    ("(on-short (return :tc-act-shot))\n  (return :xdp-pass)", ":xdp",
     "unknown return action `:tc-act-shot` for `:xdp`", 8, 21),
])
def test_misuse_is_refused_at_its_location(spec, body, kind, message, line, col):
    d = lower_error(spec, body, kind)
    assert message in d.message, d.message
    assert d.span.file.endswith("a.tlisp") and (d.span.line, d.span.col) == (line, col)


def test_ipv6_address_fills_an_ipv6_record_field_only(spec):
    from tests.conftest import messages
    base = ('(defbpf-struct :name "k6" :fields ((addr :ipv6)))\n'
            '(defbpf-struct :name "k4" :fields ((addr :ipv4) (mac :mac)))\n'
            '(defbpf-map :name "by_src" :kind :hash :key-size 16 :value-size 8 :max-entries 8'
            ' :key-struct "k6")\n'
            '(defbpf-program :name "p" :kind :xdp :attach (:target "e") :source "a.tlisp:f"'
            ' :uses-maps ("by_src"))\n'
            '(defbpf-policy :name "pol" :description "d" :programs ("p") :maps ("by_src"))\n')
    ok = base + "(bpf-fn f (ctx) (map-incr by_src (record k6 (addr (ipv6-src ctx)))) (return :xdp-pass))\n"
    assert messages(spec({"a.tlisp": ok})) == []
    bad = base + "(bpf-fn f (ctx) (let ((r (record k4 (mac (ipv6-dst ctx))))) (return :xdp-pass)))\n"
    found = messages(spec({"a.tlisp": bad}))
    assert any("field `mac` is mac; this value is not" in m for m in found), found


def _run(path, tmp_path):
    return run_cli("test", str(path), "-o", str(tmp_path / "out"), "--target-dir",
                   str(BUILD_TARGET), "--json")


@pytest.mark.kernel
@pytest.mark.compile
@pytest.mark.parametrize("path, count", [(FIXTURE, 18), (EXAMPLE, 7)], ids=["fixture", "example"])
def test_parse_tests_pass_in_the_kernel(path, count, tmp_path):
    """Every accessor on real packets: untagged, 802.1Q, QinQ, three tags, IPv6 with
    extension headers (hop-by-hop, routing, fragment, AH, dest opts), truncated ones."""
    require_kernel()
    r = _run(path, tmp_path)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-3000:]
    data = json.loads(r.stdout)
    assert (data["passed"], data["failed"]) == (count, 0), data
