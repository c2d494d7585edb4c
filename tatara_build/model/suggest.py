"""Did-you-mean hints with upstream's `suggest()` thresholds."""

from __future__ import annotations


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def suggest(needle: str, candidates: list[str] | tuple[str, ...]) -> str | None:
    """Closest candidate within 1 (<=3 chars), 2 (<=7) or 3 edits; ties lexicographic."""
    limit = 1 if len(needle) <= 3 else 2 if len(needle) <= 7 else 3
    # the distance is at least the length difference: skip those out of reach unmeasured
    # (a 1 MB unknown keyword would otherwise cost seconds per candidate)
    near = [c for c in candidates if c != needle and abs(len(c) - len(needle)) <= limit]
    scored = sorted((levenshtein(needle, c), c) for c in near)
    return scored[0][1] if scored and scored[0][0] <= limit else None
