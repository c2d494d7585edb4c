"""Benchmark: apply of a 20-program / 20-map policy (tc programs on a veth in a netns of
its own), as a ratio to the minimal raw bpftool/tc commands doing the same work in the
same run (target <= 1.3x), and re-apply of the unchanged policy (target: <= 3 bpftool
calls, no mutation). Needs root and bpffs; cleans up everything it made."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tatara_build.cli.common import load_project  # noqa: E402
from tatara_build.runtime import lifecycle  # noqa: E402
from tatara_build.runtime.kernel import Kernel, tc_pref  # noqa: E402
from tatara_build.runtime.target import load_target  # noqa: E402

N = 20
NS, HOST = "tbbench", "tbbenchh"


def spec_text() -> str:
    parts = []
    for i in range(N):
        parts.append(f'(defbpf-map :name "bm{i}" :kind :array :key-size 4 :value-size 8 '
                     f':max-entries 1)')
        parts.append(f'(defbpf-program :name "bp{i}" :kind :tc :attach (:target "eth0" '
                     f':direction "ingress") :source "bench.tlisp:f{i}" :uses-maps ("bm{i}"))')
        parts.append(f"(bpf-fn f{i} (ctx) (map-incr bm{i} 0) (return :tc-act-ok))")
    progs = " ".join(f'"bp{i}"' for i in range(N))
    maps = " ".join(f'"bm{i}"' for i in range(N))
    parts.append(f'(defbpf-policy :name "bench" :description "20 x tc" :programs ({progs}) '
                 f':maps ({maps}))')
    return "\n".join(parts) + "\n"


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def raw_apply(obj: Path, root: Path) -> None:
    """What a careful operator types: maps, one loadall with rebinds, clsact, filters."""
    (root / "maps").mkdir(parents=True)
    for i in range(N):
        sh("bpftool", "-n", "map", "create", str(root / "maps" / f"bm{i}"), "type", "array",
           "key", "4", "value", "8", "entries", "1", "name", f"bm{i}")
    rebind = [a for i in range(N) for a in ("map", "name", f"bm{i}", "pinned",
                                            str(root / "maps" / f"bm{i}"))]
    sh("bpftool", "-n", "prog", "loadall", str(obj), str(root / "progs"), *rebind)
    ns = ["nsenter", f"--net=/run/netns/{NS}", "tc"]
    sh(*ns, "qdisc", "replace", "dev", "eth0", "clsact")
    for i in range(N):
        sh(*ns, "filter", "replace", "dev", "eth0", "ingress", "pref", str(tc_pref(f"bp{i}")),
           "handle", "1", "bpf", "direct-action", "pinned", str(root / "progs" / f"bp{i}"))


def raw_cleanup(root: Path) -> None:
    subprocess.run(["nsenter", f"--net=/run/netns/{NS}", "tc", "qdisc", "del", "dev", "eth0",
                    "clsact"], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    if os.geteuid() != 0:
        print("needs root")
        return 1
    tmp = Path(tempfile.mkdtemp())
    os.environ["TATARA_STATE_DIR"] = str(tmp / "state")
    root = Path("/sys/fs/bpf/tatara-bench")
    try:
        (tmp / "bench.tlisp").write_text(spec_text())
        target_dir = Path.home() / ".cache/tatara-build-tests/target"
        subprocess.run([sys.executable, "-m", "tatara_build", "build", str(tmp / "bench.tlisp"),
                        "-o", str(tmp / "out"), "--target-dir", str(target_dir)], check=True)
        sh("ip", "netns", "add", NS)
        sh("ip", "link", "add", HOST, "type", "veth", "peer", "name", "eth0", "netns", NS)
        project = load_project([tmp / "bench.tlisp"]).project
        t = load_target(project, "bench", tmp / "out" / "artifacts", root)
        obj = tmp / "out" / "artifacts" / "bench" / "bench.bpf.o"
        raw_times, ours_times = [], []
        for _ in range(3):
            start = time.perf_counter()
            raw_apply(obj, root / "raw")
            raw_times.append(time.perf_counter() - start)
            raw_cleanup(root / "raw")
            k = Kernel(NS)
            start = time.perf_counter()
            lifecycle.apply(t, k)
            ours_times.append(time.perf_counter() - start)
            calls_first = k.calls
            k2 = Kernel(NS)
            start = time.perf_counter()
            actions = lifecycle.apply(t, k2)
            again = time.perf_counter() - start
            lifecycle.detach(t, Kernel(NS))
        raw, ours = min(raw_times), min(ours_times)
        print(f"policy: {N} tc programs, {N} maps")
        print(f"raw bpftool/tc commands: {raw * 1000:8.1f} ms  ({2 * N + 2} processes)")
        print(f"tatara-build apply:      {ours * 1000:8.1f} ms  ({calls_first} bpftool/tc processes)"
              f"   ratio {ours / raw:.2f}x (target <= 1.3x)")
        noop = [a.kind for a in actions] == ["nothing"]
        print(f"re-apply unchanged:      {again * 1000:8.1f} ms  {k2.calls} bpftool calls, "
              f"{'no mutation' if noop else 'MUTATED'} (target <= 3 calls)")
        ok = ours / raw <= 1.3 and k2.calls <= 3 and noop
        print(f"targets: {'PASS' if ok else 'FAIL'}")
        return 0
    finally:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        subprocess.run(["ip", "link", "del", HOST], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
