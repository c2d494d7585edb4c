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


class _Reader:
    def __init__(self, text: str, file: str):
        self.text, self.file = text, file
        self.pos, self.line, self.col = 0, 1, 1
        self.pending_comments: list[str] = []

    def span_at(self, line: int, col: int, width: int) -> Span:
        return Span(self.file, line, col, max(1, width))

    def fail(self, message: str, line: int, col: int, width: int = 1, help: str | None = None):
        raise SpecError(message, [error(message, self.span_at(line, col, width), help)])

    def advance(self) -> str:
        ch = self.text[self.pos]
        self.pos += 1
        if ch == "\n":
            self.line, self.col = self.line + 1, 1
        else:
            self.col += 1
        return ch

    def skip_space(self) -> None:
        """Skip whitespace and `;` comments, keeping comment text for fmt."""
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in _WS:
                if ch == "\n" and self.pending_comments and self._blank_line_follows():
                    if self.pending_comments[-1] != "":
                        self.pending_comments.append("")  # fmt keeps one blank line
                self.advance()
            elif ch == ";":
                start = self.pos
                while self.pos < len(text) and text[self.pos] != "\n":
                    self.advance()
                self.pending_comments.append(text[start : self.pos])
            else:
                return

    def _blank_line_follows(self) -> bool:
        """Is the rest of the line after this newline only spaces, then another newline?"""
        i = self.pos + 1
        while i < len(self.text) and self.text[i] in " \t\r":
            i += 1
        return i < len(self.text) and self.text[i] == "\n"

    def datum(self) -> Node:
        """Read one datum at the cursor (after skip_space), with offsets and comments."""
        line, col, start = self.line, self.col, self.pos
        comments, self.pending_comments = self.pending_comments, []
        ch = self.text[self.pos]
        if ch in _OPEN:
            node = self.read_list(ch, line, col)
        elif ch in _CLOSE:
            self.fail("unmatched closing paren", line, col)
        elif ch in "'`,":
            node = self.read_quote(line, col)
        elif ch == '"':
            node = self.read_string(line, col)
        else:
            node = self.read_atom(line, col)
        node.comments = comments
        node.offset, node.end_offset = start, self.pos
        return node

    def read_list(self, opener: str, line: int, col: int) -> Node:
        self.advance()
        items: list[Node] = []
        closer = _OPEN[opener]
        while True:
            self.skip_space()
            if self.pos >= len(self.text):
                width = self.last_end - (self.offset_of(line, col)) if items else 1
                self.fail("unmatched opening paren", line, col, max(1, width),
                          help=f"add `{closer}` to close this list")
            ch = self.text[self.pos]
            if ch in _CLOSE:
                if ch != closer:
                    self.fail(f"mismatched closing `{ch}`: this list opened with `{opener}`",
                              self.line, self.col, help=f"close it with `{closer}`")
                end = self.span_at(self.line, self.col, 1)
                self.advance()
                node = Node("list", items, self.span_at(line, col, 1), bracket=opener, end=end)
                node.trailing, self.pending_comments = self.pending_comments, []
                self.last_end = self.pos
                return node
            items.append(self.datum())

    last_end = 0

    def offset_of(self, line: int, col: int) -> int:
        """Char offset of a line/col (only used to size an error's carets)."""
        lines = self.text.split("\n")
        return sum(len(x) + 1 for x in lines[: line - 1]) + col - 1

    def read_quote(self, line: int, col: int) -> Node:
        prefix = self.advance()
        if prefix == "," and self.pos < len(self.text) and self.text[self.pos] == "@":
            self.advance()
            prefix = ",@"
        self.skip_space()
        if self.pos >= len(self.text):
            self.fail("unexpected end of input", self.line, self.col,
                      help=f"`{prefix}` must be followed by a datum")
        inner = self.datum()
        return Node("quote", inner, self.span_at(line, col, len(prefix)), quote=prefix)

    def read_string(self, line: int, col: int) -> Node:
        self.advance()
        out: list[str] = []
        text = self.text
        while self.pos < len(text):
            ch = self.advance()
            if ch == '"':
                width = (self.col - col) if self.line == line else 1
                self.last_end = self.pos
                return Node("str", "".join(out), self.span_at(line, col, width))
            if ch == "\\":
                if self.pos >= len(text):
                    break
                esc = self.advance()
                out.append(_ESCAPES.get(esc, esc))
            else:
                out.append(ch)
        self.fail("unterminated string literal", line, col, help='close the string with `"`')

    def read_atom(self, line: int, col: int) -> Node:
        start = self.pos
        text = self.text
        while self.pos < len(text) and text[self.pos] not in _BOUNDARY:
            self.advance()
        lexeme = text[start : self.pos]
        self.last_end = self.pos
        kind, value = classify_atom(lexeme)
        return Node(kind, value, self.span_at(line, col, len(lexeme)))


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
