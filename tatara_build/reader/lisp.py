"""The tatara-lisp reader, with a span (file, line, column, width) on every node.

It follows upstream's tokenizer (notes/tatara-lisp.md section 1): `;` comments,
strings with `\\n \\t \\r \\" \\\\` escapes (any other escaped char is itself),
`#t`/`#f`, keywords (`:x` -> Keyword("x")), i64 ints (overflow becomes a float),
Rust-style floats including inf/nan, quote prefixes, and everything else a symbol.

Extension (flagged, not upstream): `[...]` and `{...}` read as lists so the seed
docs' `:attach {:target "eth0"}` / `:programs ["a" "b"]` spellings work; the node
remembers its bracket so `fmt` can rewrite it in the canonical `( )` style.

One function (`_Reader.datum`) advances the cursor, hy-style; errors point at the
offending token.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field

from tatara_build.diagnostics import Span, error
from tatara_build.errors import SpecError

# Rust's char::is_whitespace (Python's isspace() also admits U+001C..U+001F).
_WS = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)
_BOUNDARY = _WS | frozenset("()[]{}'`,\";")
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = frozenset(")]}")
_INT = re.compile(r"[+-]?[0-9]+\Z")
_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)\Z", re.I
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
I64_MIN, I64_MAX = -(2**63), 2**63 - 1


@dataclass(eq=False)
class Node:
    """A datum: kind is sym|kw|str|int|float|bool|list|quote; value per kind."""

    kind: str
    value: object
    span: Span
    bracket: str = "("  # for lists: which opener was used
    end: Span | None = None  # for lists: the closing bracket
    quote: str = ""  # for quote nodes: ' ` , ,@
    comments: list[str] = field(default_factory=list)  # comment lines before this datum
    trailing: list[str] = field(default_factory=list)  # lists: comments before the closer
    offset: int = 0  # char offsets of the datum in the source (fmt copies bpf-fn text)
    end_offset: int = 0

    @property
    def items(self) -> list[Node]:
        return self.value if self.kind == "list" else []  # type: ignore[return-value]

    def shape(self) -> str:
        """Upstream's type label, used in 'expected X, got Y' messages."""
        return {"sym": "symbol", "kw": "keyword", "str": "string"}.get(self.kind, self.kind)

    def text(self) -> str:
        """A compact display of the datum (for messages)."""
        return to_text(self)


def classify_atom(lexeme: str) -> tuple[str, object]:
    """Upstream's Atom::from_lexeme: bool, keyword, int, float, else symbol."""
    if lexeme == "#t":
        return "bool", True
    if lexeme == "#f":
        return "bool", False
    if lexeme.startswith(":"):
        return "kw", lexeme[1:]
    if _INT.match(lexeme):
        n = int(lexeme)
        return ("int", n) if I64_MIN <= n <= I64_MAX else ("float", float(n))
    if _FLOAT.match(lexeme):
        return "float", float(lexeme)
    return "sym", lexeme


_WS_RUN = re.compile("[" + re.escape("".join(sorted(_WS))) + "]+")
_ATOM_RUN = re.compile("[^" + re.escape("".join(sorted(_BOUNDARY))) + "]+")
_STR_RUN = re.compile(r'[^"\\]+')


class _Reader:
    """Cursor over the text; positions are char offsets, line/col found by bisect."""

    def __init__(self, text: str, file: str):
        self.text, self.file = text, file
        self.pos = 0
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.pending_comments: list[str] = []

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

    def skip_space(self) -> None:
        """Skip whitespace and `;` comments, keeping comment text (and blank lines) for fmt."""
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch in _WS:
                m = _WS_RUN.match(text, self.pos)
                if self.pending_comments and text.count("\n", self.pos, m.end()) >= 2:
                    if self.pending_comments[-1] != "":
                        self.pending_comments.append("")  # fmt keeps one blank line
                self.pos = m.end()
            elif ch == ";":
                nl = text.find("\n", self.pos)
                stop = n if nl == -1 else nl
                self.pending_comments.append(text[self.pos : stop])
                self.pos = stop
            else:
                return

    def datum(self) -> Node:
        """Read one datum at the cursor (after skip_space), with offsets and comments."""
        start = self.pos
        comments, self.pending_comments = self.pending_comments, []
        ch = self.text[start]
        if ch in _OPEN:
            node = self.read_list(ch, start)
        elif ch in _CLOSE:
            self.fail("unmatched closing paren", start)
        elif ch in "'`,":
            node = self.read_quote(start)
        elif ch == '"':
            node = self.read_string(start)
        else:
            node = self.read_atom(start)
        node.comments = comments
        node.offset, node.end_offset = start, self.pos
        return node

    def read_list(self, opener: str, start: int) -> Node:
        self.pos += 1
        items: list[Node] = []
        closer = _OPEN[opener]
        text = self.text
        while True:
            self.skip_space()
            if self.pos >= len(text):
                end = items[-1].end_offset if items else start + 1
                self.fail("unmatched opening paren", start, end,
                          help=f"add `{closer}` to close this list")
            ch = text[self.pos]
            if ch in _CLOSE:
                if ch != closer:
                    self.fail(f"mismatched closing `{ch}`: this list opened with `{opener}`",
                              self.pos, help=f"close it with `{closer}`")
                end = self.span_from(self.pos)
                self.pos += 1
                node = Node("list", items, self.span_from(start), bracket=opener, end=end)
                node.trailing, self.pending_comments = self.pending_comments, []
                return node
            items.append(self.datum())

    def read_quote(self, start: int) -> Node:
        prefix = self.text[start]
        self.pos += 1
        if prefix == "," and self.text.startswith("@", self.pos):
            self.pos += 1
            prefix = ",@"
        self.skip_space()
        if self.pos >= len(self.text):
            self.fail("unexpected end of input", self.pos,
                      help=f"`{prefix}` must be followed by a datum")
        inner = self.datum()
        return Node("quote", inner, self.span_from(start, start + len(prefix)), quote=prefix)

    def read_string(self, start: int) -> Node:
        self.pos += 1
        out: list[str] = []
        text, n = self.text, len(self.text)
        while self.pos < n:
            m = _STR_RUN.match(text, self.pos)
            if m:
                out.append(m.group())
                self.pos = m.end()
                continue
            ch = text[self.pos]
            self.pos += 1
            if ch == '"':
                return Node("str", "".join(out), self.span_from(start, self.pos))
            if self.pos >= n:
                break
            esc = text[self.pos]
            self.pos += 1
            out.append(_ESCAPES.get(esc, esc))
        self.fail("unterminated string literal", start, help='close the string with `"`')

    def read_atom(self, start: int) -> Node:
        m = _ATOM_RUN.match(self.text, start)
        self.pos = m.end()
        kind, value = classify_atom(m.group())
        return Node(kind, value, self.span_from(start, self.pos))


def read(text: str, file: str = "<input>") -> list[Node]:
    """Every top-level datum of `text`; raises SpecError at the first syntax error."""
    r = _Reader(text, file)
    forms: list[Node] = []
    while True:
        r.skip_space()
        if r.pos >= len(text):
            return forms
        forms.append(r.datum())


def trailing_comments(text: str) -> list[str]:
    """Comment lines after the last form (fmt keeps them)."""
    r = _Reader(text, "<fmt>")
    last: list[str] = []
    while True:
        r.pending_comments = []
        r.skip_space()
        last = r.pending_comments
        if r.pos >= len(text):
            return last
        r.datum()


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
