"""model/kinds.py is THE table of program and map kinds: no other module of the package
spells a kind (`":xdp"`, `":per-cpu-array"`, ...). A fact about a kind is a column of
its row, so adding a kind stays one row."""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

from tatara_build.model.kinds import (
    MAP_KINDS,
    PROGRAM_KINDS,
    MapKind,
    ProgramKind,
    action_value,
    actions_of,
    kind_of_section,
    runnable_kinds,
    target_fields,
)

PKG = Path(__file__).resolve().parent.parent / "tatara_build"
TABLE = PKG / "model" / "kinds.py"
WIRES = set(PROGRAM_KINDS) | set(MAP_KINDS)

# Modules allowed to compare kinds by name while they are being rewritten (path under
# tatara_build/ -> why). Empty: every module reads the table.
NOT_YET: dict[str, str] = {}

WHERE = """\
kind literals outside model/kinds.py:
{found}
Put the fact in the table instead: add a column to ProgramKind or MapKind in
tatara_build/model/kinds.py (with a comment saying what it means), give each row its
value, and read it here as PROGRAM_KINDS[spec.kind].<column> or MAP_KINDS[spec.kind].<column>.
Columns today: ProgramKind: {program_columns}.
MapKind: {map_columns}.
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
    assert not found, WHERE.format(
        found="\n".join(found),
        program_columns=", ".join(f.name for f in fields(ProgramKind)),
        map_columns=", ".join(f.name for f in fields(MapKind)))


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


def test_every_column_is_read_somewhere():
    """A column nobody reads is a fact nobody keeps true: read it or drop it."""
    read = set()
    for f in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                read.add(node.attr)
            elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "getattr" \
                    and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                read.add(node.args[1].value)
    unread = [f"{cls.__name__}.{f.name}" for cls in (ProgramKind, MapKind)
              for f in fields(cls) if f.name not in read]
    assert not unread, f"columns of model/kinds.py no module reads: {', '.join(unread)}"
