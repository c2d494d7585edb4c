"""`check` refuses every bpf-fn body that `render` would refuse, at the form's location;
local names never collide in Rust (issue 10)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tatara_build.cli.render import render_files
from tatara_build.lower.bpf_fn.names import LocalNames
from tests.conftest import run_cli
from tests.test_bpf_fn import ATTACH, HEAD


def _spec(spec, body: str, kind: str = ":xdp"):
    return spec({"a.tlisp": HEAD.format(kind=kind, attach=ATTACH[kind])
                 + f"(bpf-fn f (ctx)\n  {body})\n"})


def test_check_refuses_an_unknown_helper_at_its_location(spec):
    d = _spec(spec, "(return (call get-current-pgid))")
    r = run_cli("check", str(d / "a.tlisp"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "a.tlisp:8:17" in r.stderr and "unknown helper `get-current-pgid`" in r.stderr
    assert "Traceback" not in r.stderr


def test_check_refuses_a_16_byte_value_read_as_a_number(spec):
    d = _spec(spec, "(return (map-get wide 1))")
    r = run_cli("check", str(d / "a.tlisp"))
    assert r.returncode == 1
    assert "a.tlisp:8:20" in r.stderr and "map `wide` has value_size 16" in r.stderr


def test_and_with_965_operands_checks_and_renders_flat(spec):
    ops = " ".join(f"(> (call ktime-ns) {i})" for i in range(965))
    d = _spec(spec, f"(if (and {ops}) (return :xdp-drop) (return :xdp-pass))")
    r = run_cli("check", str(d / "a.tlisp"))
    assert r.returncode == 0, r.stderr[-2000:]
    files, _, _ = render_files([d])
    body = files["pol/src/bodies.rs"].decode()
    assert body.count("if t") >= 965
    assert max(len(ln) - len(ln.lstrip()) for ln in body.splitlines()) <= 12  # not nested


def test_deep_nesting_is_a_located_error_not_a_crash(spec):
    deep = "(+ 1 " * 300 + "1" + ")" * 300
    d = _spec(spec, f"(return {deep})")
    r = run_cli("check", str(d / "a.tlisp"))
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr[-2000:]
    if r.returncode == 1:
        assert "a.tlisp:" in r.stderr


def test_a_and_v_a_are_two_variables(spec):
    files, _, _ = render_files([_spec(spec, "(let ((A 7) (v_a 2)) (return A))")])
    body = files["pol/src/bodies.rs"].decode()
    assert "let v_a = 7_u64;" in body and "let v_a_2 = 2_u64;" in body
    assert "Some(v_a as u32)" in body


def test_shadowing_does_not_leak_out_of_the_inner_let(spec):
    files, _, _ = render_files([_spec(spec, "(let ((x 1)) (do (let ((x 2)) 0) (return x)))")])
    body = files["pol/src/bodies.rs"].decode()
    assert "let x = 1_u64;" in body and "let x_2 = 2_u64;" in body
    assert "Some(x as u32)" in body


NAME = st.text(alphabet="abcAB_-v0129!?*", min_size=1, max_size=8)


@settings(max_examples=400, deadline=None)
@given(st.lists(NAME, min_size=1, max_size=30))
def test_local_names_are_injective_and_valid_rust(names):
    alloc = LocalNames()
    out = [alloc.fresh(n) for n in names]
    assert len(set(out)) == len(out)  # one identifier per binding, never shared
    for rust in out:
        assert rust.isidentifier() and rust.isascii() and rust == rust.lower()
        assert rust not in ("pkt", "ctx", "_ctx", "_") and not (rust[0] == "t" and rust[1:].isdigit())
