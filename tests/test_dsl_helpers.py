"""Helpers per program kind, context fields, map-has, byte swaps, actions as values (issue 14)."""

from __future__ import annotations

import pytest

from tests.test_bpf_fn import lower, lower_error

STACK = ('(defbpf-map :name "st" :kind :stack-trace :key-size 4 :value-size 1016 '
         ':max-entries 64)\n')


def test_unknown_helper_lists_the_ones_this_kind_may_call(spec):
    d = lower_error(spec, "(return (call ktime-n))")
    assert d.message == "unknown helper `ktime-n`"
    assert d.help.startswith("did you mean `ktime-ns`? helpers for `:xdp`: ")
    assert "redirect" in d.help and "get-stackid" not in d.help and "BPF_HELPERS" not in d.help


@pytest.mark.parametrize("kind, body", [
    (":tracepoint", "(return (call redirect 1 0))"),
    (":cgroup-skb", "(return (call csum-diff 1 2 0))"),
    (":socket-filter", "(return (call redirect 1 0))"),
    (":tc", "(return (call redirect-map cnt 1 0))"),
])
def test_a_helper_the_kernel_refuses_for_the_kind_is_a_located_error(spec, kind, body):
    d = lower_error(spec, body, kind)
    assert d.message.startswith(f"helper `{body.split()[2]}` is not allowed in `{kind}` programs")
    assert d.span.line == 8 and d.span.col == 17
    assert "ktime-ns" in d.help


def test_redirect_map_needs_a_redirect_map(spec):
    d = lower_error(spec, "(return (call redirect-map cnt 1 2))")
    assert d.message == ("map `cnt` is `:array`; this argument needs a `:devmap` or "
                         "`:devmap-hash` or `:cpumap` map") and d.span.col == 30


def test_helper_arity_and_printk_format_are_checked(spec):
    d = lower_error(spec, "(return (call redirect 1))")
    assert d.message == "helper `redirect` takes 2 argument(s): `(call redirect u64 u64)`"
    d = lower_error(spec, '(do (call trace-printk "x=%llu y=%llu" 1) (return :xdp-pass))')
    assert "2 conversion(s) for 1 value(s)" in d.message


def test_new_helpers_lower_to_aya(spec):
    out = lower(spec, '(do (call trace-printk "pid %llu, 100%%" (call get-current-tgid))'
                      ' (return (+ (call get-current-pid) (call csum-diff 1 2 0))))')
    assert 'bpf_printk!(c"pid %llu, 100%%", t' in out
    assert "bpf_get_current_pid_tgid() >> 32" in out and "crate::rt::csum_diff32(" in out
    out = lower(spec, "(return (call redirect 3 0))")
    assert "aya_ebpf::helpers::bpf_redirect(3_u64 as u32, 0_u64)" in out


def test_ctx_fields_per_kind(spec):
    out = lower(spec, "(return (+ (ctx-field ctx mark) (ctx-field ctx protocol)))", ":tc")
    assert "crate::rt::ctx_field!(ctx.skb.skb, aya_ebpf::bindings::__sk_buff, mark)" in out
    assert "u16::from_be(crate::rt::ctx_field!(ctx.skb.skb, aya_ebpf::bindings::__sk_buff, " \
        "protocol) as u16)" in out
    out = lower(spec, "(return (ctx-field ctx ingress-ifindex))")
    assert "crate::rt::ctx_field!(ctx.ctx, aya_ebpf::bindings::xdp_md, ingress_ifindex)" in out
    d = lower_error(spec, "(return (ctx-field ctx mark))")
    assert d.message == "unknown context field `mark` for `:xdp`" and d.span.col == 26
    assert "ingress_ifindex" in d.help
    d = lower_error(spec, "(return (ctx-field ctx pid))", ":tracepoint")
    assert "no context fields" in d.message


def test_map_has_bswap_and_actions_as_values(spec):
    out = lower(spec, "(if (map-has h 7) (return (bswap16 258)) (return :xdp-drop))")
    assert "crate::rt::has(crate::maps::h.get_ptr(7_u32))" in out
    assert "(258_u64 as u16).swap_bytes()" in out
    out = lower(spec, "(let ((verdict (if (map-has h 1) :xdp-drop :xdp-pass))) (return verdict))")
    assert "aya_ebpf::bindings::xdp_action::XDP_DROP as u64" in out
    out = lower(spec, "(return :tc-act-unspec)", ":tc")
    assert "Some(-1)" in out
    out = lower(spec, "(let ((v :tc-act-unspec)) (return v))", ":tc")
    assert "-1_i64 as u64" in out


@pytest.mark.kernel
@pytest.mark.compile
def test_helpers_and_context_fields_in_the_kernel(tmp_path):
    import json

    from tests.conftest import BUILD_TARGET, ROOT, run_cli
    from tests.kernel_util import require_kernel

    require_kernel()
    r = run_cli("test", str(ROOT / "tests/fixtures/dsl_helpers.tlisp"), "--target-dir",
                str(BUILD_TARGET), "--json")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    data = json.loads(r.stdout)
    assert (data["passed"], data["failed"]) == (9, 0)


@pytest.mark.kernel
@pytest.mark.compile
def test_libbpf_bootstrap_tc_port_runs(tmp_path):
    import json

    from tests.conftest import BUILD_TARGET, ROOT, run_cli
    from tests.kernel_util import require_kernel

    require_kernel()
    r = run_cli("test", str(ROOT / "tests/fixtures/ports.tlisp"), "--target-dir",
                str(BUILD_TARGET), "--json")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (json.loads(r.stdout)["passed"], json.loads(r.stdout)["failed"]) == (1, 0)
