"""Input limits: what every reader refuses before it can cost unbounded time or memory.

Stated for users in README.md ("Input limits"). Each limit is far above what a real
spec needs and far below what Python's parsers and our recursive walkers survive
(recursion ~1000 frames, int-from-string 4300 digits).
"""

from __future__ import annotations

import re

MAX_FILE_BYTES = 16 * 1024 * 1024  # a spec file larger than this is refused unread
MAX_DEPTH = 64  # nested lists/tables/arrays in any format
MAX_INT_DIGITS = 40  # integer literals longer than this are refused (u64 has 20 digits)
MAX_INT_BITS = 133  # 10**40 < 2**133

_LONE_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")
_BRACKETS = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"|\'[^\'\n]*\'|#[^\n]*|[\[\]{}]')


def deep_offset(text: str, limit: int = MAX_DEPTH) -> int | None:
    """Offset of the first `[`/`{` nested deeper than `limit` in JSON/TOML text, or None.
    A scan that skips strings and comments: for locating the error, not for parsing."""
    depth = 0
    for m in _BRACKETS.finditer(text):
        ch = m.group()
        if ch in "[{":
            depth += 1
            if depth > limit:
                return m.start()
        elif ch in "]}":
            depth = max(0, depth - 1)
    return None


def lone_surrogate_offset(text: str) -> int | None:
    """Offset of the first `\\uD800`-style escape that does not form a pair, or None."""
    m = _LONE_SURROGATE.search(text)
    return m.start() if m else None


def has_surrogate(s: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in s) if not s.isascii() else False


def walk_problem(data: object, limit: int = MAX_DEPTH) -> str | None:
    """Depth and text checks over parsed JSON/TOML data, iteratively (no recursion)."""
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth >= limit:
                return f"nesting deeper than {limit} levels"
            for k, v in value.items():
                if isinstance(k, str) and has_surrogate(k):
                    return "a key holds a lone surrogate (not Unicode text)"
                stack.append((v, depth + 1))
        elif isinstance(value, list):
            if depth >= limit:
                return f"nesting deeper than {limit} levels"
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, str) and has_surrogate(value):
            return "a string holds a lone surrogate (not Unicode text)"
        elif isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            return f"integer literal longer than {MAX_INT_DIGITS} digits"
    return None
