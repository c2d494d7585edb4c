"""The bpf-fn DSL lowering: what it writes, and every error located at its form."""

from __future__ import annotations

import pytest

from tatara_build.cli.render import render_files
from tatara_build.errors import SpecError

HEAD = ('(defbpf-map :name "cnt" :kind :array :key-size 4 :value-size 8 :max-entries 4)\n'
        '(defbpf-map :name "h" :kind :hash :key-size 4 :value-size 4 :max-entries 4)\n'
        '(defbpf-map :name "wide" :kind :hash :key-size 4 :value-size 16 :max-entries 4)\n'
        '(defbpf-map :name "rb" :kind :ring-buf :max-entries 4096 :value-size 0)\n'
        '(defbpf-program :name "p" :kind {kind} :attach {attach} :source "a.tlisp:f" '
        ':uses-maps ("cnt" "h" "wide" "rb"))\n'
        '(defbpf-policy :name "pol" :description "d" :programs ("p") :maps ("cnt" "h" "wide" "rb"))\n')
ATTACH = {":xdp": '(:target "eth0")', ":tc": '(:target "eth0" :direction "ingress")',
          ":cgroup-skb": '(:target "/sys/fs/cgroup/x" :direction "egress")',
          ":tracepoint": '(:target "a/b")', ":socket-filter": '(:target "")'}


def lower(spec, body: str, kind: str = ":xdp") -> str:
    d = spec({"a.tlisp": HEAD.format(kind=kind, attach=ATTACH[kind]) + f"(bpf-fn f (ctx)\n  {body})\n"})
    files, _, _ = render_files([d])
    return files["pol/src/bodies.rs"].decode()


def lower_error(spec, body: str, kind: str = ":xdp"):
    with pytest.raises(SpecError) as exc:
        lower(spec, body, kind)
    [d] = [x for x in exc.value.diagnostics if x.severity == "error"]
    return d


def test_return_and_default(spec):
    out = lower(spec, "(return :xdp-drop)")
    assert "Some(aya_ebpf::bindings::xdp_action::XDP_DROP)" in out
    out = lower(spec, "(map-incr cnt 1)")
    assert out.rstrip().endswith("Some(aya_ebpf::bindings::xdp_action::XDP_PASS)\n}".rstrip())


def test_arithmetic_wraps_and_division_by_zero_is_zero(spec):
    out = lower(spec, "(return (+ (- 1 2) (* 3 4) (/ 5 0) (% 5 0) (<< 1 70) (& 6 3)))")
    for piece in ("wrapping_sub", "wrapping_add", "wrapping_mul", "crate::rt::div(",
                  "crate::rt::rem(", "wrapping_shl(", " & "):
        assert piece in out
    assert "unwrap" not in out and "[" not in out.split("->")[1].replace("[u8", "")


def test_let_if_and_logic(spec):
    out = lower(spec, "(let ((a (call ktime-ns)) (b 2)) (if (and (> a b) (not (= a 0))) (return a) (return :xdp-pass)))")
    assert "let a = " in out and "let b = 2_u64;" in out
    assert "unsafe { aya_ebpf::helpers::bpf_ktime_get_ns() }" in out


def test_map_ops(spec):
    out = lower(spec, "(do (map-set h 1 2) (map-add h 1 5) (map-delete h 1) (return (map-get cnt 0)))")
    assert "crate::maps::h.insert(1_u32, 2_u32, 0)" in out
    assert "crate::rt::atomic_add_u32(p, 5_u32)" in out
    assert "crate::maps::h.remove(1_u32)" in out
    assert "crate::maps::cnt.get_ptr(0_u32)" in out


def test_packet_accessors(spec):
    out = lower(spec, "(return (+ (eth-proto ctx) (ip-proto ctx) (ipv4-src ctx) (l4-dport ctx) (tcp-flags ctx) (load-u16 ctx 12)))")
    assert "crate::rt::ctx_field!(ctx.ctx, aya_ebpf::bindings::xdp_md, data_end) as usize" in out
    for m in ("eth_proto()?", "ip_proto()?", "ipv4_src()?", "l4_dport()?", "tcp_flags()?", "load_var_u16(12_u64)?"):
        assert m in out


def test_cgroup_skb_actions(spec):
    assert "Some(1)" in lower(spec, "(return :allow)", ":cgroup-skb")
    d = lower_error(spec, "(return :ok)", ":cgroup-skb")
    assert "`:ok` is ambiguous for `:cgroup-skb`" in d.message and d.help == "use :allow (1) or :drop (0)"


@pytest.mark.parametrize("body, message, col", [
    ("(return :tc-act-shot)", "unknown return action `:tc-act-shot` for `:xdp` — allowed: :xdp-pass, :xdp-drop, :xdp-tx, :xdp-redirect, :xdp-aborted", 11),
    ("(call nope)", "unknown helper `nope`", 9),
    ("(frob 1)", "unknown form `(frob …)` — bpf-fn supports only the verifier-friendly subset", 4),
    ("(if 1 2)", "`(if cond then else)` requires exactly three sub-forms", 3),
    ("(= 1)", "comparison `=` requires exactly two operands", 3),
    ("(map-get cnt)", "map operation `map-get` requires 2 args, got 1", 3),
    ("(let () 1)", "`(let)` requires a binding-list with one or more (name expr) pairs", 3),
    ("(return x)", "unknown variable `x`", 11),
    ("(map-get nope 1)", "unknown map `nope` (not in this policy's :maps)", 12),
    ("(map-get wide 1)", "map `wide` has value_size 16; the DSL reads and writes 4- or 8-byte values (u32/u64)", 12),
    ("(map-get rb 1)", "map `rb` is `:ring-buf`; the DSL's map operations work on hash and array kinds", 12),
    ("(map-delete cnt 1)", "cannot delete from array map `cnt`", 3),
    ("(return -1)", "integer -1 is outside u64 (the DSL's values are unsigned)", 11),
])
def test_errors_are_located(spec, body, message, col):
    d = lower_error(spec, body)
    assert d.message == message
    assert d.span.file.endswith("a.tlisp") and d.span.line == 8 and d.span.col == col


def test_packet_reads_need_a_packet(spec):
    d = lower_error(spec, "(return (ip-proto ctx))", ":tracepoint")
    assert "reads packet headers; `:tracepoint` programs have none" in d.message
    d = lower_error(spec, "(return (eth-proto ctx))", ":cgroup-skb")
    assert "packets start at the IP header" in d.message


def test_map_must_be_in_uses_maps(spec):
    d = spec({"a.tlisp": '(defbpf-map :name "m" :kind :array :key-size 4 :value-size 8 :max-entries 1)\n'
              '(defbpf-program :name "p" :kind :xdp :attach (:target "e") :source "a.tlisp:f")\n'
              '(defbpf-policy :name "pol" :description "d" :programs ("p") :maps ("m"))\n'
              '(bpf-fn f (ctx) (map-incr m 0) (return :xdp-pass))\n'})
    with pytest.raises(SpecError) as exc:
        render_files([d])
    assert "uses map `m` without listing it in :uses-maps" in exc.value.diagnostics[0].message
