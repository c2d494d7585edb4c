"""The tatara-lisp reader: upstream's token rules, spans and caret output."""

from __future__ import annotations

import pytest

from tatara_build.diagnostics import SourceCache, render
from tatara_build.errors import SpecError
from tatara_build.reader.lisp import classify_atom, escape_string, read


def test_atoms_classify_like_upstream():
    assert classify_atom("#t") == ("bool", True)
    assert classify_atom("#f") == ("bool", False)
    assert classify_atom("true") == ("sym", "true")
    assert classify_atom(":xdp") == ("kw", "xdp")
    assert classify_atom("::a") == ("kw", ":a")
    assert classify_atom("007") == ("int", 7)
    assert classify_atom("-5") == ("int", -5)
    assert classify_atom("1_000") == ("sym", "1_000")
    assert classify_atom("0x10") == ("sym", "0x10")
    assert classify_atom("1e3") == ("float", 1000.0)
    assert classify_atom(".5") == ("float", 0.5)
    assert classify_atom("inf")[0] == "float"
    assert classify_atom("NaN")[0] == "float"
    assert classify_atom("9223372036854775808") == ("float", 9223372036854775808.0)
    assert classify_atom("e5") == ("sym", "e5")
    assert classify_atom("a-b") == ("sym", "a-b")


def test_spans_and_strings():
    forms = read('foo 42 "h\\"i\\n" :kw ; comment\n(a (b))', "f.tlisp")
    assert [f.kind for f in forms] == ["sym", "int", "str", "kw", "list"]
    assert forms[2].value == 'h"i\n'
    assert (forms[1].span.line, forms[1].span.col, forms[1].span.width) == (1, 5, 2)
    assert (forms[4].span.line, forms[4].span.col) == (2, 1)
    assert read('"\\q\\0"')[0].value == "q0"


def test_seed_doc_brackets_read_as_lists():
    form = read('(p :attach {:target "eth0"} :programs ["a" "b"])')[0]
    assert form.items[2].kind == "list" and form.items[2].bracket == "{"
    assert [x.value for x in form.items[4].items] == ["a", "b"]


def test_python_only_whitespace_is_not_space():
    # U+001C..U+001F are str.isspace() in Python but not Rust whitespace: part of the atom.
    assert read("a\x1cb")[0].value == "a\x1cb"


@pytest.mark.parametrize(
    "src, message, caret_line",
    [
        ("(a (b c", "error: unmatched opening paren", "  |    ^^^^"),
        ('(a "bc', "error: unterminated string literal", "  |    ^^^"),  # to EOF, as upstream
        (")", "error: unmatched closing paren", "  | ^"),
        ("(a ]", "error: mismatched closing `]`: this list opened with `(`", "  |    ^"),
        ("(a '", "error: unexpected end of input", "  |     ^"),
    ],
)
def test_reader_errors_point_at_the_token(src, message, caret_line):
    with pytest.raises(SpecError) as exc:
        read(src, "open.lisp")
    text = render(exc.value.diagnostics[0], SourceCache({"open.lisp": src}))
    lines = text.split("\n")
    assert lines[0] == message
    assert lines[1].endswith("--> open.lisp:1:" + str(caret_line.index("^") - 3))
    assert lines[3] == f"1 | {src}"
    assert lines[4] == caret_line


def test_rendered_frame_matches_upstream_example():
    src = "(a (b c"
    with pytest.raises(SpecError) as exc:
        read(src, "open.lisp")
    out = render(exc.value.diagnostics[0], SourceCache({"open.lisp": src}))
    assert out.split("\n")[:5] == [
        "error: unmatched opening paren", " --> open.lisp:1:4", "  |", "1 | (a (b c", "  |    ^^^^",
    ]


def test_escape_string_round_trips():
    for s in ['a"b', "back\\slash", "new\nline", "tab\t", "${x}", '"); drop'] :
        assert read(escape_string(s))[0].value == s
