"""Where a policy lives in bpffs: `<root>/<policy>/{maps,progs,links,staging,marks}/` by default
(root /sys/fs/bpf/tatara), or the spec's own pin paths for maps and programs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = Path("/sys/fs/bpf/tatara")


@dataclass(frozen=True)
class PinLayout:
    policy: str
    root: Path = DEFAULT_ROOT

    @property
    def base(self) -> Path:
        return self.root / self.policy

    @property
    def maps(self) -> Path:
        return self.base / "maps"

    @property
    def progs(self) -> Path:
        return self.base / "progs"

    @property
    def links(self) -> Path:
        return self.base / "links"

    @property
    def staging(self) -> Path:
        return self.base / "staging"

    @property
    def marks(self) -> Path:
        """Empty folders recording facts a lost journal must not erase (netns, qdiscs)."""
        return self.base / "marks"

    def map_pin(self, name: str, spec_pin: str | None = None) -> Path:
        return Path(spec_pin) if spec_pin else self.maps / name

    def prog_pin(self, name: str, spec_pin: str | None = None) -> Path:
        return Path(spec_pin) if spec_pin else self.progs / name
