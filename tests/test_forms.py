"""def-forms -> IR: keyword rules and messages as upstream's derive, plus extensions."""

from __future__ import annotations

from tatara_build.model.construct import dump
from tests.conftest import messages, rendered

MAP = '(defbpf-map :name "m" :kind :hash :key-size 4 :value-size 8 :max-entries 16)\n'


def test_canonical_forms_compile(spec):
    d = spec(a_DOT_tlisp=MAP + '(defbpf-policy :name "p" :description "d" :maps ("m"))\n')
    from tatara_build.cli.common import load_project
    p = load_project([d]).project
    assert p.maps[0].spec.wire() == {"name": "m", "kind": ":hash", "key_size": 4,
                                           "value_size": 8, "max_entries": 16, "pin_path": None}
    assert p.policies[0].spec.programs == []


def test_positional_name_and_brackets_extension(spec):
    d = spec(a_DOT_tlisp='(defbpf-map m1 :kind :array :key-size 4 :value-size 8 :max-entries 1)\n'
             '(defbpf-policy p :description "d" :maps ["m1"])\n')
    assert messages(d) == []


def test_kind_as_string_is_accepted(spec):
    d = spec(a_DOT_tlisp='(defbpf-map :name "m" :kind ":hash" :key-size 4 :value-size 8 :max-entries 1)')
    assert messages(d) == []


def test_unknown_keyword_with_did_you_mean(spec):
    d = spec(a_DOT_tlisp='(defbpf-map :name "m" :kind :hash :key-size 4 :value-sise 8 :max-entries 1)')
    [msg] = messages(d)
    assert msg == ("compile error in :value-sise: unknown keyword (did you mean :value-size?; "
                   "allowed: :key-size, :key-struct, :kind, :max-entries, :name, :pin-path, :value-size, "
                   ":value-struct)")
    assert "1 | (defbpf-map" in rendered(d)


def test_duplicate_keyword(spec):
    d = spec(a_DOT_tlisp='(defbpf-map :name "m" :name "n" :kind :hash :value-size 8 :max-entries 1)')
    assert messages(d) == ["compile error in :name: duplicate keyword"]


def test_odd_keyword_list(spec):
    d = spec(a_DOT_tlisp='(defbpf-map :name "m" :kind :hash :value-size 8 :max-entries)')
    assert messages(d) == ["odd keyword arguments: dangling element `:max-entries`"]


def test_expected_keyword(spec):
    d = spec(a_DOT_tlisp='(defbpf-map :name "m" 5 :hash :value-size 8 :max-entries 1)')
    assert messages(d) == ["compile error in kwargs[2]: expected keyword, got int"]


def test_missing_required(spec):
    d = spec(a_DOT_tlisp='(defbpf-map :name "m" :kind :hash :value-size 8)')
    assert messages(d) == ["compile error in :max-entries: required but not provided"]


def test_wrong_value_types(spec):
    d = spec(a_DOT_tlisp='(defbpf-map :name m :kind :hash :value-size 8 :max-entries 1)\n'
             '(defbpf-map :name "n" :kind :hash :value-size 8.0 :max-entries 1)\n'
             '(defbpf-policy :name "p" :description "d" :programs "x")\n'
             '(defbpf-policy :name "q" :description "d" :programs ("x" 1))\n')
    assert messages(d) == [
        "compile error in :name: expected string, got symbol",
        "compile error in :value-size: expected int, got float",
        "compile error in :programs: expected list of strings, got string",
        "compile error in :programs[1]: expected string, got int",
    ]


def test_u32_range(spec):
    d = spec(a_DOT_tlisp='(defbpf-map :name "m" :kind :hash :value-size 4294967296 :max-entries 1)')
    assert messages(d) == ["compile error in :value-size: integer 4294967296 out of u32 range (0..=4294967295)"]


def test_unknown_kind_variant(spec):
    d = spec(a_DOT_tlisp='(defbpf-map :name "m" :kind :hsh :value-size 8 :max-entries 1)')
    [msg] = messages(d)
    assert msg.startswith("compile error in :kind: unknown variant `:hsh`, expected one of `:hash`")
    assert "did you mean `:hash`?" in rendered(d)


def test_attach_sequence_form_and_nested(spec):
    d = spec(a_DOT_tlisp='(defbpf-program :name "t" :kind :tc :attach ("eth0" "egress") :source "x.bpf.o")',
             x_DOT_bpf_DOT_o="")
    from tatara_build.cli.common import load_project
    p = load_project([d], strict=False).project
    assert dump(p.programs[0].spec.attach) == {"target": "eth0", "direction": "egress"}


def test_unknown_head_is_a_warning(spec):
    d = spec(a_DOT_tlisp='(defbpf-mapp :name "m")')
    assert messages(d, "warning") == ["unknown form `(defbpf-mapp …)` ignored"]


def test_bad_bpf_fn_shape(spec):
    d = spec(a_DOT_tlisp='(bpf-fn "f" (ctx) 1)')
    assert messages(d)[0].startswith("expected `(bpf-fn name (params) body…)`")


def test_every_bad_form_reported_not_only_the_first(spec):
    d = spec(a_DOT_tlisp='(defbpf-map :name "a")\n(defbpf-map :name "b")\n')
    assert len(messages(d)) == 2
