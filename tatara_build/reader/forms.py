"""tatara-lisp forms -> Located specs, with upstream's keyword rules and messages.

Follows upstream tatara-lisp's derive path: pure `:key value` pairs
after the head, kebab keys -> snake fields, Str-only strings, Int-only integers
(u32 range checked, as upstream's newer KwargOutOfRange), enum values from
keywords or strings (`:xdp`, `":xdp"`), nested `(:target ...)` kwargs or the
serde sequence form `("eth0" "egress")` for the attach point.

Extensions, flagged: a positional name after the head (seed docs'
`(defbpf-program drop-syn-flood ...)`), and `[...]`/`{...}` lists (the reader).
Unknown heads are skipped with a warning (upstream skips silently).
"""

from __future__ import annotations

from dataclasses import dataclass

from tatara_build.diagnostics import Diagnostic, Span, error, warning
from tatara_build.model.construct import DataError, build
from tatara_build.model.globals import GlobalSpec
from tatara_build.model.ir import BpfFnForm, Located, MapSpec, PolicySpec, ProgramSpec
from tatara_build.model.kinds import MAP_KINDS, PROGRAM_KINDS
from tatara_build.model.records import StructSpec
from tatara_build.model.suggest import suggest
from tatara_build.model.testspec import TestSpec, allowed_fields
from tatara_build.reader.lisp import Node


@dataclass(frozen=True)
class FormDef:
    model: type
    fields: dict[str, str]  # kebab key -> value type
    required: tuple[str, ...]


FORMS: dict[str, FormDef] = {
    "defbpf-program": FormDef(
        ProgramSpec,
        {"name": "str", "kind": "program-kind", "attach": "attach", "source": "str",
         "license": "str", "pin-path": "str", "uses-maps": "strlist"},
        ("name", "kind", "source"),
    ),
    "defbpf-map": FormDef(
        MapSpec,
        {"name": "str", "kind": "map-kind", "key-size": "u32", "value-size": "u32",
         "max-entries": "u32", "pin-path": "str", "key-struct": "str", "value-struct": "str"},
        ("name", "kind", "value-size", "max-entries"),
    ),
    "defbpf-policy": FormDef(
        PolicySpec,
        {"name": "str", "description": "str", "programs": "strlist", "maps": "strlist"},
        ("name", "description"),
    ),
    "defbpf-struct": FormDef(
        StructSpec, {"name": "str", "description": "str", "fields": "fields"}, ("name", "fields")),
    "defbpf-test": FormDef(
        TestSpec,
        {"name": "str", "program": "str", "packet": "data", "maps-before": "data",
         "expect": "action", "maps-after": "data", "packet-out": "data",
         "globals": "data"},
        ("name", "program", "expect"),
    ),
    "defbpf-global": FormDef(
        GlobalSpec,
        {"name": "str", "type": "word", "default": "int", "description": "str"},
        ("name", "type"),
    ),
}
KIND_TABLES = {"program-kind": PROGRAM_KINDS, "map-kind": MAP_KINDS}


class FormError(Exception):
    def __init__(self, diag: Diagnostic):
        super().__init__(diag.message)
        self.diag = diag


def _fail(message: str, span: Span, help: str | None = None):
    raise FormError(error(message, span, help))


