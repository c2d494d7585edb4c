"""The tatara-lisp reader, with a span (file, line, column, width) on every node.

It follows upstream tatara-lisp's tokenizer: `;` comments,
strings with `\\n \\t \\r \\" \\\\` escapes (any other escaped char is itself),
`#t`/`#f`, keywords (`:x` -> Keyword("x")), i64 ints (overflow becomes a float),
Rust-style floats including inf/nan, quote prefixes, and everything else a symbol.

Extension (flagged, not upstream): `[...]` and `{...}` read as lists so the seed
docs' `:attach {:target "eth0"}` / `:programs ["a" "b"]` spellings work; the node
remembers its bracket so `fmt` can rewrite it in the canonical `( )` style.

One loop (`_Reader.read_all`) advances the cursor, hy-style; errors point at the
offending token.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from tatara_build.diagnostics import Span, error
from tatara_build.errors import SpecError
from tatara_build.reader.limits import MAX_DEPTH

# Rust's char::is_whitespace (Python's isspace() also admits U+001C..U+001F).
_WS = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)
_BOUNDARY = _WS | frozenset("()[]{}'`,\";")
_OPEN = {"(": ")", "[": "]", "{": "}"}
_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\Z", re.I
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
I64_MIN, I64_MAX = -(2**63), 2**63 - 1


class Node:
    """A datum: kind is sym|kw|str|int|float|bool|list|quote; value per kind.

    A slotted class rather than a dataclass: the reader makes one per token, and
    this halves its cost (bench/bench_check.py).
    """

    __slots__ = ("kind", "value", "given_span", "bracket", "end", "quote", "comments",
                 "trailing", "offset", "end_offset", "reader")

    def __init__(self, kind: str, value: object, given_span: Span | None = None,
                 bracket: str = "(", end: Span | None = None, quote: str = "",
                 comments: list[str] | None = None, trailing: list[str] | None = None,
                 offset: int = 0, end_offset: int = 0, reader: _Reader | None = None):
        self.kind, self.value, self.given_span = kind, value, given_span
        self.bracket, self.end, self.quote = bracket, end, quote  # list opener/closer; quote prefix
        self.comments = comments if comments is not None else []  # comment lines before it
        self.trailing = trailing if trailing is not None else []  # lists: comments before closer
        self.offset, self.end_offset = offset, end_offset  # char offsets (fmt copies bpf-fn text)
        self.reader = reader

    @property
    def span(self) -> Span:
        """Where the datum is; computed on first use (most nodes never need one)."""
        if self.given_span is None:
            assert self.reader is not None
            end = self.offset + (len(self.quote) if self.kind == "quote" else 1) \
                if self.kind in ("list", "quote") else self.end_offset
            self.given_span = self.reader.span_from(self.offset, end)
        return self.given_span

    @property
    def items(self) -> list[Node]:
        return self.value if self.kind == "list" else []  # type: ignore[return-value]

    def shape(self) -> str:
        """Upstream's type label, used in 'expected X, got Y' messages."""
        return {"sym": "symbol", "kw": "keyword", "str": "string"}.get(self.kind, self.kind)

    def text(self) -> str:
        """A compact display of the datum (for messages)."""
        return to_text(self)


_PLAIN_SYMBOL = re.compile(r"[A-Za-z_][A-Za-z0-9_\-?!*/<>=]*\Z")
_FLOAT_WORDS = frozenset({"inf", "infinity", "nan"})


def classify_atom(lexeme: str) -> tuple[str, object]:
    """Upstream's Atom::from_lexeme: bool, keyword, int, float, else symbol."""
    first = lexeme[0]
    if first == ":":
        return "kw", lexeme[1:]
    if first.isalpha() and _PLAIN_SYMBOL.match(lexeme) and lexeme.lower() not in _FLOAT_WORDS \
            and not (first in "eE" and lexeme[1:].isdigit()):
        return "sym", lexeme
    if lexeme == "#t":
        return "bool", True
    if lexeme == "#f":
        return "bool", False
    if lexeme.startswith(":"):
        return "kw", lexeme[1:]
    if _INT.match(lexeme):
        if len(lexeme.lstrip("+-").lstrip("0")) > 19:  # beyond i64: a float, as upstream
            return "float", float(lexeme)  # inf past ~309 digits; never int() of 4300+
        n = int(lexeme)
        return ("int", n) if I64_MIN <= n <= I64_MAX else ("float", float(n))
    if _FLOAT.match(lexeme):
        return "float", float(lexeme)
    return "sym", lexeme


_WS_CLASS = re.escape("".join(sorted(_WS)))
_TOKEN = re.compile(
    rf"(?P<ws>[{_WS_CLASS}]+)|(?P<comment>;[^\n]*)|(?P<open>[(\[{{])|(?P<close>[)\]}}])"
    r"|(?P<quote>,@|['`,])|(?P<str>\"[^\"\\]*(?:\\.[^\"\\]*)*\")|(?P<badstr>\")"
    rf"|(?P<atom>[^{re.escape(''.join(sorted(_BOUNDARY)))}]+)",
    re.S,
)
_ESCAPE = re.compile(r"\\(.)", re.S)


class _Open:
    """A list (or quote prefix) being read: its items and where it began."""

    __slots__ = ("opener", "start", "items", "comments")

    def __init__(self, opener: str, start: int, comments: list[str]):
        self.opener, self.start, self.items, self.comments = opener, start, [], comments


