"""The command line as a user runs it: exit codes, streams, no tracebacks."""

from __future__ import annotations

import json

from tests.conftest import EXAMPLES, run_cli


def test_check_examples_ok():
    r = run_cli("check", str(EXAMPLES))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok: ") and "policy edge_protection" in r.stdout


def test_check_broken_file_reports_every_error(spec):
    d = spec({"bad.tlisp": '(defbpf-map :name "a" :kind :hsh :value-size 8 :max-entries 1)\n'
                           '(defbpf-policy :name "p" :description "d" :programs ("ghost"))\n'})
    r = run_cli("check", str(d))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert r.stderr.count("error: ") == 2
    assert f"--> {d}/bad.tlisp:1:29" in r.stderr
    assert "policy `p`: program `ghost` not declared" in r.stderr


def test_check_json(spec):
    d = spec({"bad.tlisp": '(defbpf-map :name "a")'})
    r = run_cli("check", str(d), "--json")
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert data["ok"] is False
    assert data["diagnostics"][0]["span"]["line"] == 1


def test_syntax_error_exit_1_no_traceback(spec):
    d = spec({"x.tlisp": '(defbpf-map :name "a'})
    r = run_cli("check", str(d))
    assert r.returncode == 1 and "unterminated string literal" in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_path(tmp_path):
    r = run_cli("check", str(tmp_path / "nope"))
    assert r.returncode == 1 and "no such file or folder" in r.stderr


def test_usage_error_is_exit_2():
    assert run_cli("check").returncode == 2


def test_fmt_rewrites_canonically_and_keeps_comments(spec):
    d = spec({"a.tlisp": '; top\n(defbpf-map m :kind :hash ; why\n :key-size 4 :value-size 8 '
                         ':max-entries 1)\n(defbpf-policy p :description "d" :maps ["m"])\n'})
    r = run_cli("fmt", "--check", str(d))
    assert r.returncode == 1 and "would reformat" in r.stdout
    assert run_cli("fmt", str(d)).returncode == 0
    text = (d / "a.tlisp").read_text()
    assert text == ('; top\n(defbpf-map :name "m"\n  :kind :hash\n  ; why\n  :key-size 4\n'
                    '  :value-size 8\n  :max-entries 1)\n\n(defbpf-policy :name "p"\n'
                    '  :description "d"\n  :maps ("m"))\n')
    assert run_cli("fmt", "--check", str(d)).returncode == 0
    assert run_cli("check", str(d)).returncode == 0


def test_examples_are_formatted():
    assert run_cli("fmt", "--check", str(EXAMPLES)).returncode == 0


def test_schema_is_json_schema():
    r = run_cli("schema")
    data = json.loads(r.stdout)
    assert set(data["properties"]) == {"maps", "programs", "policies", "tests", "structs"}
    assert ":per-cpu-array" in json.dumps(data)
