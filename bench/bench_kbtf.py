"""Benchmark: kernel task fields, at load time and in the generated code.

1. Finding task_struct field offsets in the running kernel's BTF: runtime/kbtf.py parses
   /sys/kernel/btf/vmlinux itself; the alternatives are bpftool's dumps (`format raw`
   text, or `-j` JSON) parsed in Python. Each is timed as the best of several interleaved
   runs (wall time: two of them are bpftool processes); the offsets must agree.
2. libbpf-bootstrap's ppid read: `(task-field ppid)` into a map, against its clang -O2
   C twin bench/c/task_ppid.c (BPF_CORE_READ, relocated by libbpf): translated
   instructions of each as loaded (ours through runtime/objprep.py, offsets patched).
   A tracepoint program cannot be test-run, so there is no ns/run column.
Needs root and bpffs for part 2.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tatara_build.lower.dsl_tables import KERNEL_FIELDS  # noqa: E402
from tatara_build.runtime import kbtf, objprep  # noqa: E402

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


TWIN = """
(defbpf-map :name "by_pid" :kind :lru-hash :key-size 4 :value-size 8 :max-entries 4096)
(defbpf-program :name "on_exec" :kind :tracepoint :attach (:target "sched/sched_process_exec")
  :source "task_ppid.tlisp:on-exec" :uses-maps ("by_pid"))
(defbpf-policy :name "task_ppid" :description "ppid twin" :programs ("on_exec") :maps ("by_pid"))
(bpf-fn on-exec (ctx)
  (map-set by_pid (call get-current-tgid) (task-field ppid))
  (return :ok))
"""


def xlated(pin: Path) -> int:
    shown = subprocess.run(["bpftool", "-j", "prog", "show", "pinned", str(pin)],
                           capture_output=True, text=True, check=True).stdout
    return json.loads(shown)["bytes_xlated"] // 8


def codegen(tmp: Path) -> tuple[int, int]:
    """(ours, C) translated instructions of the ppid twins."""
    (tmp / "task_ppid.tlisp").write_text(TWIN)
    subprocess.run([sys.executable, "-m", "tatara_build", "build", str(tmp / "task_ppid.tlisp"),
                    "-o", str(tmp / "out"), "--target-dir",
                    str(Path.home() / ".cache/tatara-build-tests/target")], check=True,
                   capture_output=True, cwd=ROOT)
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu",
                    "-c", str(ROOT / "bench/c/task_ppid.c"), "-o", str(tmp / "c.o")], check=True)
    pins = Path(f"/sys/fs/bpf/tatara-bench-kbtf-{time.monotonic_ns()}")
    pins.mkdir()
    try:
        res, _ = objprep.loadall(tmp / "out/artifacts/task_ppid/task_ppid.bpf.o", pins / "gen",
                                 {}, pins / "gen_maps")
        assert res.ok, res.stderr
        subprocess.run(["bpftool", "-n", "prog", "loadall", str(tmp / "c.o"), str(pins / "c")],
                       check=True, capture_output=True)
        return xlated(pins / "gen/on_exec"), xlated(pins / "c/on_exec")
    finally:
        shutil.rmtree(pins, ignore_errors=True)


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
    tmp = Path(tempfile.mkdtemp())
    try:
        gen, c = codegen(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"ppid read: {gen} xlated insns generated, {c} C (BPF_CORE_READ), ratio {gen / c:.2f}x "
          "(the offsets are two .rodata loads and two unset checks where CO-RE patches "
          "immediates)")


if __name__ == "__main__":
    main()