class _Reader:
    """One pass of a master regex over the text, with an explicit stack of open lists.

    Positions are char offsets; line/col are found by bisect only when a span is
    asked for (errors, diagnostics), which is rare.
    """

    def __init__(self, text: str, file: str):
        self.text, self.file = text, file
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.final_comments: list[str] = []

    def line_col(self, offset: int) -> tuple[int, int]:
        i = bisect_right(self.line_starts, offset) - 1
        return i + 1, offset - self.line_starts[i] + 1

    def span_from(self, start: int, end: int | None = None) -> Span:
        """Span of [start, end): width counts chars on the first line (>= 1)."""
        line, col = self.line_col(start)
        stop = end if end is not None else start + 1
        nl = self.text.find("\n", start, stop)
        width = (nl if nl != -1 else stop) - start
        return Span(self.file, line, col, max(1, width))

    def fail(self, message: str, start: int, end: int | None = None, help: str | None = None):
        raise SpecError(message, [error(message, self.span_from(start, end), help)])

    def read_all(self) -> list[Node]:
        top: list[Node] = []
        stack: list[_Open] = []
        pending: list[str] = []
        text = self.text
        for m in _TOKEN.finditer(text):
            kind, start = m.lastgroup, m.start()
            if kind == "ws":
                if pending and pending[-1] != "" and text.count("\n", start, m.end()) >= 2:
                    pending.append("")  # fmt keeps one blank line
                continue
            if kind == "comment":
                pending.append(m.group())
                continue
            if kind in ("open", "quote"):
                if len(stack) >= MAX_DEPTH:  # the walkers after us recurse
                    self.fail(f"nesting deeper than {MAX_DEPTH} levels", start,
                              help='see README.md, "Input limits"')
                stack.append(_Open(m.group(), start, pending))
                pending = []
                continue
            if kind == "close":
                node = self.close(stack, m.group(), start, pending)
                pending = []
            elif kind == "badstr":
                self.fail("unterminated string literal", start, len(text),
                          help='close the string with `"`')
            else:
                node = self.atom(kind, m.group(), start, m.end(), pending)
                pending = []
            self.place(node, stack, top)
        if stack:
            self.unclosed(stack)
        self.final_comments = pending
        return top

    def atom(self, kind: str, lexeme: str, start: int, end: int, comments: list[str]) -> Node:
        if kind == "str":
            body = lexeme[1:-1]
            value = _ESCAPE.sub(lambda e: _ESCAPES.get(e.group(1), e.group(1)), body) \
                if "\\" in body else body
            return Node("str", value, None, comments=comments, offset=start, end_offset=end,
                        reader=self)
        k, v = classify_atom(lexeme)
        return Node(k, v, None, comments=comments, offset=start, end_offset=end, reader=self)

    def close(self, stack: list[_Open], ch: str, start: int, trailing: list[str]) -> Node:
        if not stack or stack[-1].opener not in _OPEN:
            self.fail("unmatched closing paren", start)
        o = stack.pop()
        if _OPEN[o.opener] != ch:
            self.fail(f"mismatched closing `{ch}`: this list opened with `{o.opener}`", start,
                      help=f"close it with `{_OPEN[o.opener]}`")
        return Node("list", o.items, None, bracket=o.opener,
                    comments=o.comments, trailing=trailing, offset=o.start, end_offset=start + 1,
                    reader=self)

    def place(self, node: Node, stack: list[_Open], top: list[Node]) -> None:
        """Add a finished datum to its parent, wrapping it in any pending quote prefixes."""
        while stack and stack[-1].opener not in _OPEN:
            q = stack.pop()
            node = Node("quote", node, None, quote=q.opener, comments=q.comments, offset=q.start,
                        end_offset=node.end_offset, reader=self)
        (stack[-1].items if stack else top).append(node)

    def unclosed(self, stack: list[_Open]) -> None:
        o = stack[-1]
        if o.opener not in _OPEN:
            self.fail("unexpected end of input", len(self.text),
                      help=f"`{o.opener}` must be followed by a datum")
        lists = [x for x in stack if x.opener in _OPEN]
        o = lists[-1]
        end = o.items[-1].end_offset if o.items else o.start + 1
        self.fail("unmatched opening paren", o.start, end,
                  help=f"add `{_OPEN[o.opener]}` to close this list")


def read(text: str, file: str = "<input>") -> list[Node]:
    """Every top-level datum of `text`; raises SpecError at the first syntax error."""
    return _Reader(text, file).read_all()


def trailing_comments(text: str) -> list[str]:
    """Comment lines after the last form (fmt keeps them)."""
    r = _Reader(text, "<fmt>")
    r.read_all()
    return r.final_comments


def escape_string(s: str) -> str:
    """A tatara-lisp string literal for `s` (the reader's escapes, inverted)."""
    body = s.replace("\\", "\\\\").replace('"', '\\"')
    body = body.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return f'"{body}"'


def to_text(node: Node) -> str:
    """Canonical text of a datum: `( )` lists, escaped strings, `:kw`, `#t`."""
    k = node.kind
    if k == "list":
        return "(" + " ".join(to_text(x) for x in node.items) + ")"
    if k == "str":
        return escape_string(node.value)  # type: ignore[arg-type]
    if k == "kw":
        return f":{node.value}"
    if k == "bool":
        return "#t" if node.value else "#f"
    if k == "quote":
        return node.quote + to_text(node.value)  # type: ignore[arg-type]
    if k == "float":
        return repr(node.value)
    return str(node.value)