def parse_kwargs(head: Node, args: list[Node], fdef: FormDef) -> dict[str, Node]:
    """`:k v` pairs in order; upstream checks: keyword at even slots, odd, duplicates,
    unknown keys (with did-you-mean and the sorted allowed list)."""
    allowed = sorted(fdef.fields)
    out: dict[str, Node] = {}
    if len(args) % 2 == 1 and args and args[0].kind in ("sym", "str") and "name" in fdef.fields:
        out["name"] = Node("str", str(args[0].value), args[0].span)  # seed-doc positional name
        args = args[1:]
    for i in range(0, len(args) - 1, 2):
        key = args[i]
        if key.kind != "kw":
            _fail(f"compile error in kwargs[{i}]: expected keyword, got {key.shape()}", key.span)
    if len(args) % 2 == 1:
        d = args[-1]
        _fail(f"odd keyword arguments: dangling element `{d.text()}`", d.span,
              "every keyword needs a value: `:key value`")
    for i in range(0, len(args), 2):
        key, val = args[i], args[i + 1]
        name = str(key.value)
        if name in out:
            what = "duplicate keyword" if name != "name" or i else "name given twice"
            _fail(f"compile error in :{name}: {what}", key.span)
        if name not in fdef.fields:
            hint = suggest(name, allowed)
            lst = ", ".join(f":{a}" for a in allowed)
            msg = (f"compile error in :{name}: unknown keyword (did you mean :{hint}?; allowed: {lst})"
                   if hint else f"compile error in :{name}: unknown keyword (allowed: {lst})")
            _fail(msg, key.span, f"did you mean `:{hint}`?" if hint else None)
        out[name] = val
    for req in fdef.required:
        if req not in out:
            _fail(f"compile error in :{req}: required but not provided", head.span,
                  f"add `:{req} ...` to this form")
    return out


def _string(key: str, node: Node) -> str:
    if node.kind != "str":
        _fail(f"compile error in :{key}: expected string, got {node.shape()}", node.span,
              f'write it as a string: "{node.value}"' if node.kind in ("sym", "kw") else None)
    return node.value  # type: ignore[return-value]


def _u32(key: str, node: Node) -> int:
    if node.kind == "float" and node.reader is not None:  # an integer beyond i64 reads as float
        lexeme = node.reader.text[node.offset:node.end_offset]
        if lexeme.lstrip("+-").isdigit():
            _fail(f"compile error in :{key}: integer of {len(lexeme.lstrip('+-'))} digits out of "
                  "u32 range (0..=4294967295)", node.span)
    if node.kind != "int":
        _fail(f"compile error in :{key}: expected int, got {node.shape()}", node.span)
    n = int(node.value)  # type: ignore[arg-type]
    if not 0 <= n <= 2**32 - 1:
        _fail(f"compile error in :{key}: integer {n} out of u32 range (0..=4294967295)", node.span)
    return n


def _strlist(key: str, node: Node, spans: dict[str, Span], field: str) -> list[str]:
    if node.kind != "list":
        _fail(f"compile error in :{key}: expected list of strings, got {node.shape()}", node.span,
              f'write it as a list: :{key} ("a" "b")')
    out = []
    for i, item in enumerate(node.items):
        if item.kind != "str":
            _fail(f"compile error in :{key}[{i}]: expected string, got {item.shape()}", item.span)
        spans[f"{field}[{i}]"] = item.span
        out.append(item.value)
    return out


def _kind(key: str, node: Node, table: dict) -> str:
    if node.kind == "kw":
        wire = f":{node.value}"
    elif node.kind == "str":
        wire = str(node.value)
    else:
        wire = f"{node.value}"
    if wire not in table or node.kind not in ("kw", "str"):
        expected = ", ".join(f"`{w}`" for w in table)
        guess = suggest(wire if wire.startswith(":") else f":{wire}", list(table))
        if not wire.startswith(":") and f":{wire}" in table:
            guess = f":{wire}"
        _fail(f"compile error in :{key}: unknown variant `{wire}`, expected one of {expected}",
              node.span, f"did you mean `{guess}`?" if guess else None)
    return wire


def _attach(node: Node, spans: dict[str, Span]) -> dict:
    """`(:target "eth0" :direction "egress")`, or the serde sequence ("eth0" "egress")."""
    if node.kind != "list":
        _fail(f"compile error in :attach: expected (:target \"...\"), got {node.shape()}",
              node.span, 'write `:attach (:target "eth0")`')
    items = node.items
    if items and items[0].kind == "kw":
        fdef = FormDef(dict, {"target": "str", "direction": "str"}, ())
        kw = parse_kwargs(node, items, fdef)
        out = {}
        for k, v in kw.items():
            out[k] = _string(f"attach.{k}", v)
            spans[f"attach.{k}"] = v.span
        return out
    if not 1 <= len(items) <= 2:
        _fail("compile error in :attach: expected (target [direction])", node.span)
    names = ["target", "direction"]
    for i, item in enumerate(items):
        spans[f"attach.{names[i]}"] = item.span
    return {names[i]: _string(f"attach.{names[i]}", v) for i, v in enumerate(items)}


