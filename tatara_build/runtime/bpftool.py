"""bpftool as a subprocess: argument lists, `-j` for data, `-n` on every pinning
command (without it bpftool mounts a bpffs wherever a pin's folder is not one),
and the traps of bpftool 7.1 on this kernel handled in one place: errors on stdout under
`-j`, `null` for success, `"\\n"` for an empty cgroup, verifier logs on stderr.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from tatara_build.backends.proc import Result
from tatara_build.errors import EnvironmentProblem
from tatara_build.runtime import verifylog
from tatara_build.runtime.base import Io, MapError, VerifierRejected

_LOG = re.compile(r"libbpf: prog '([^']+)': -- BEGIN PROG LOAD LOG --\n(.*?)-- END PROG LOAD LOG --",
                  re.S)
_FAILED = re.compile(r"libbpf: prog '([^']+)': BPF program load failed: (.+)")


@lru_cache(maxsize=1)
def bpftool_path() -> str:
    path = shutil.which("bpftool")
    if not path:
        raise EnvironmentProblem("bpftool not found (Debian: apt-get install bpftool)")
    return path


def run_tool(argv: list[str], input: str | None = None) -> Result:
    """Run bpftool/tc/nsenter without a shell; output decoded with errors='replace' (a
    corrupt object makes bpftool print raw bytes), a missing program a failed Result."""
    try:
        p = subprocess.run(argv, capture_output=True, encoding="utf-8", errors="replace",
                           input=input)
    except FileNotFoundError:
        return Result(argv, 127, "", f"{argv[0]}: command not found")
    return Result(argv, p.returncode, p.stdout, p.stderr)


def call(args: list[str], json_out: bool = True) -> Result:
    argv = [bpftool_path()] + (["-j"] if json_out else []) + args
    return run_tool(argv)


def parse_json(res: Result):
    """bpftool -j output as data: `null` / empty / not JSON -> None."""
    text = res.stdout.strip()
    if not text or text == "null":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def error_text(res: Result) -> str:
    """The error bpftool gave: `{"error": ...}` on stdout with -j, else stderr."""
    try:
        data = parse_json(res)
        if isinstance(data, list) and data and isinstance(data[-1], dict):
            data = data[-1].get("output")  # batch: the failed command is the last one
        if isinstance(data, dict) and "error" in data:
            return str(data["error"])
    except ValueError:
        pass
    lines = [ln for ln in res.stderr.splitlines()
             if ln.startswith("Error:") or ln.startswith("libbpf:")]
    return (lines[-1] if lines else res.stderr.strip() or f"exit {res.returncode}").removeprefix(
        "Error: ")


def load_failure(res: Result, obj: Path) -> Exception:
    """VerifierRejected (with the log) when the kernel refused a program, else Io."""
    m = _LOG.search(res.stderr)
    failed = _FAILED.search(res.stderr)
    if m or failed:
        prog = (m or failed).group(1)  # type: ignore[union-attr]
        why = failed.group(2) if failed else "rejected"
        log = m.group(2).strip() if m else ""
        where = verifylog.locate(log, verifylog.line_table(obj))
        at = f" (code of the form at {where.span}, {where.generated})" if where else ""
        err = VerifierRejected(f"program `{prog}` in {obj.name}: {why}{at}", prog, log)
        err.where = where
        return err
    why = [ln.removeprefix("libbpf: ") for ln in res.stderr.splitlines()
           if ln.startswith("libbpf:") and "BTF is optional" not in ln][-5:]
    return Io(f"bpftool could not load {obj}: " + ("; ".join(why) or error_text(res)))


def loadall(obj: Path, progs: Path, maps: Path | None = None,
            rebind: dict[str, Path] | None = None) -> Result:
    """`prog loadall OBJ PROGDIR [map name N pinned P]... [pinmaps MAPDIR]`."""
    args = ["-n", "prog", "loadall", str(obj), str(progs)]
    for name, pin in sorted((rebind or {}).items()):
        args += ["map", "name", name, "pinned", str(pin)]
    if maps is not None:
        args += ["pinmaps", str(maps)]
    return call(args, json_out=False)


def hex_bytes(data: bytes) -> list[str]:
    """`hex` then exactly two digits per byte (bpftool reads `010` as octal otherwise)."""
    return ["hex", *(f"{b:02x}" for b in data)]


def map_update(pin: Path, key: bytes, value: bytes) -> None:
    res = call(["map", "update", "pinned", str(pin), "key", *hex_bytes(key),
                "value", *hex_bytes(value)])
    if not res.ok:
        raise MapError(f"update {pin}: {error_text(res)}")


def map_dump(pin: Path) -> list[dict]:
    res = call(["map", "dump", "pinned", str(pin)])
    if not res.ok:
        raise MapError(f"dump {pin}: {error_text(res)}")
    return parse_json(res) or []
