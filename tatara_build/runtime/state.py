"""What an apply records: a lock so two applies never run at once, and a journal of
every kernel change, written before the next step, so a killed apply is detected and
undone by the next one. Kept under TATARA_STATE_DIR (default /var/lib/tatara-build).
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

from tatara_build.errors import RuntimeFailure


def state_dir() -> Path:
    return Path(os.environ.get("TATARA_STATE_DIR", "/var/lib/tatara-build"))


@contextmanager
def policy_lock(policy: str):
    """An exclusive, non-blocking lock per policy; a second apply fails at once."""
    d = state_dir()
    d.mkdir(parents=True, exist_ok=True)
    fh = open(d / f"{policy}.lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "?"
        fh.close()
        raise RuntimeFailure(f"another apply of policy `{policy}` is running (pid {holder})") from None
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


class Journal:
    """`<state>/<policy>.json`: status, the undo records of done steps, what is applied."""

    def __init__(self, policy: str):
        self.path = state_dir() / f"{policy}.json"
        self.data: dict = self._read() or {"policy": policy, "status": "absent", "steps": [],
                                          "applied": {}}

    def _read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True))
        os.replace(tmp, self.path)

    @property
    def status(self) -> str:
        return self.data["status"]

    @property
    def interrupted(self) -> bool:
        return self.status == "applying"

    def begin(self) -> None:
        self.data["status"], self.data["steps"] = "applying", []
        self.save()

    def record(self, undo: dict) -> None:
        """Called right after a kernel change succeeded, before the next one starts."""
        self.data["steps"].append(undo)
        self.save()

    def finish(self, applied: dict) -> None:
        self.data.update(status="applied", applied=applied)
        self.save()

    def clear(self) -> None:
        self.data.update(status="absent", steps=[], applied={})
        self.save()
