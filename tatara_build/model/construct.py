"""Plain data (from Lisp forms, TOML, JSON, a manifest) -> the model's frozen dataclasses.

Why not pydantic here: importing pydantic costs more than a whole `tatara-build check`
of the examples is allowed to take (bench/bench_cli.py), and the model uses a small set
of types. The model stays one declaration: stdlib dataclasses whose annotations carry
the bounds below (`Ge`, `Le`, `MinLen`), which this module checks and which pydantic's
`TypeAdapter` reads, as the `annotated_types` bounds they stand for, when the `schema`
verb writes the JSON Schema (annotated_types itself takes ~10 ms to import).

Errors keep pydantic's shape (`loc`, `msg`, `type`) and its wording for the common
cases, so the readers turn them into located diagnostics (`packet.vlan.1.id`) the same
way for every input format. Rules beyond types live in each dataclass's
`__post_init__`, raising `FieldProblem` to name the field; a class may normalise its
raw input first with a `before(data)` classmethod (`:ipv4 ()` is an empty layer).
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Union


@dataclass(frozen=True)
class _Bound:
    """A bound on a field (`Annotated[int, Ge(0), Le(255)]`), checked by `build`."""

    def __get_pydantic_core_schema__(self, source, handler):
        """For the `schema` verb: pydantic sees the annotated_types bound of that name."""
        import annotated_types

        bound = getattr(annotated_types, type(self).__name__)(*dataclasses.astuple(self))
        return handler(typing.Annotated[source, bound])


@dataclass(frozen=True)
class Ge(_Bound):
    ge: int


@dataclass(frozen=True)
class Le(_Bound):
    le: int


@dataclass(frozen=True)
class MinLen(_Bound):
    min_length: int


class FieldProblem(ValueError):
    """Raised by a `__post_init__`: `message` is about `field` of the object."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


class DataError(ValueError):
    """Input that does not fit a model: the first problem, pydantic-shaped."""

    def __init__(self, loc: tuple, msg: str, type_: str):
        super().__init__(f"{'.'.join(map(str, loc)) or 'value'}: {msg}")
        self.loc, self.msg, self.type = tuple(loc), msg, type_

    def errors(self) -> list[dict]:
        return [{"loc": self.loc, "msg": self.msg, "type": self.type}]


