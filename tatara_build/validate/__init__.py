"""Validation: every rule is a small function `(ctx) -> Iterable[Diagnostic]`.

All rules run and every diagnostic is collected; errors stop the pipeline,
warnings and notes do not. Rules read model/kinds.py, never their own tables.
"""

from __future__ import annotations

from tatara_build.diagnostics import Diagnostic, SourceCache, sort_key
from tatara_build.model.ir import Project
from tatara_build.validate import (
    bodies,
    buildable,
    maps,
    names,
    pins,
    policy,
    programs,
    records,
    sources,
    tests,
)
from tatara_build.validate.context import Context

RULES = [
    *names.RULES, *policy.RULES, *programs.RULES, *maps.RULES, *sources.RULES, *pins.RULES,
    *tests.RULES, *buildable.RULES, *records.RULES, *bodies.RULES,
]


def validate(project: Project, source_cache: SourceCache | None = None) -> list[Diagnostic]:
    ctx = Context(project, source_cache or SourceCache())
    diags: list[Diagnostic] = []
    for rule in RULES:
        diags.extend(rule(ctx))
    return sorted(diags, key=sort_key)
