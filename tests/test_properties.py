"""Property tests: random valid specs round-trip; random text never crashes the reader."""

from __future__ import annotations

import json

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tatara_build.errors import SpecError
from tatara_build.model.construct import dump
from tatara_build.model.ir import MapSpec, PolicySpec, ProgramSpec, Project
from tatara_build.model.kinds import MAP_KINDS, PROGRAM_KINDS
from tatara_build.reader import lisp
from tatara_build.reader.forms import compile_forms
from tatara_build.reader.structured import compile_document

names = st.from_regex(r"[a-z][a-z0-9_\-]{0,20}", fullmatch=True)
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
u32 = st.integers(0, 2**32 - 1)

maps = st.builds(MapSpec, name=names, kind=st.sampled_from(list(MAP_KINDS)), key_size=u32,
                 value_size=u32, max_entries=u32, pin_path=st.none() | text)
programs = st.builds(
    ProgramSpec, name=names, kind=st.sampled_from(list(PROGRAM_KINDS)),
    attach=st.builds(dict, target=text, direction=st.none() | text), source=text,
    license=text, pin_path=st.none() | text, uses_maps=st.lists(text, max_size=3))
policies = st.builds(PolicySpec, name=names, description=text, programs=st.lists(text, max_size=3),
                     maps=st.lists(text, max_size=3))


def to_lisp(spec) -> str:
    """Write a spec as a canonical keyword form."""
    head = {MapSpec: "defbpf-map", ProgramSpec: "defbpf-program", PolicySpec: "defbpf-policy"}
    parts = [f"({head[type(spec)]}"]
    for key, value in dump(spec).items():
        if value is None:
            continue
        kw = ":" + key.replace("_", "-")
        if key == "kind":
            parts.append(f"{kw} {value}")
        elif key == "attach":
            inner = f':target {lisp.escape_string(value["target"])}'
            if value["direction"] is not None:
                inner += f' :direction {lisp.escape_string(value["direction"])}'
            parts.append(f"{kw} ({inner})")
        elif isinstance(value, list):
            parts.append(f"{kw} (" + " ".join(lisp.escape_string(v) for v in value) + ")")
        elif isinstance(value, int):
            parts.append(f"{kw} {value}")
        else:
            parts.append(f"{kw} {lisp.escape_string(value)}")
    return " ".join(parts) + ")"


def _project_from_lisp(src: str) -> Project:
    p = Project()
    sink = {"defbpf-map": p.maps, "defbpf-program": p.programs, "defbpf-policy": p.policies}
    diags = compile_forms(lisp.read(src, "r.tlisp"), "r.tlisp",
                          lambda k, o: sink[k].append(o) if k in sink else None)
    assert [d for d in diags if d.severity == "error"] == []
    return p


def _project_from_doc(data, text_: str, file: str) -> Project:
    p = Project()
    sink = {"defbpf-map": p.maps, "defbpf-program": p.programs, "defbpf-policy": p.policies}
    diags = compile_document(data, text_, file, lambda k, o: sink[k].append(o))
    assert diags == []
    return p


def _drop_none(v):
    if isinstance(v, dict):
        return {k: _drop_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_drop_none(x) for x in v]
    return v


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(maps, max_size=3), st.lists(programs, max_size=3), st.lists(policies, max_size=2))
def test_lisp_ir_json_toml_round_trip(ms, ps, pols):
    src = "\n".join(to_lisp(s) for s in [*ms, *ps, *pols])
    p1 = _project_from_lisp(src)
    wire = p1.wire()
    j = json.dumps(wire, sort_keys=True)
    p2 = _project_from_doc(json.loads(j), j, "r.json")
    assert p2.wire() == wire
    t = tomli_w.dumps(_drop_none(wire))
    import tomllib
    p3 = _project_from_doc(tomllib.loads(t), t, "r.toml")
    assert p3.wire() == wire
    assert json.dumps(p3.wire(), sort_keys=True) == j


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('()[]{}";:\'`,@#tf \n\\abc123.-+e')), max_size=60))
def test_reader_never_crashes_and_errors_are_located(src):
    try:
        forms = lisp.read(src, "fuzz.tlisp")
    except SpecError as exc:
        [d] = exc.diagnostics
        assert d.span is not None and d.span.file == "fuzz.tlisp"
        assert 1 <= d.span.line <= src.count("\n") + 1
        return
    sunk: list[str] = []
    diags = compile_forms(forms, "fuzz.tlisp", lambda k, o: sunk.append(k))  # must not raise
    assert sunk == []  # the alphabet cannot spell a form head, so nothing is compiled
    assert all(d.span is not None and d.span.file == "fuzz.tlisp" for d in diags)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_reader_total_on_arbitrary_unicode(src):
    try:
        lisp.read(src, "u.tlisp")
    except SpecError as exc:
        assert exc.diagnostics[0].span is not None
