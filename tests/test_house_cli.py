"""Usage errors exit 2 at parse time (typer Enum choices), before any verb body runs."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES, run_cli


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