def _fields(node: Node, spans: dict[str, Span]) -> list[dict]:
    """`((pid :u32) (addr :ipv4) (comm (:bytes 16)))` -> [{name, type}] ("bytes:16")."""
    if node.kind != "list" or not node.items:
        _fail(f"compile error in :fields: expected ((name :type) ...), got {node.shape()}",
              node.span, "e.g. :fields ((pid :u32) (comm (:bytes 16)))")
    out = []
    for i, item in enumerate(node.items):
        parts = item.items if item.kind == "list" else []
        if len(parts) != 2 or parts[0].kind not in ("sym", "str"):
            _fail(f"compile error in :fields[{i}]: expected (name :type), got {item.text()[:40]}",
                  item.span)
        t = parts[1]
        if t.kind == "list" and len(t.items) == 2 and t.items[1].kind == "int":
            ty = f"{t.items[0].value}:{t.items[1].value}"
        elif t.kind in ("kw", "sym", "str"):
            ty = str(t.value)
        else:
            ty = t.text()[:40]
        spans[f"fields[{i}]"] = item.span
        out.append({"name": str(parts[0].value), "type": ty})
    return out


def to_data(node: Node, spans: dict[str, Span] | None = None, path: str = ""):
    """A nested value as plain data: `(:k v ...)` -> dict (kebab -> snake keys), other
    lists -> list, keywords -> ":name", atoms as they are. With `spans`, each nested key's
    span is recorded under its dotted path (`packet.vlan.0.id`, the model's error `loc`)."""
    if node.kind == "list":
        items = node.items
        if items and len(items) % 2 == 0 and all(k.kind == "kw" for k in items[0::2]):
            out = {}
            for k, v in zip(items[0::2], items[1::2], strict=True):
                key = str(k.value).replace("-", "_")
                if spans is not None:
                    spans.setdefault(f"{path}.{key}", k.span)
                out[key] = to_data(v, spans, f"{path}.{key}")
            return out
        if spans is not None:
            for i, x in enumerate(items):
                spans.setdefault(f"{path}.{i}", x.span)
        return [to_data(x, spans, f"{path}.{i}") for i, x in enumerate(items)]
    if node.kind == "kw":
        return f":{node.value}"
    if node.kind == "quote":
        return to_data(node.value, spans, path)  # type: ignore[arg-type]
    return node.value


def convert_field(kind: str, key: str, node: Node, spans: dict[str, Span], field: str):
    if kind == "data":
        return to_data(node, spans, field)
    if kind == "action":
        if node.kind not in ("kw", "int"):
            _fail(f"compile error in :{key}: expected an action keyword or an integer, got "
                  f"{node.shape()}", node.span)
        return to_data(node)
    if kind == "str":
        return _string(key, node)
    if kind == "word":  # :u16 or "u16"; the model checks the value
        if node.kind not in ("kw", "str", "sym"):
            _fail(f"compile error in :{key}: expected a keyword, got {node.shape()}", node.span)
        return str(node.value)
    if kind == "int":
        if node.kind != "int":
            _fail(f"compile error in :{key}: expected int, got {node.shape()}", node.span)
        return int(node.value)  # type: ignore[arg-type]
    if kind == "u32":
        return _u32(key, node)
    if kind == "strlist":
        return _strlist(key, node, spans, field)
    if kind == "attach":
        return _attach(node, spans)
    if kind == "fields":
        return _fields(node, spans)
    return _kind(key, node, KIND_TABLES[kind])