def build(cls: type, data: Any, loc: tuple = ()) -> Any:
    """`data` (a dict, or already a `cls`) checked and built into `cls`."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise DataError(loc, f"Input should be a valid dictionary or instance of {cls.__name__}",
                        "dataclass_type")
    before = getattr(cls, "before", None)
    if before is not None:
        data = before(data)
    hints = fields_of(cls)
    for key in data:
        if key not in hints:
            raise DataError((*loc, key), "Extra inputs are not permitted", "extra_forbidden")
    kwargs = {}
    for name, (hint, required) in hints.items():
        if name in data:
            kwargs[name] = _value(hint, data[name], (*loc, name))
        elif required:
            raise DataError((*loc, name), "Field required", "missing")
    try:
        return cls(**kwargs)
    except FieldProblem as exc:
        raise DataError((*loc, exc.field), exc.message, "value_error") from None


@cache
def fields_of(cls: type) -> dict[str, tuple[Any, bool]]:
    """name -> (resolved annotation, required?) in declaration order."""
    hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]), include_extras=True)
    out = {}
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        out[f.name] = (hints[f.name], required)
    return out


_SCALARS = {int: ("a valid integer", "int_type"), str: ("a valid string", "string_type"),
            bool: ("a valid boolean", "bool_type")}


def _value(hint: Any, v: Any, loc: tuple) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        inner, *meta = typing.get_args(hint)
        out = _value(inner, v, loc)
        _bounds(meta, out, loc)
        return out
    if origin in (Union, types.UnionType):
        return _union(typing.get_args(hint), v, loc)
    if origin is Literal:
        choices = typing.get_args(hint)
        if v in choices and type(v) is type(choices[0]):
            return v
        shown = [repr(c) for c in choices]
        text = shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
        raise DataError(loc, f"Input should be {text}", "literal_error")
    if origin is list:
        if not isinstance(v, list | tuple):
            raise DataError(loc, "Input should be a valid list", "list_type")
        (item,) = typing.get_args(hint)
        return [_value(item, x, (*loc, i)) for i, x in enumerate(v)]
    if origin is dict:
        if not isinstance(v, dict):
            raise DataError(loc, "Input should be a valid dictionary", "dict_type")
        kt, vt = typing.get_args(hint)
        return {_value(kt, k, (*loc, k)): _value(vt, x, (*loc, k)) for k, x in v.items()}
    if hint is type(None):
        if v is None:
            return None
        raise DataError(loc, "Input should be None", "none_required")
    if dataclasses.is_dataclass(hint):
        return build(hint, v, loc)
    if hint is Any:
        return v
    what, kind = _SCALARS[hint]
    if hint is int and isinstance(v, float) and not math.isfinite(v):
        raise DataError(loc, "Input should be a finite number", "finite_number")  # 1e999
    if type(v) is not hint:  # strict: no "5" -> 5, no True -> 1
        raise DataError(loc, f"Input should be {what}", kind)
    return v


def _union(options: tuple, v: Any, loc: tuple) -> Any:
    """The option `v` already is (pydantic's smart mode), else the first that takes it."""
    for opt in options:
        base = typing.get_args(opt)[0] if typing.get_origin(opt) is typing.Annotated else opt
        if base is type(None) and v is None or base in _SCALARS and type(v) is base:
            return _value(opt, v, loc)
    first: DataError | None = None
    for opt in options:
        try:
            return _value(opt, v, loc)
        except DataError as exc:
            # the error of an option of the value's own shape says most
            if first is None or len(exc.loc) > len(first.loc):
                first = exc
    assert first is not None
    raise first


def _bounds(meta: list, v: Any, loc: tuple) -> None:
    for m in meta:
        if isinstance(m, Ge) and v < m.ge:
            raise DataError(loc, f"Input should be greater than or equal to {m.ge}",
                            "greater_than_equal")
        if isinstance(m, Le) and v > m.le:
            raise DataError(loc, f"Input should be less than or equal to {m.le}", "less_than_equal")
        if isinstance(m, MinLen) and len(v) < m.min_length:
            raise DataError(loc, f"List should have at least {m.min_length} item after "
                            f"validation, not {len(v)}", "too_short")


def dump(obj: Any, exclude_defaults: bool = False, exclude: frozenset | set = frozenset()) -> Any:
    """A model object as plain JSON data: fields in declaration order, nested objects
    dumped alike (what `model_dump(mode="json")` gave, so wire forms and hashes hold)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {}
        for f in dataclasses.fields(obj):
            if f.name in exclude:
                continue
            v = getattr(obj, f.name)
            if exclude_defaults and _is_default(f, v):
                continue
            out[f.name] = dump(v, exclude_defaults)
        return out
    if isinstance(obj, list | tuple):
        return [dump(x, exclude_defaults) for x in obj]
    if isinstance(obj, dict):
        return {k: dump(x, exclude_defaults) for k, x in obj.items()}
    return obj


def _is_default(f: dataclasses.Field, v: Any) -> bool:
    if f.default is not dataclasses.MISSING:
        return v == f.default
    if f.default_factory is not dataclasses.MISSING:
        return v == f.default_factory()
    return False


def coerce(obj: Any) -> None:
    """Build, in place, the fields of `obj` given as plain data (`Packet(ipv4={})`):
    direct construction in Python then means what building from data means."""
    for name, (hint, _) in fields_of(type(obj)).items():
        v = getattr(obj, name)
        if isinstance(v, dict) or isinstance(v, list) and any(isinstance(x, dict) for x in v):
            set_field(obj, name, _value(hint, v, (name,)))


def set_field(obj: Any, name: str, value: Any) -> None:
    """Normalise a field of a frozen dataclass inside its `__post_init__`."""
    object.__setattr__(obj, name, value)
