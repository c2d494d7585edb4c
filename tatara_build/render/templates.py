"""The jinja2 environment: StrictUndefined, no autoescape, filters that escape for
the place a string lands (TOML, Nix, a one-line comment).

Why jinja2: whole files (Cargo.toml, main.rs, flake.nix) read best as templates
with holes, and StrictUndefined turns a missing context key into an error at
render time instead of an empty string in generated code.
"""

from __future__ import annotations

from functools import lru_cache

import jinja2

from tatara_build.lower.plan import PlannedFile, banner_text
from tatara_build.resources import templates_dir


def toml_string(value: str) -> str:
    """A TOML basic string in ASCII: `\\u`/`\\U` escapes for everything else
    (JSON's surrogate pairs for an emoji are not valid TOML)."""
    out = []
    for c in value:
        o = ord(c)
        if c in '"\\':
            out.append("\\" + c)
        elif 0x20 <= o < 0x7F:
            out.append(c)
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\uFFFD")  # a lone surrogate has no TOML form (the readers refuse it)
        else:
            out.append(f"\\u{o:04X}" if o <= 0xFFFF else f"\\U{o:08X}")
    return '"' + "".join(out) + '"'


def nix_string(value: str) -> str:
    """A Nix double-quoted string: escape `\\`, `"`, and `${` interpolation."""
    body = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return '"' + body.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def comment(value: object) -> str:
    """Text safe inside a one-line comment: control characters become spaces."""
    return "".join(c if c.isprintable() else " " for c in str(value)).replace("*/", "* /")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())), undefined=jinja2.StrictUndefined,
        autoescape=False, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(toml=toml_string, nix=nix_string, comment=comment)
    return env


def render_file(f: PlannedFile) -> bytes:
    """The bytes of one planned file."""
    if f.copy_from is not None:
        data = f.copy_from.read_bytes()
        return f.prefix.encode() + data if f.prefix else data
    if f.text is not None:
        return f.text.encode()
    assert f.template and f.context is not None
    text = banner_text(f.context["spec_hash"])
    ctx = {**f.context, "banner_text": text, "banner_hash": f"# {text}",
           "banner_slash": f"// {text}"}
    out = environment().get_template(f.template).render(ctx)
    return out.encode()
