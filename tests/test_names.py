"""Name styles: kebab, snake and mixed names for policies, programs and maps work in
every verb (one ident in the model), and every mangling to Rust is injective."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tatara_build.lower.naming import identifier_problem, rust_ident
from tatara_build.model.ir import ident
from tests.conftest import EXAMPLES, messages, run_cli

RUST_IDENT = re.compile(r"(?:r#)?[A-Za-z_][A-Za-z0-9_]*\Z")


def small_spec(pol: str, prog: str, mp: str, fn: str = "count-all", ref: str | None = None) -> str:
    """One xdp program counting packets into one array map; `ref` is how the policy,
    the program's :uses-maps and the test spell the map (default: as declared)."""
    ref = ref or mp
    return f'''(defbpf-map :name "{mp}" :kind :array :key-size 4 :value-size 8 :max-entries 1)
(defbpf-program :name "{prog}" :kind :xdp :attach (:target "eth0")
  :source "s.tlisp:{fn}" :uses-maps ("{ref}"))
(defbpf-policy :name "{pol}" :description "name styles" :programs ("{prog}") :maps ("{ref}"))
(bpf-fn {fn} (ctx)
  (map-incr {ref} 0)
  (return :xdp-pass))
(defbpf-test :name "counted" :program "{prog}" :packet (:ipv4 () :udp (:dport 53))
  :expect :xdp-pass :maps-after ((:map "{ref}" :key 0 :value 1)))
'''


def test_references_resolve_in_any_spelling(spec):
    folder = spec({"s.tlisp": small_spec("edge-pol", "drop-syn", "syn-counter", ref="syn_counter")})
    assert messages(folder) == []


def test_policy_and_test_may_spell_the_program_differently(spec):
    text = small_spec("edge-pol", "drop-syn", "syn-counter").replace(
        ':programs ("drop-syn")', ':programs ("drop_syn")').replace(
        ':program "drop-syn"', ':program "drop_syn"')
    assert ':programs ("drop_syn")' in text and ':program "drop_syn"' in text
    assert messages(spec({"s.tlisp": text})) == []


def test_kebab_and_snake_of_one_name_are_refused_as_duplicates(spec):
    text = small_spec("p", "a", "syn-counter") + \
        '(defbpf-map :name "syn_counter" :kind :array :key-size 4 :value-size 8 :max-entries 1)\n'
    assert any("collides with `syn-counter` (both are `syn_counter`" in m
               for m in messages(spec({"s.tlisp": text})))


def test_renamed_example_policy_checks_and_renders(spec, tmp_path):
    """Upstream's example with its policy renamed `edge-protection` (issue 10)."""
    text = (EXAMPLES / "edge-protection.tlisp").read_text().replace(
        ':name "edge_protection"', ':name "edge-protection"')
    folder = spec({"edge-protection.tlisp": text})
    assert run_cli("check", str(folder)).returncode == 0
    r = run_cli("render", str(folder), "-o", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out/crates/edge_protection/Cargo.toml").is_file()


def test_rust_keywords_and_long_names(spec):
    folder = spec({"s.tlisp": small_spec("loop", "type", "match")})
    assert messages(folder) == []  # keywords work (r#type, exported as `type`)
    long = spec({"s.tlisp": small_spec("p" * 300, "a", "m")})
    assert any("is 300 characters long (at most 64)" in m for m in messages(long))


def test_program_names_taken_by_the_generated_crate_are_refused(spec):
    for taken in ("panic", "LICENSE"):
        folder = spec({"s.tlisp": small_spec("p", taken, "m")})
        assert f"program name `{taken}` is taken by the generated crate's `{taken}` item" in \
            messages(folder)
    assert messages(spec({"s.tlisp": small_spec("p", "q", "panic")})) == []  # maps: own module


def test_bidi_and_control_characters_in_names_are_refused(spec):
    for bad in ("a\u202eb", "a\u2066b", "a\x07b", "a b", "é"):
        folder = spec({"s.tlisp": small_spec("p", bad, "m")})
        assert any(m.startswith(f"program name `{bad}`") for m in messages(folder)), bad


NAMES = st.text(alphabet="abAB_-01", min_size=1, max_size=6)


@settings(max_examples=300)
@given(NAMES, NAMES)
def test_spec_names_either_collide_in_check_or_map_to_distinct_idents(a, b):
    """Two map names: check refuses them, or they become different Rust items."""
    from tatara_build.model.ir import Located, MapSpec, Project
    from tatara_build.validate import validate

    project = Project()
    for n in (a, b):
        project.maps.append(Located(MapSpec(name=n, kind=":array", key_size=4, value_size=8,
                                            max_entries=1), "s.tlisp"))
    refused = any(d.severity == "error" for d in validate(project))
    if not refused:
        assert a != b and rust_ident(a) != rust_ident(b) and ident(a) != ident(b)
        assert identifier_problem(a) is None and identifier_problem(b) is None
