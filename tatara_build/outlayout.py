"""The one `out/` layout every verb uses (render, build, test, plan, apply, status, detach).

    out/crates/<policy>/      rendered aya crate (+ carried objects), flake.nix, render lock
    out/artifacts/<policy>/   built objects, .b3 files, tatara.manifest.json
    out/target/               cargo's target folder (unless --target-dir)

`render -o out` and `build -o out` agree: the crates live in out/crates/ for both, so a
build after a render finds the tree already written, and the runtime verbs default to
out/artifacts/. No verb spells a folder of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUT = Path("out")


@dataclass(frozen=True)
class OutLayout:
    root: Path = DEFAULT_OUT

    @property
    def crates(self) -> Path:
        return self.root / "crates"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def target(self) -> Path:
        return self.root / "target"

    def crate(self, policy: str) -> Path:
        return self.crates / policy

    def artifact(self, policy: str) -> Path:
        return self.artifacts / policy

    def resolved(self) -> OutLayout:
        """Absolute: cargo runs inside each crate, where a relative path would move."""
        return OutLayout(self.root.resolve())


DEFAULT_ARTIFACTS = OutLayout().artifacts
