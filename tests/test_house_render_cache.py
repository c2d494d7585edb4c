"""The render cache (render/cache.py): an unchanged project re-renders without lowering
or templating, and any change to an input, the flake input or an output is seen."""

from __future__ import annotations

import json

import pytest

from tatara_build.cli import render as render_mod
from tests.conftest import EXAMPLES, run_cli

SPEC = ('(defbpf-map :name "m" :kind :array :key-size 4 :value-size 8 :max-entries 1)\n'
        '(defbpf-program :name "p" :kind :xdp :attach (:target "eth0") '
        ':source "bodies.tlisp:f" :uses-maps ("m"))\n'
        '(defbpf-policy :name "pol" :description "d" :programs ("p") :maps ("m"))\n')


@pytest.fixture
def project(spec):
    return spec({"a.tlisp": SPEC, "bodies.tlisp": "(bpf-fn f (ctx) (return :xdp-pass))\n"})


def _render(d, out, *extra):
    r = run_cli("render", str(d), "-o", str(out), "--json", *extra)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def test_unchanged_project_skips_lowering(project, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    assert render_mod.render([project], out, False, True) == 0
    capsys.readouterr()

    def boom(*_a, **_k):
        raise AssertionError("lowered again although nothing changed")

    monkeypatch.setattr(render_mod, "render_files", boom)
    assert render_mod.render([project], out, False, True) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["written"] == [] and data["policies"] == ["pol"] and data["unchanged"] > 3


def test_a_changed_body_file_is_rendered(project, tmp_path):
    out = tmp_path / "out"
    _render(project, out)
    (project / "bodies.tlisp").write_text("(bpf-fn f (ctx) (return :xdp-drop))\n")
    assert _render(project, out)["written"] == ["pol/src/bodies.rs"]
    assert "XDP_DROP" in (out / "crates" / "pol" / "src" / "bodies.rs").read_text()


def test_an_edited_output_is_repaired(project, tmp_path):
    out = tmp_path / "out"
    _render(project, out)
    main = out / "crates" / "pol" / "src" / "main.rs"
    good = main.read_bytes()
    main.write_text("// edited\n")
    assert _render(project, out, "--check")["written"] == ["pol/src/main.rs"]
    assert _render(project, out)["written"] == ["pol/src/main.rs"]
    assert main.read_bytes() == good


def test_a_new_spec_file_is_seen(project, tmp_path):
    out = tmp_path / "out"
    _render(project, out)
    (project / "b.tlisp").write_text(SPEC.replace('"m"', '"m2"').replace('"p"', '"p2"')
                                     .replace('"pol"', '"pol2"'))
    assert _render(project, out)["policies"] == ["pol", "pol2"]


def test_examples_second_render_hits(tmp_path):
    first = _render(EXAMPLES, tmp_path)
    second = _render(EXAMPLES, tmp_path)
    assert first["written"] and second["written"] == [] and first["policies"] == second["policies"]
