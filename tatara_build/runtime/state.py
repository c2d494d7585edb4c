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
    """`<state>/<policy>.json` (status and what is applied) plus `<policy>.steps.jsonl`,
    an append-only log of undo records: one short write per kernel change instead of
    rewriting the state file (which cost half of an apply's time, bench_apply.py).
    A line written before a kill -9 is in the page cache, so the next apply reads it."""

    def __init__(self, policy: str):
        self.path = state_dir() / f"{policy}.json"
        self.steps_path = state_dir() / f"{policy}.steps.jsonl"
        self.data: dict = self._read() or {"policy": policy, "status": "absent", "applied": {}}
        self.data["steps"] = self._read_steps()
        self._log = None

    def _read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def _read_steps(self) -> list[dict]:
        try:
            lines = self.steps_path.read_text().splitlines()
        except OSError:
            return []
        out = []
        for ln in lines:
            try:
                out.append(json.loads(ln))
            except ValueError:
                break  # a torn last line: that change never completed
        return out

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: v for k, v in self.data.items() if k != "steps"},
                                  indent=2, sort_keys=True))
        os.replace(tmp, self.path)
        if not self.data["steps"]:
            self._close()
            self.steps_path.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

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
        if self._log is None:
            self.steps_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.steps_path, "a", buffering=1)
        self._log.write(json.dumps(undo, sort_keys=True) + "\n")

    def finish(self, applied: dict) -> None:
        self.data.update(status="applied", applied=applied, steps=[])
        self.save()

    def clear(self) -> None:
        self.data.update(status="absent", steps=[], applied={})
        self.save()
