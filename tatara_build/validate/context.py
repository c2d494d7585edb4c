"""What every rule sees: the project and a cache of source files it may read."""

from __future__ import annotations

from dataclasses import dataclass

from tatara_build.diagnostics import SourceCache
from tatara_build.model.ir import Project


@dataclass
class Context:
    project: Project
    sources: SourceCache
