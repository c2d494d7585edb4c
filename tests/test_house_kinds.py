"""model/kinds.py is THE table of program and map kinds: no other module of the package
spells a kind (`":xdp"`, `":per-cpu-array"`, ...). A fact about a kind is a column of
its row, so adding a kind stays one row."""

from __future__ import annotations

import ast
from pathlib import Path

from tatara_build.model.kinds import (
    MAP_KINDS,
    PROGRAM_KINDS,
    action_value,
    actions_of,
    kind_of_section,
    runnable_kinds,
    target_fields,
)

PKG = Path(__file__).resolve().parent.parent / "tatara_build"
TABLE = PKG / "model" / "kinds.py"
WIRES = set(PROGRAM_KINDS) | set(MAP_KINDS)

# Modules other helpers are rewriting right now (issue 12): each still compares kinds by
# name. Remove a line once its module reads the table; the test then guards it too.
NOT_YET = {
    "runtime/kernel.py": "runtime helper (attach paths)",
    "runtime/lifecycle.py": "runtime helper (attach paths)",
}

WHERE = """\
kind literals outside model/kinds.py:
{found}
Put the fact in the table instead: add a column to ProgramKind or MapKind in
tatara_build/model/kinds.py (with a comment saying what it means), give each row its
value, and read it here as PROGRAM_KINDS[spec.kind].<column> or MAP_KINDS[spec.kind].<column>
(existing columns: attach, target_rule, attr_args, section_arg, sec_prefixes, test_run,
generic_actions, action_values, direction, packet_base, cpu_sized, per_cpu, keyed, array...).
A helper that several modules need (e.g. actions_of, action_value) goes in that file too."""


def kind_literals(root: Path) -> list[str]:
    found = []
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root).as_posix()
        if f == TABLE or any(rel == k or rel.startswith(k + "/") for k in NOT_YET):
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in WIRES:
                found.append(f"  tatara_build/{rel}:{node.lineno}: {node.value!r}")
    return found


def test_no_kind_literal_outside_the_table():
    found = kind_literals(PKG)
    assert not found, WHERE.format(found="\n".join(found))


def test_the_grep_finds_a_literal(tmp_path):
    (tmp_path / "m.py").write_text('def f(p):\n    return p.kind == ":tc"\n')
    assert kind_literals(tmp_path) == ["  tatara_build/m.py:2: ':tc'"]


def test_every_program_kind_row_is_complete():
    for wire, k in PROGRAM_KINDS.items():
        assert k.wire == wire and wire.startswith(":")
        assert kind_of_section(k.section) == wire, wire  # SECTION_KINDS has a row for it
        assert k.default_action in k.actions and set(k.action_values) == set(k.actions), wire
        fields = target_fields("a/b+8", "ingress")
        k.attr_args.format(**fields), k.section_arg.format(**fields)  # no unknown field


def test_actions_and_values_come_from_the_rows():
    cgroup = next(k for k in PROGRAM_KINDS.values() if not k.generic_actions)
    assert "ok" not in actions_of(cgroup)  # upstream's :ok is 0, which drops there
    lsm = next(k for k in PROGRAM_KINDS.values() if "deny" in k.actions)
    assert action_value(lsm, "deny") == -1 and action_value(lsm, "err") == 1
    assert all(PROGRAM_KINDS[w].test_run for w in runnable_kinds())


def test_libbpf_section_names_map_to_kinds():
    assert kind_of_section("tp/syscalls/sys_enter_openat") == kind_of_section("tracepoint/a/b")
    assert kind_of_section("classifier/ingress") == kind_of_section("tc")
    assert kind_of_section(".text") is None and kind_of_section("xdpx") is None