def compile_form(form: Node, file: str) -> Located:
    """One `(defbpf-... )` form -> Located spec; raises FormError at the first problem."""
    head, args = form.items[0], form.items[1:]
    fdef = FORMS[str(head.value)]
    kwargs = parse_kwargs(head, args, fdef)
    spans: dict[str, Span] = {"": head.span}
    data = {}
    for key, node in kwargs.items():
        field = key.replace("-", "_")
        spans.setdefault(field, node.span)
        data[field] = convert_field(fdef.fields[key], key, node, spans, field)
    try:
        spec = build(fdef.model, data)
    except DataError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        msg, help = err["msg"], None
        if err["type"] == "extra_forbidden":
            allowed = [a.replace("_", "-") for a in allowed_fields(fdef.model, err["loc"])]
            unknown = str(err["loc"][-1]).replace("_", "-")
            hint = suggest(unknown, allowed)
            msg = f"unknown field (allowed: {', '.join(':' + a for a in allowed)})"
            help = f"did you mean `:{hint}`?" if hint else None
        top = str(err["loc"][0]) if err["loc"] else ""
        item = f"{top}[{err['loc'][1]}]" if len(err["loc"]) > 1 else top
        _fail(f"compile error in :{loc.replace('_', '-')}: {msg}",
              _deepest(spans, loc, spans.get(item, spans.get(top, head.span))), help)
    return Located(spec, file, spans)


def _deepest(spans: dict[str, Span], loc: str, default: Span) -> Span:
    """The span of `loc` (`packet.vlan.0.id`) or of its nearest recorded parent; a lone
    item a model made a list (`:vlan (:id 1)` is `vlan.0`) is found without its index."""
    while loc:
        for key in (loc, loc.replace(".0.", ".").removesuffix(".0")):
            if key in spans:
                return spans[key]
        loc = loc.rsplit(".", 1)[0] if "." in loc else ""
    return default


def compile_bpf_fn(form: Node, file: str) -> BpfFnForm:
    """`(bpf-fn name (params...) body...)`; upstream's BadShape text on a bad head."""
    items = form.items
    shape_msg = f"expected `(bpf-fn name (params) body…)`, got `{form.text()[:60]}`"
    if len(items) < 3 or items[1].kind != "sym" or items[2].kind != "list":
        _fail(shape_msg, form.span, "e.g. (bpf-fn drop-syn (ctx) (return :xdp-pass))")
    for p in items[2].items:
        if p.kind != "sym":
            _fail(f"bpf-fn parameter must be a symbol, got {p.shape()}", p.span)
    if len(items) == 3:
        _fail(f"bpf-fn `{items[1].value}` has no body", form.span)
    params = tuple(str(p.value) for p in items[2].items)
    return BpfFnForm(str(items[1].value), params, tuple(items[3:]), file, items[1].span)


def compile_forms(forms: list[Node], file: str, sink) -> list[Diagnostic]:
    """Feed every recognised top-level form to `sink(kind, obj)`; collect diagnostics.

    One bad form does not hide the next: each form's first error is reported.
    """
    diags: list[Diagnostic] = []
    for form in forms:
        if form.kind != "list" or not form.items or form.items[0].kind != "sym":
            diags.append(warning(f"top-level `{form.text()[:40]}` is not a (def... ) form; ignored",
                                 form.span))
            continue
        head = str(form.items[0].value)
        try:
            if head in FORMS:
                sink(head, compile_form(form, file))
            elif head == "bpf-fn":
                sink(head, compile_bpf_fn(form, file))
            else:
                hint = suggest(head, [*FORMS, "bpf-fn"])
                diags.append(warning(f"unknown form `({head} …)` ignored", form.items[0].span,
                                     f"did you mean `{hint}`?" if hint else None))
        except FormError as exc:
            diags.append(exc.diag)
            name = _name_of(form)
            if name:
                sink("broken", name)
    return diags


def _name_of(form: Node) -> str | None:
    """The `:name` of a form that failed, so later rules don't report it missing."""
    items = form.items
    for i in range(1, len(items) - 1):
        if items[i].kind == "kw" and items[i].value == "name" and items[i + 1].kind == "str":
            return str(items[i + 1].value)
    if len(items) > 1 and items[1].kind in ("sym", "str"):
        return str(items[1].value)
    return None
