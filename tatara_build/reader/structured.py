"""TOML and JSON spec files -> Located specs.

The wire form is `{maps: [...], programs: [...], policies: [...]}` with snake_case
keys and colon-carrying kinds (`":xdp"`). Neither parser keeps positions, so each
object's span is found by locating its `name` in the text, and a field's span by
its key after that; errors also name the object and field (`programs[0].kind`).
"""

from __future__ import annotations

import json
import re
import tomllib
from bisect import bisect_right
from functools import lru_cache
from typing import Any

from tatara_build.diagnostics import Diagnostic, Span, error
from tatara_build.model.construct import DataError, build
from tatara_build.model.globals import GlobalSpec
from tatara_build.model.ir import Located, MapSpec, PolicySpec, ProgramSpec
from tatara_build.model.kinds import MAP_KINDS, PROGRAM_KINDS
from tatara_build.model.records import StructSpec
from tatara_build.model.suggest import suggest
from tatara_build.model.testspec import TestSpec, allowed_fields
from tatara_build.reader.limits import (
    MAX_DEPTH,
    MAX_INT_DIGITS,
    deep_offset,
    lone_surrogate_offset,
    walk_problem,
)

SECTIONS = {"maps": MapSpec, "programs": ProgramSpec, "policies": PolicySpec, "tests": TestSpec,
            "globals": GlobalSpec, "structs": StructSpec}
SINK_KIND = {"maps": "defbpf-map", "programs": "defbpf-program", "policies": "defbpf-policy",
             "tests": "defbpf-test", "globals": "defbpf-global", "structs": "defbpf-struct"}


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


@lru_cache(maxsize=256)
def _key_pattern(key: str, anchored: bool) -> re.Pattern:
    """`"key":` (JSON) or `key =` (TOML); `anchored`: right before a value's position."""
    return re.compile(rf'(?:"{re.escape(key)}"\s*:|\b{re.escape(key)}\s*=)' + (r"\s*\Z" if anchored else ""))


class _Locator:
    """Best-effort spans in a TOML/JSON text (parsers there keep no positions)."""

    def __init__(self, text: str, file: str):
        self.text, self.file = text, file
        self.cursor = 0
        self.line_starts: list[int] | None = None

    def find(self, key: str, value: str | None = None, start: int = 0) -> int | None:
        """Offset of `"key":` / `key =` (followed by `value` when given) from `start`.
        Linear: one cached pattern per key, and values found with str.find (a pattern
        per value would compile once per object: seconds for 20,000 objects)."""
        if len(key) > 256:  # a pattern of a huge literal compiles slowly
            at = self.text.find(key, start)
            return at if at >= 0 else None
        if value is None:
            m = _key_pattern(key, False).search(self.text, start)
            return m.start() if m else None
        literal, before = json.dumps(value), _key_pattern(key, True)
        at = self.text.find(literal, start)
        while at >= 0:
            window = max(start, at - len(key) - 64)
            m = before.search(self.text, window, at)
            if m:
                return m.start()
            at = self.text.find(literal, at + 1)
        return None

    def span(self, offset: int | None, width: int = 1) -> Span | None:
        if offset is None:
            return None
        if self.line_starts is None:
            self.line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        i = bisect_right(self.line_starts, offset) - 1
        return Span(self.file, i + 1, offset - self.line_starts[i] + 1, width)

    def object_start(self, at: int) -> int:
        """Where the object holding offset `at` begins: its `{` (JSON) or `[[...]]` (TOML)."""
        if self.file.endswith(".toml"):
            return max(0, self.text.rfind("[[", 0, at))
        depth = 0
        for i in range(at - 1, -1, -1):
            ch = self.text[i]
            if ch == "}":
                depth += 1
            elif ch == "{":
                if depth == 0:
                    return i
                depth -= 1
        return 0

    def object_spans(self, obj: dict) -> dict[str, Span]:
        name = obj.get("name")
        at = self.find("name", name, self.cursor) if isinstance(name, str) else None
        if at is None:
            return {}
        self.cursor = at + 1
        start = self.object_start(at)
        spans = {"": self.span(at, 4)}
        for key in obj:
            off = self.find(key, None, start)
            if off is not None:
                spans[key] = self.span(off, len(key))
        return {k: v for k, v in spans.items() if v}


class _LongInt(Exception):
    def __init__(self, literal: str):
        super().__init__(literal)
        self.literal = literal


def _json_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise _LongInt(literal)
    return int(literal)


def _limit_error(text: str, file: str, message: str, offset: int | None) -> Diagnostic:
    line, col = _line_col(text, offset) if offset is not None else (1, 1)
    return error(message, Span(file, line, col), "see README.md, \"Input limits\"")


def _walk_error(data: Any, text: str, file: str) -> Diagnostic | None:
    problem = walk_problem(data)
    if problem is None:
        return None
    if "surrogate" in problem:
        at = lone_surrogate_offset(text)
    elif "integer" in problem:
        m = _LONG_DIGITS.search(text)
        at = m.start() if m else None
    else:
        at = deep_offset(text)
    return _limit_error(text, file, problem, at)


