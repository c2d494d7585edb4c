"""Benchmark: finding task_struct field offsets in the running kernel's BTF at load time.

runtime/kbtf.py parses /sys/kernel/btf/vmlinux itself; the alternatives are bpftool's
dumps (`format raw` text, or `-j` JSON) parsed in Python. Each is timed as the best of
several interleaved runs (wall time, since two of them are bpftool processes), and the
ratios are printed; the offsets found must agree.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tatara_build.lower.dsl_tables import KERNEL_FIELDS  # noqa: E402
from tatara_build.runtime import kbtf  # noqa: E402

VMLINUX = "/sys/kernel/btf/vmlinux"
RUNS = 5


def ours() -> dict[str, int]:
    return {f: off for (_, f), off in kbtf.field_offsets(set(KERNEL_FIELDS)).items()}


def bpftool_raw() -> dict[str, int]:
    text = subprocess.run(["bpftool", "btf", "dump", "file", VMLINUX, "format", "raw"],
                          capture_output=True, text=True, check=True).stdout
    block = text.split("STRUCT 'task_struct' size=", 1)[1].split("\n[", 1)[0]
    found = dict(re.findall(r"'(\w+)' type_id=\d+ bits_offset=(\d+)", block))
    return {f: int(found[f]) // 8 for _, f in KERNEL_FIELDS}


def bpftool_json() -> dict[str, int]:
    out = json.loads(subprocess.run(["bpftool", "-j", "btf", "dump", "file", VMLINUX],
                                    capture_output=True, text=True, check=True).stdout)
    task = next(t for t in out["types"] if t["kind"] == "STRUCT" and t["name"] == "task_struct")
    members = {m["name"]: m["bits_offset"] // 8 for m in task["members"]}
    return {f: members[f] for _, f in KERNEL_FIELDS}


def main() -> None:
    best = {fn.__name__: float("inf") for fn in (ours, bpftool_raw, bpftool_json)}
    results = {}
    for _ in range(RUNS):
        for fn in (ours, bpftool_raw, bpftool_json):
            t = time.perf_counter()
            results[fn.__name__] = fn()
            best[fn.__name__] = min(best[fn.__name__], time.perf_counter() - t)
    assert results["ours"] == results["bpftool_raw"] == results["bpftool_json"], results
    print(f"task_struct offsets {results['ours']}")
    for name, secs in best.items():
        print(f"{name:13} {secs * 1e3:7.1f} ms  ratio to ours {secs / best['ours']:5.1f}x")


if __name__ == "__main__":
    main()
