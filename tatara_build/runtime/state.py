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

from tatara_build.errors import EnvironmentProblem, RuntimeFailure
from tatara_build.runtime import records
from tatara_build.runtime.records import BadRecord, Record
from tatara_build.runtime.safety import probe_state_dir


def state_dir() -> Path:
    return Path(os.environ.get("TATARA_STATE_DIR", "/var/lib/tatara-build"))


@contextmanager
def policy_lock(policy: str):
    """An exclusive, non-blocking lock per policy; a second apply fails at once."""
    d = state_dir()
    probe_state_dir(d)
    try:
        fh = open(d / f"{policy}.lock", "a+")
    except OSError as exc:
        raise EnvironmentProblem(f"state folder {d}: {exc.strerror}") from None
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
    a write-ahead log: each record (runtime/records.py) is appended and fsync'd *before*
    its kernel change, then confirmed (`{"ok": n}`, no fsync) after it. Everything read
    back is untrusted: a file that is not UTF-8, not JSON, of the wrong shape or with a
    record this runtime does not write marks the journal `corrupt` (with the reason)
    instead of raising; callers then find what is theirs by observing the kernel."""

    def __init__(self, policy: str):
        self.path = state_dir() / f"{policy}.json"
        self.steps_path = state_dir() / f"{policy}.steps.jsonl"
        self.corrupt: str | None = None
        self.data: dict = self._read() or {"policy": policy, "status": "absent", "applied": {}}
        self.data["steps"], self.confirmed = self._read_steps()
        self._log: int | None = None

    def _bad(self, why: str) -> None:
        self.corrupt = self.corrupt or why

    def _read(self) -> dict | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._bad(f"{self.path}: {exc.strerror}")
            return None
        try:
            data = json.loads(raw.decode("utf-8"))
            return check_state(data)
        except (ValueError, BadRecord) as exc:
            self._bad(f"{self.path}: {str(exc)[:120]}")
            return None

    def _read_steps(self) -> tuple[list[Record], int]:
        try:
            lines = self.steps_path.read_bytes().split(b"\n")
        except FileNotFoundError:
            return [], 0
        except OSError as exc:
            self._bad(f"{self.steps_path}: {exc.strerror}")
            return [], 0
        out: list[Record] = []
        confirmed = 0
        for i, ln in enumerate(lines):
            if not ln.strip():
                continue
            try:
                data = json.loads(ln.decode("utf-8"))
                if isinstance(data, dict) and set(data) == {"ok"}:
                    confirmed += 1
                    continue
                out.append(records.parse(data))
            except (ValueError, BadRecord) as exc:
                if i == len(lines) - 1 or (i == len(lines) - 2 and not lines[-1]):
                    break  # a torn last line: that change was never started
                self._bad(f"{self.steps_path} line {i + 1}: {str(exc)[:120]}")
                return [], 0
        return out, confirmed

    def save(self) -> None:
        try:
            self._save()
        except OSError as exc:
            raise EnvironmentProblem(f"state folder {self.path.parent}: cannot write the "
                                     f"journal ({exc.strerror})") from None

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        body = json.dumps({k: v for k, v in self.data.items() if k != "steps"}, indent=2,
                          sort_keys=True, default=_record_json).encode()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        if not self.data["steps"]:
            self._close()
            self.steps_path.unlink(missing_ok=True)
        self.corrupt = None

    def _close(self) -> None:
        if self._log is not None:
            os.close(self._log)
            self._log = None

    @property
    def status(self) -> str:
        return self.data["status"]

    @property
    def interrupted(self) -> bool:
        return self.status == "applying"

    @property
    def applied(self) -> dict:
        return self.data.get("applied") or {}

    def begin(self) -> None:
        self.data["status"], self.data["steps"] = "applying", []
        self.save()

    def intend(self, *recs: Record) -> None:
        """Write-ahead: the records are on disk (one fsync) before their kernel change starts."""
        self.data["steps"].extend(recs)
        self._append("\n".join(json.dumps(records.dump(r), sort_keys=True) for r in recs),
                     sync=True)

    def confirm(self) -> None:
        """After the change: a marker, not fsync'd (a lost one only means a tolerant undo)."""
        self._append(json.dumps({"ok": len(self.data["steps"])}), sync=False)

    def _append(self, line: str, sync: bool) -> None:
        try:
            self._write(line, sync)
        except OSError as exc:
            raise EnvironmentProblem(f"state folder {self.steps_path.parent}: cannot write the "
                                     f"journal ({exc.strerror})") from None

    def _write(self, line: str, sync: bool) -> None:
        if self._log is None:
            self.steps_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = os.open(self.steps_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(self._log, (line + "\n").encode())
        if sync:
            os.fsync(self._log)

    def finish(self, applied: dict) -> None:
        self.data.update(status="applied", applied=applied, steps=[])
        self.save()

    def clear(self) -> None:
        self.data.update(status="absent", steps=[], applied={})
        self.save()


def _record_json(obj: object) -> dict:
    if type(obj) in records.KINDS.values():
        return records.dump(obj)  # type: ignore[arg-type]
    raise TypeError(f"not JSON: {obj!r}")


def check_state(data: object) -> dict:
    """The state file's shape, checked (BadRecord otherwise): status, applied.{objects,
    programs, attach, maps, created, netns}; attach records parsed."""
    if not isinstance(data, dict) or data.get("status") not in ("absent", "applying", "applied"):
        raise BadRecord("state is not an object with a known `status`")
    applied = data.get("applied") or {}
    if not isinstance(applied, dict):
        raise BadRecord("`applied` is not an object")
    for key in ("objects", "programs", "attach", "maps"):
        if not isinstance(applied.get(key, {}), dict):
            raise BadRecord(f"`applied.{key}` is not an object")
    if not all(isinstance(k, str) and isinstance(v, str)
               for k, v in applied.get("objects", {}).items()):
        raise BadRecord("`applied.objects` is not file -> sha256")
    for name, prog in applied.get("programs", {}).items():
        if not isinstance(prog, dict) or not isinstance(prog.get("tag", ""), (str, type(None))):
            raise BadRecord(f"`applied.programs.{name}` is not {{pin, id, tag}}")
    created = applied.get("created", [])
    if not isinstance(created, list) or not all(isinstance(p, str) for p in created):
        raise BadRecord("`applied.created` is not a list of paths")
    netns = applied.get("netns")
    if netns is not None and (not isinstance(netns, str) or not records.NETNS.match(netns)):
        raise BadRecord(f"`applied.netns` {str(netns)[:40]!r} is not a namespace name")
    attach = {}
    for name, recs in applied.get("attach", {}).items():
        if not isinstance(recs, list):
            raise BadRecord(f"`applied.attach.{name}` is not a list")
        attach[name] = [records.parse(r) for r in recs]
    return {**data, "applied": {**applied, "attach": attach}}
