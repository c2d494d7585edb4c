"""Benchmark: `check` of a 1,000-program / 1,000-map / 100-policy project.

Prints the check time and its ratio to reading the same files' bytes, measured in
one run (best of 5 each, this machine is noisy). Target: check <= 0.5 s.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.gen_project import generate  # noqa: E402
from tatara_build.cli.common import load_project  # noqa: E402


def best(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = generate(Path(tmp) / "proj", 1000)
        files = sorted(root.rglob("*.tlisp"))
        loaded = load_project([root])
        p = loaded.project
        assert (len(p.programs), len(p.maps), len(p.policies)) == (1000, 1000, 100)
        t_read = best(lambda: [f.read_bytes() for f in files])
        t_check = best(lambda: load_project([root]))
    print(f"files: {len(files)}  programs: 1000  maps: 1000  policies: 100")
    print(f"read bytes: {t_read * 1000:8.2f} ms")
    print(f"check:      {t_check * 1000:8.2f} ms   ratio check/read = {t_check / t_read:.1f}x")
    ok = t_check <= 0.5
    print(f"target check <= 0.5 s: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
