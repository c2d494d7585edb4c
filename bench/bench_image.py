"""Benchmark: `image build` of every example policy vs `skopeo copy` of the same layout
(both as a user runs them: one process each; target <= 2x), digests compared across two
folders (reproducibility), and — as root with docker-registry installed — `apply --image`
(pull through a local TLS registry, digest checks, apply) vs `apply --artifacts`.
Prints ratios measured in this one run; cleans up everything it made."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REPS = 5
TARGET = Path(os.environ.get("TATARA_TEST_TARGET",
                             Path.home() / ".cache/tatara-build-tests/target"))


def cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "tatara_build", *args], capture_output=True,
                       text=True, env=env, cwd=cwd)
    if r.returncode != 0:
        raise SystemExit(f"tatara-build {' '.join(args)} failed:\n{r.stderr[-2000:]}")
    return r


def timed(fn) -> float:
    """Median CPU time (user + sys of the child processes) of REPS runs of fn(rep): on a
    shared, loaded machine wall time mostly measures the wait for a core."""
    runs = []
    for rep in range(REPS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        fn(rep)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        runs.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(runs)


def in_process(pol: str, arts: Path, tmp: Path) -> float:
    """The layout writer alone (no interpreter start-up), median CPU time."""
    from tatara_build.image import layout

    runs = []
    for rep in range(REPS):
        t0 = time.process_time()
        blobs, index = layout.build(arts / pol)
        layout.write(blobs, index, tmp / f"{pol}-inproc-{rep}")
        runs.append(time.process_time() - t0)
    return statistics.median(runs)


def one_policy(pol: str, arts: Path, tmp: Path) -> float:
    def ours(rep: int) -> None:
        cli("image", "build", pol, "--artifacts", str(arts), "-o", str(tmp / f"{pol}-{rep}"))

    def theirs(rep: int) -> None:
        subprocess.run(["skopeo", "copy", "--all", f"oci:{tmp / f'{pol}-0'}:latest",
                        f"oci:{tmp / f'{pol}-copy-{rep}'}:latest"], check=True, capture_output=True)

    mine, skopeo, inner = timed(ours), timed(theirs), in_process(pol, arts, tmp)
    a = json.loads(cli("image", "build", pol, "--artifacts", str(arts), "-o",
                       str(tmp / "x" / pol), "--json").stdout)["digest"]
    b = json.loads(cli("image", "build", pol, "--artifacts", str(arts), "-o",
                       str(tmp / "y" / "z" / pol), "--json", cwd=tmp).stdout)["digest"]
    print(f"{pol:<18} {mine * 1000:>9.0f}ms {inner * 1000:>9.1f}ms {skopeo * 1000:>9.0f}ms "
          f"{mine / skopeo:>5.2f}x {inner / skopeo:>6.3f}x  {'yes' if a == b else 'NO'} {a[:19]}")
    return mine / skopeo, inner / skopeo


def bench_build(tmp: Path) -> Path:
    out = tmp / "out"
    cli("build", str(ROOT / "examples"), "-o", str(out), "--target-dir", str(TARGET))
    arts = out / "artifacts"
    policies = sorted(p.name for p in arts.iterdir() if (p / "tatara.manifest.json").exists())
    print("CPU ms: `image build` process | layout writer in-process | `skopeo copy` "
          "process; ratios to skopeo; digest equal across two folders")
    ratios = [one_policy(pol, arts, tmp) for pol in policies]
    print(f"image build / skopeo copy, median of {len(ratios)} policies: "
          f"{statistics.median(r[0] for r in ratios):.2f}x as processes, "
          f"{statistics.median(r[1] for r in ratios):.3f}x for the writer alone")
    return arts


def bench_apply(tmp: Path, arts: Path) -> None:
    from tests.registry_util import Registry, registry_skip_reason

    if os.geteuid() != 0 or registry_skip_reason():
        print("apply --image vs --artifacts: skipped (needs root and docker-registry)")
        return
    reg = Registry(tmp / "registry")
    reg.start()
    mounted = False
    root = Path(f"/sys/fs/bpf/tatara-bench-img-{os.getpid()}")
    env = {**os.environ, "SSL_CERT_FILE": str(reg.bundle), "TATARA_STATE_DIR": str(tmp / "st")}
    try:
        if not Path("/sys/kernel/tracing/events").is_dir():
            subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"], check=True)
            mounted = True
        cli("image", "build", "openat_counter", "--artifacts", str(arts), "-o", str(tmp / "img"))
        ref = f"{reg.host}/bench/openat:v1"
        cli("image", "push", str(tmp / "img"), ref, env=env)
        pin = ["--pin-root", str(root)]

        def cycle(*src: str) -> None:
            cli("apply", "openat_counter", *src, *pin, env=env)
            cli("detach", "openat_counter", *src, *pin, env=env)

        local = timed(lambda _: cycle("--artifacts", str(arts)))
        pulled = timed(lambda _: cycle("--image", ref))
        print(f"apply+detach CPU --artifacts {local * 1000:.0f}ms, --image {pulled * 1000:.0f}ms: "
              f"{pulled / local:.2f}x (the pull through skopeo, digest checks and unpack)")
    finally:
        subprocess.run([sys.executable, "-m", "tatara_build", "detach", "openat_counter",
                        "--artifacts", str(arts), "--pin-root", str(root)], env=env,
                       capture_output=True)
        subprocess.run(["rm", "-rf", str(root)])
        if mounted:
            subprocess.run(["umount", "/sys/kernel/tracing"])
        reg.stop()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tatara-bench-image-") as d:
        arts = bench_build(Path(d))
        bench_apply(Path(d), arts)


if __name__ == "__main__":
    main()