_LONG_DIGITS = re.compile(rf"\d[\d_]{{{MAX_INT_DIGITS},}}")


def parse_text(text: str, file: str) -> tuple[Any, list[Diagnostic]]:
    """Parse TOML or JSON by extension; syntax errors and the input limits (depth,
    integer size, lone surrogates) are located diagnostics."""
    deep = deep_offset(text)
    if deep is not None:  # refuse before the parsers recurse
        return None, [_limit_error(text, file, f"nesting deeper than {MAX_DEPTH} levels", deep)]
    try:
        if file.endswith(".toml"):
            data = tomllib.loads(text)
        else:
            data = json.loads(text, parse_int=_json_int)
    except _LongInt as exc:
        return None, [_limit_error(text, file, f"integer literal of {len(exc.literal)} digits "
                                   f"(at most {MAX_INT_DIGITS})", text.find(exc.literal))]
    except RecursionError:
        return None, [_limit_error(text, file, f"nesting deeper than {MAX_DEPTH} levels", None)]
    except json.JSONDecodeError as exc:
        return None, [error(f"invalid JSON: {exc.msg}", Span(file, exc.lineno, exc.colno))]
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        msg = re.sub(r"\s*\(at line.*\)", "", str(exc))
        span = Span(file, int(m.group(1)), int(m.group(2))) if m else Span(file, 1, 1)
        return None, [error(f"invalid TOML: {msg}", span)]
    except ValueError:  # an integer beyond Python's int-from-string limit (TOML)
        m = _LONG_DIGITS.search(text)
        return None, [_limit_error(text, file, f"integer literal longer than {MAX_INT_DIGITS} "
                                   "digits", m.start() if m else None)]
    problem = _walk_error(data, text, file)
    return (None, [problem]) if problem else (data, [])


def is_spec_document(data: Any) -> bool:
    return isinstance(data, dict) and any(k in data for k in SECTIONS)


def _data_diag(exc: DataError, section: str, idx: int, obj: dict,
                   spans: dict[str, Span], file: str) -> Diagnostic:
    err = exc.errors()[0]
    loc = [str(x) for x in err["loc"]]
    field = ".".join(loc)
    label = f"{section}[{idx}]" + (f" (`{obj['name']}`)" if isinstance(obj.get("name"), str) else "")
    msg, help = err["msg"], None
    if loc and loc[0] == "kind" and err["type"] == "literal_error":
        table = PROGRAM_KINDS if section == "programs" else MAP_KINDS
        got = str(obj.get("kind"))
        guess = f":{got}" if f":{got}" in table else suggest(got, list(table))
        msg = f"unknown variant `{got}`, expected one of " + ", ".join(f"`{w}`" for w in table)
        help = f"did you mean `{guess}`?" if guess else None
    elif err["type"] == "extra_forbidden":
        allowed = allowed_fields(SECTIONS[section], tuple(err["loc"]))
        guess = suggest(loc[-1], allowed)
        msg = f"unknown field `{loc[-1]}` (allowed: {', '.join(allowed)})"
        help = f"did you mean `{guess}`?" if guess else None
    span = (spans.get(loc[0]) if loc else None) or spans.get("") or Span(file, 1, 1)
    return error(f"{label}: field `{field}`: {msg}", span, help, where=f"{file}: {label}.{field}")


def compile_document(data: Any, text: str, file: str, sink) -> list[Diagnostic]:
    """Feed each object to `sink(kind, Located)`; one diagnostic per bad object."""
    if not isinstance(data, dict):
        return [error("a spec file must be a table/object with maps, programs, policies",
                      Span(file, 1, 1))]
    diags: list[Diagnostic] = []
    unknown = [k for k in data if k not in SECTIONS]
    for k in unknown:
        guess = suggest(k, list(SECTIONS))
        diags.append(error(f"unknown top-level key `{k}` (allowed: {', '.join(SECTIONS)})",
                           _Locator(text, file).span(_Locator(text, file).find(k)) or Span(file, 1, 1),
                           f"did you mean `{guess}`?" if guess else None))
    loc = _Locator(text, file)
    for section, model in SECTIONS.items():
        items = data.get(section, [])
        if not isinstance(items, list):
            diags.append(error(f"`{section}` must be a list", Span(file, 1, 1)))
            continue
        for idx, obj in enumerate(items):
            if not isinstance(obj, dict):
                diags.append(error(f"{section}[{idx}] must be a table/object", Span(file, 1, 1)))
                continue
            spans = loc.object_spans(obj)
            try:
                sink(SINK_KIND[section], Located(build(model, obj), file, spans))
            except DataError as exc:
                diags.append(_data_diag(exc, section, idx, obj, spans, file))
                if isinstance(obj.get("name"), str):
                    sink("broken", obj["name"])
    return diags
