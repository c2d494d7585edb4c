"""Fuzzing the readers, validator and lowering with mutated spec files.

Seeds: every spec under examples/ and tests/fixtures/, plus each one's JSON and TOML
wire form. A mutation deletes, duplicates or swaps spans, or inserts a hostile token
(huge integers, deep nesting, lone surrogates, bidi controls, 100 kB atoms, keywords).
Each input goes through `render_files` (read -> validate -> lower -> render, in memory);
the oracle: it returns or raises a TataraError with exit code 1, within a time bound.
Anything else is a crash.

CI runs a fixed budget (TATARA_FUZZ_SECONDS, default 30 s) with a fixed seed; a longer
campaign: `python3 -m tests.test_fuzz --seconds 600 --seed 7`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import sys
import tempfile
import time
import tomllib
import traceback
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLOW_SECONDS = 5.0  # an input slower than this counts as a crash (stall)

HOSTILE = [
    "9" * 25, "9" * 320, "9" * 4400, "-" + "9" * 320, "1e999", "nan", "-0", "4294967295",
    "4294967296", "18446744073709551616", "(" * 400, ")" * 50, "[" * 2000, "{" * 500,
    "\\ud800", "\\udfff", '"\\ud83d\\ude00"', "\u202e", "\u2066", "\x00", "\x07", "😀",
    '"' + "x" * 100_000 + '"', ":" + "k" * 100_000, "x" * 100_000, "type", "loop", "self",
    '"type"', '"A"', '"v_a"', '"a-b"', '"a_b"', ":key-size", ":value-size", ":max-entries",
    ":kind", ":hash", ":ring-buf", ":xdp", ":lsm", ":name", '"/etc/shadow"', '"../x.bpf.o"',
    "(bpf-fn f (ctx) (return :xdp-pass))", "'", "`", ",@", ";", "#t", "\n", " ", "\\",
    '"', ":maps-before", ":key", ":value", '"hex:00"', "0x10",
]


@dataclass
class Seed:
    name: str
    folder: Path
    text: str


@dataclass
class Report:
    tried: int = 0
    crashes: list[tuple[str, str]] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    by_outcome: dict[str, int] = field(default_factory=dict)


def seeds() -> list[Seed]:
    from tatara_build.cli.common import load_project

    out = []
    for f in sorted([*ROOT.glob("examples/**/*.tlisp"), *ROOT.glob("examples/**/*.toml"),
                     *ROOT.glob("tests/fixtures/*.tlisp")]):
        text = f.read_text()
        out.append(Seed(f.name, f.parent, text))
        if f.suffix == ".tlisp":
            try:
                wire = load_project([f], strict=False).project.wire()
            except Exception:  # noqa: BLE001 - a seed that does not load still mutates
                continue
            out.append(Seed(f.stem + ".json", f.parent, json.dumps(wire, indent=1)))
    return out


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.choice((1, 1, 2, 3))):
        n = len(text)
        i, j = sorted((rng.randrange(n + 1), rng.randrange(n + 1)))
        op = rng.randrange(7)
        if op == 0:
            text = text[:i] + text[j:]  # delete
        elif op == 1:
            text = text[:i] + text[i:j] + text[i:]  # duplicate
        elif op in (2, 3):
            text = text[:i] + rng.choice(HOSTILE) + text[i:]  # insert a hostile token
        elif op == 4:
            text = text[:i] + rng.choice(HOSTILE) + text[j:]  # replace a span
        elif op == 5:
            depth = rng.choice((70, 330, 1200))
            text = text[:i] + "(" * depth + text[i:j] + ")" * depth + text[j:]  # nest
        else:
            k = rng.randrange(n + 1)
            text = text[:k] + text[i:j] + text[k:]  # move a copy elsewhere
    return text


def run_one(path: Path) -> str:
    """'ok', 'refused', or raises (a crash)."""
    from tatara_build.cli.render import render_files
    from tatara_build.errors import TataraError

    try:
        render_files([path])
    except TataraError as exc:
        if exc.exit_code != 1:
            raise AssertionError(f"exit code {exc.exit_code}: {exc.message}") from None
        return "refused"
    return "ok"


def campaign(seconds: float, seed: int) -> Report:
    rng = random.Random(seed)
    report = Report()
    pool = seeds()
    deadline = time.monotonic() + seconds
    with tempfile.TemporaryDirectory(prefix="tatara-fuzz-") as tmp:
        while time.monotonic() < deadline:
            s = rng.choice(pool)
            work = Path(tmp) / f"case{report.tried}"
            shutil.copytree(s.folder, work, ignore=shutil.ignore_patterns("*.tlisp", "*.toml",
                                                                          "*.json"))
            text = mutate(rng, s.text)
            target = work / s.name
            target.write_text(text, encoding="utf-8", errors="surrogatepass")
            t0 = time.perf_counter()
            try:
                outcome = run_one(target)
            except Exception:  # noqa: BLE001 - every other exception is the finding
                outcome = "crash"
                report.crashes.append((text, traceback.format_exc(limit=-3)))
            dt = time.perf_counter() - t0
            if dt > SLOW_SECONDS:  # timed again: a busy machine can stall any one run
                t1 = time.perf_counter()
                with contextlib.suppress(Exception):
                    run_one(target)
                dt = min(dt, time.perf_counter() - t1)
                if dt > SLOW_SECONDS:
                    report.crashes.append((text, f"took {dt:.1f} s (twice)"))
            report.tried += 1
            report.by_outcome[outcome] = report.by_outcome.get(outcome, 0) + 1
            if dt > report.slowest[0]:
                report.slowest = (dt, f"{s.name}: {text[:120]!r}")
            shutil.rmtree(work, ignore_errors=True)
    return report


def summary(r: Report) -> str:
    return (f"fuzz: {r.tried} inputs tried, {len(r.crashes)} crashes, outcomes {r.by_outcome}, "
            f"slowest {r.slowest[0]:.2f} s ({r.slowest[1]})")


def test_fuzz_budget(capsys):
    import os

    seconds = float(os.environ.get("TATARA_FUZZ_SECONDS", "30"))
    report = campaign(seconds, seed=int(os.environ.get("TATARA_FUZZ_SEED", "10")))
    with capsys.disabled():
        print("\n" + summary(report))
    assert report.tried > 50
    assert report.crashes == [], report.crashes[0][1] + "\ninput: " + repr(report.crashes[0][0][:3000])


def test_seeds_parse_as_their_formats():
    """The JSON seeds are real wire documents (so mutations start from valid input)."""
    for s in seeds():
        if s.name.endswith(".json"):
            assert "programs" in json.loads(s.text)
        elif s.name.endswith(".toml"):
            tomllib.loads(s.text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    report = campaign(args.seconds, args.seed)
    print(summary(report))
    save = Path(tempfile.mkdtemp(prefix="tatara-fuzz-crashes-")) if report.crashes else None
    for i, (text, tb) in enumerate(report.crashes[:20]):
        assert save is not None
        (save / f"crash{i}.txt").write_text(text, encoding="utf-8", errors="surrogatepass")
        print("-" * 60, "\n", tb, "\ninput:", repr(text[:300]), f"(whole: {save}/crash{i}.txt)")
    return 1 if report.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
