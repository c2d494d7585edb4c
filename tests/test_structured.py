"""TOML/JSON specs: same IR as Lisp, located errors, deterministic round trips."""

from __future__ import annotations

import json
from pathlib import Path

from tatara_build.cli.common import load_project
from tatara_build.model.ir import attest_value
from tests.conftest import EXAMPLES, messages, rendered, run_cli

ROOT_FS = Path('/')

TOML = '''
[[maps]]
name = "m"
kind = ":hash"
key_size = 4
value_size = 8
max_entries = 16

[[policies]]
name = "p"
description = "d"
maps = ["m"]
'''


def test_toml_and_json_read_like_lisp(spec):
    d1 = spec({"a.toml": TOML})
    lisp = '(defbpf-map :name "m" :kind :hash :key-size 4 :value-size 8 :max-entries 16)\n' \
           '(defbpf-policy :name "p" :description "d" :maps ("m"))'
    d2 = spec({"sub/b.tlisp": lisp})
    assert load_project([d1 / "a.toml"]).project.wire() == load_project([d2 / "sub"]).project.wire()


def test_structured_errors_name_file_line_and_field(spec):
    d = spec({"a.toml": TOML.replace('kind = ":hash"', 'kind = "hash"')})
    [msg] = messages(d)
    assert msg.startswith("maps[0] (`m`): field `kind`: unknown variant `hash`")
    out = rendered(d)
    assert "--> " in out and "a.toml:4:1" in out and "did you mean `:hash`?" in out


def test_unknown_field_in_json(spec):
    data = {"maps": [{"name": "m", "kind": ":array", "key_size": 4, "value_size": 8,
                      "max_entries": 1, "pinpath": "/sys/fs/bpf/x"}]}
    d = spec({"a.json": json.dumps(data, indent=1)})
    [msg] = messages(d)
    assert "unknown field `pinpath`" in msg and "did you mean `pin_path`?" in rendered(d)


def test_syntax_errors_are_located(spec):
    d = spec({"a.json": '{"maps": [\n  {"name": }\n]}'})
    assert messages(d) and "a.json:2:" in rendered(d)
    d2 = spec({"b.toml": "[[maps]\nname = 1\n"})
    assert any(m.startswith("invalid TOML") for m in messages(d2 / "b.toml"))


def _resolved(project):
    """Wire form with sources resolved to absolute paths (export rebases them)."""
    from tatara_build.cli.spec_verbs import rebased_wire
    return rebased_wire(project, ROOT_FS)


def test_export_round_trip_is_deterministic(tmp_path, monkeypatch):
    # the exports point back at examples/ (`../..`): sources outside their folder
    monkeypatch.setenv("TATARA_ALLOW_OUTSIDE_SOURCES", "1")
    outs = {}
    for fmt_name in ("json", "toml"):
        out = tmp_path / f"exported.{fmt_name}"
        r = run_cli("export", str(EXAMPLES), "--format", fmt_name, "-o", str(out))
        assert r.returncode == 0, r.stderr
        outs[fmt_name] = out
    original = _resolved(load_project([EXAMPLES]).project)
    for out in outs.values():
        assert _resolved(load_project([out]).project) == original
    again = run_cli("export", str(EXAMPLES), "--format", "json", "-o", str(tmp_path / "x.json"))
    assert again.returncode == 0
    assert (tmp_path / "x.json").read_bytes() == outs["json"].read_bytes()


def test_attest_matches_upstream_recipe():
    # BLAKE3("pleme.io/ebpf:" + compact sorted JSON), as tatara-ebpf's attest_value
    import blake3
    v = {"b": 1, "a": [1, "x"]}
    assert attest_value(v) == blake3.blake3(b'pleme.io/ebpf:{"a":[1,"x"],"b":1}').hexdigest()
