"""`tatara-build fmt`: rewrite .tlisp files in the canonical upstream keyword style.

def-forms become pure keyword forms (a positional name becomes `:name`), one
`:key value` per line, `( )` lists instead of `[ ]`/`{ }`; comments are kept in
place. bpf-fn and unknown forms are copied byte for byte (code layout is the
author's). Formatting is idempotent: fmt(fmt(x)) == fmt(x).
"""

from __future__ import annotations

from tatara_build.reader.heads import SPEC_FORM_HEADS
from tatara_build.reader.lisp import Node, read, to_text, trailing_comments

INDENT = "  "


def _comments(lines: list[str], indent: str) -> list[str]:
    return [indent + c if c else "" for c in lines]


def _def_form(form: Node) -> list[str]:
    head, args = form.items[0], form.items[1:]
    pairs: list[tuple[Node | None, Node]] = []
    if len(args) % 2 == 1 and args[0].kind in ("sym", "str"):
        pairs.append((None, Node("str", str(args[0].value), args[0].span, comments=args[0].comments)))
        args = args[1:]
    pairs += [(args[i], args[i + 1]) for i in range(0, len(args) - 1, 2)]
    out = _comments(form.comments, "")
    out.append(f"({head.value}")
    for i, (key, val) in enumerate(pairs):
        kw = f":{key.value}" if key is not None else ":name"
        pre = (key.comments if key is not None else []) + val.comments
        text = f"{kw} {to_text(val)}"
        if i == 0 and not pre:
            out[-1] += f" {text}"
            continue
        out += _comments(pre, INDENT)
        out.append(INDENT + text)
    if form.trailing:
        out += _comments(form.trailing, INDENT)
        out.append(")")
    else:
        out[-1] += ")"
    return out


def format_text(text: str) -> str:
    """Canonical text of a whole file (raises SpecError on a syntax error)."""
    forms = read(text, "<fmt>")
    blocks: list[str] = []
    for form in forms:
        is_def = (form.kind == "list" and form.items and form.items[0].kind == "sym"
                  and form.items[0].value in SPEC_FORM_HEADS
                  and all(a.kind == "kw" for a in _keys(form)))
        if is_def:
            blocks.append("\n".join(_def_form(form)))
        else:
            raw = text[form.offset : form.end_offset]
            blocks.append("\n".join([*_comments(form.comments, ""), raw]))
    tail = [c for c in trailing_comments(text) if c]
    body = "\n\n".join(blocks)
    if tail:
        body = (body + "\n\n" if body else "") + "\n".join(tail)
    return body + "\n" if body else ""


def _keys(form: Node) -> list[Node]:
    args = form.items[1:]
    if len(args) % 2 == 1 and args and args[0].kind in ("sym", "str"):
        args = args[1:]
    if len(args) % 2 == 1:
        return [Node("sym", "", form.span)]  # odd: leave the form as written
    return args[0::2]
