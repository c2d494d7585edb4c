"""Usage errors exit 2 at parse time (typer Enum choices), before any verb body runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import EXAMPLES, ROOT, run_cli


@pytest.mark.parametrize("argv, option", [
    (["build", str(EXAMPLES), "--backend", "bogus"], "--backend"),
    (["plan", "p", "--runtime", "bogus"], "--runtime"),
    (["apply", "p", "--runtime", "bogus"], "--runtime"),
    (["export", str(EXAMPLES), "--format", "yaml"], "--format"),
    (["map", "frob", "p", "m"], "action"),
])
def test_bad_choice_is_a_usage_error(argv, option):
    r = run_cli(*argv)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Invalid value" in r.stderr and option in r.stderr
    assert "Traceback" not in r.stderr


def test_good_choice_still_runs():
    r = run_cli("export", str(EXAMPLES), "--format", "toml")
    assert r.returncode == 0, r.stderr
    assert "[[programs]]" in r.stdout


def test_fmt_loads_no_spec_model():
    """`fmt` only rewrites text: it must not import pydantic (which costs more than typer
    itself to import, bench/bench_cli.py), nor the model, nor tomli_w."""
    code = ("import sys; from tatara_build.cli import spec_verbs; "
            "from tatara_build.reader.fmt import format_text; "
            "format_text('(defbpf-map m :kind :array :value-size 4 :max-entries 1)'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'tomli_w')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_check_of_every_example_reads_the_model_without_pydantic():
    """`check` of the examples (Lisp specs with tests, records, globals) builds the model
    without importing pydantic, whose import alone costs more than the whole check may
    take (bench/bench_cli.py); pydantic stays for `schema`, where it reads the model."""
    code = ("import sys; from tatara_build.cli.app import main; "
            f"sys.argv = ['tatara-build', 'check', {str(EXAMPLES)!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
            "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', "
            "'pydantic_core'}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "0 []"
    r = run_cli("schema")
    assert r.returncode == 0 and '"additionalProperties": false' in r.stdout


def test_fmt_knows_every_spec_form():
    """reader/heads.py (what fmt rewrites) lists exactly the forms reader/forms.py reads."""
    from tatara_build.reader.forms import FORMS
    from tatara_build.reader.heads import SPEC_FORM_HEADS

    assert tuple(FORMS) == SPEC_FORM_HEADS
