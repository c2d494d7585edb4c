"""No import cycles between the parts of tatara_build (reader, model, validate, lower,
render, backends, runtime, testing, cli, and the top-level modules).

The graph is built from the source with `ast` (imports inside functions count too: a
lazy import is still a dependency), one node per subpackage, so a cycle through any
two modules of two parts is found. The layering it protects is the data flow of
DESIGN: reader -> model <- validate/lower/render -> backends -> runtime -> cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "tatara_build"


def _part(module: str) -> str:
    """`tatara_build.model.ir` -> `tatara_build.model`; top-level modules stay themselves."""
    return ".".join(module.split(".")[:2])


def _module_name(f: Path) -> str:
    rel = f.relative_to(PKG.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(f: Path) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node.lineno))
            if node.module == "tatara_build":  # `from tatara_build import cli`
                out += [(f"tatara_build.{a.name}", node.lineno) for a in node.names]
    return [(m, line) for m, line in out if m.split(".")[0] == "tatara_build"]


def import_graph() -> dict[str, dict[str, list[str]]]:
    """part -> imported part -> ["module.py:line", ...] (self-edges dropped)."""
    graph: dict[str, dict[str, list[str]]] = {}
    for f in sorted(PKG.rglob("*.py")):
        src = _part(_module_name(f))
        graph.setdefault(src, {})
        for mod, line in _imports(f):
            dst = _part(mod)
            if dst != src and dst != "tatara_build":
                where = f"{f.relative_to(PKG.parent)}:{line}"
                graph[src].setdefault(dst, []).append(where)
    return graph


def cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    graph = import_graph()
    problems = []
    for comp in cycles(graph):
        edges = [f"  {a} -> {b}: {', '.join(graph[a][b])}"
                 for a in comp for b in sorted(graph[a]) if b in comp]
        problems.append(f"cycle between {', '.join(comp)}:\n" + "\n".join(edges))
    assert not problems, (
        "import cycles (move the shared piece down to the part both use, e.g. into model/, "
        "or the caller up, e.g. into cli/):\n" + "\n".join(problems))


def test_the_checker_sees_a_cycle():
    graph = {"a": {"b": ["a.py:1"]}, "b": {"c": ["b.py:1"]}, "c": {"a": ["c.py:1"]}, "d": {}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_graph_has_the_known_layers():
    graph = import_graph()
    assert "tatara_build.model" in graph["tatara_build.reader"]
    assert "tatara_build.backends" in graph["tatara_build.runtime"]
