"""Pin paths: absolute, under /sys/fs/bpf/, no `..`, plain characters, unique."""

from __future__ import annotations

import re
from collections.abc import Iterable

from tatara_build.diagnostics import Diagnostic, error
from tatara_build.validate.context import Context

BPFFS = "/sys/fs/bpf/"
PIN_CHARS = re.compile(r"[A-Za-z0-9_.\-/]+\Z")


def pin_problem(path: str) -> str | None:
    if not path.startswith(BPFFS) or path == BPFFS:
        return f"must be an absolute path under {BPFFS}"
    parts = path[len(BPFFS):].split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "must not contain empty, `.` or `..` components"
    if not PIN_CHARS.match(path):
        return "may only use letters, digits, `_`, `.`, `-` and `/`"
    return None


def pin_rules(ctx: Context) -> Iterable[Diagnostic]:
    seen: dict[str, str] = {}
    p = ctx.project
    for what, objs in (("program", p.programs), ("map", p.maps)):
        for o in objs:
            pin = o.spec.pin_path
            if pin is None:
                continue
            problem = pin_problem(pin)
            if problem:
                yield error(f"{what} `{o.spec.name}`: pin path `{pin}` {problem}", o.span("pin_path"))
                continue
            owner = seen.setdefault(pin, f"{what} `{o.spec.name}`")
            if owner != f"{what} `{o.spec.name}`":
                yield error(f"{what} `{o.spec.name}`: pin path `{pin}` is already used by {owner}",
                            o.span("pin_path"))


RULES = [pin_rules]
