"""Random bounded-loop programs with their expected results (tests/test_loops.py).

Each shape draws constant bounds up to the documented limits (loops.py's MAX_TRIPS and
MAX_NESTED_TRIPS), writes one number to `lout[idx]` and returns a verdict; `expect`
computes both from the same draws and the test packet's bytes, so the kernel run checks
the loop's meaning as well as the verifier's acceptance.
"""

from __future__ import annotations

import random

from tatara_build.lower.bpf_fn.loops import MAX_NESTED_TRIPS, MAX_TRIPS, UNROLL_TRIPS

PAYLOAD = "".join("abcAB"[(i * 7) % 5] for i in range(200))  # 'A' = 65, 'B' = 66


def _trips(rng: random.Random) -> int:
    """Mostly small, sometimes the limit itself."""
    return rng.choice([MAX_TRIPS, rng.randint(1, 8), rng.randint(1, MAX_TRIPS)])


def sum_break(rng, pkt):
    n, k, c = _trips(rng), rng.randint(0, MAX_TRIPS + 4), rng.randint(1, 9)
    body = (f"(let ((acc 0)) (for (i {n}) (when (= i {k}) (break)) (set acc (+ acc (* i {c}))))"
            " (map-set lout IDX acc) (return :xdp-pass))")
    return body, sum(i * c for i in range(min(n, k))), "xdp-pass"


def count_bytes(rng, pkt):
    n, x = _trips(rng), rng.choice([65, 66, 97])
    body = (f"(let ((hits 0) (len (packet-len ctx))) (for (i {n}) (when (>= i len) (break))"
            f" (when (= (load-u8 ctx i) {x}) (set hits (+ hits 1))))"
            " (map-set lout IDX hits) (return :xdp-pass))")
    return body, sum(1 for b in pkt[:n] if b == x), "xdp-pass"


def stride_reads(rng, pkt):
    n, step = _trips(rng), rng.choice([1, 2, 4])
    body = (f"(let ((acc 0) (off 12) (len (packet-len ctx))) (for (i {n})"
            " (when (> (+ off 2) len) (break)) (set acc (+ acc (load-u16 ctx off)))"
            f" (set off (+ off {step}))) (map-set lout IDX acc) (return :xdp-pass))")
    acc, off = 0, 12
    for _ in range(n):
        if off + 2 > len(pkt):
            break
        acc, off = acc + int.from_bytes(pkt[off:off + 2], "big"), off + step
    return body, acc, "xdp-pass"


def cond_stride(rng, pkt):
    """A walk whose advance depends on what it read (unrolled: UNROLL_TRIPS)."""
    n = rng.choice([UNROLL_TRIPS, rng.randint(1, UNROLL_TRIPS)])
    body = (f"(let ((acc 0) (off 12)) (for (i {n}) (set acc (+ acc (load-u16 ctx off)))"
            " (when (= (& acc 3) 1) (set off (+ off 1)))) (map-set lout IDX acc)"
            " (return :xdp-pass))")
    acc, off = 0, 12
    for _ in range(n):
        acc += int.from_bytes(pkt[off:off + 2], "big")
        off += acc & 3 == 1
    return body, acc, "xdp-pass"


def nested_xor(rng, pkt):
    a = rng.randint(1, 64)
    b = rng.randint(1, min(MAX_TRIPS, MAX_NESTED_TRIPS // a))  # each loop within its own limit
    body = (f"(let ((acc 0)) (for (i {a}) (for (j {b}) (set acc (+ acc (^ i j)))))"
            " (map-set lout IDX acc) (return :xdp-pass))")
    return body, sum(i ^ j for i in range(a) for j in range(b)), "xdp-pass"


def return_inside(rng, pkt):
    n, k = _trips(rng), rng.randint(0, MAX_TRIPS)
    body = (f"(do (for (i {n}) (map-add lout IDX 1) (when (= i {k}) (return :xdp-drop)))"
            " (return :xdp-pass))")
    return body, min(n, k + 1), "xdp-drop" if k < n else "xdp-pass"


def map_scan(rng, pkt):
    n = rng.randint(1, 16)
    body = (f"(let ((m 0)) (for (i {n}) (let ((v (map-get lout (+ i 16))))"
            " (when (> v m) (set m v)))) (map-set lout IDX m) (return :xdp-pass))")
    return body, max(range(16, 16 + n)), "xdp-pass"  # slots 16.. hold their own index


SHAPES = [sum_break, count_bytes, stride_reads, cond_stride, nested_xor, return_inside,
          map_scan]


def generate(seed: int, count: int, pkt: bytes) -> tuple[str, list[tuple[str, int, str]]]:
    """The .tlisp text of `count` programs and tests, and (name, expected, verdict) each."""
    rng = random.Random(seed)
    forms, cases = [], []
    for idx in range(count):
        body, value, verdict = SHAPES[idx % len(SHAPES)](rng, pkt)
        name = f"p{idx}"
        forms.append(f'(defbpf-program :name "{name}" :kind :xdp :attach (:target "eth0")\n'
                     f'  :source "gen.tlisp:{name}" :uses-maps ("lout"))\n'
                     f"(bpf-fn {name} (ctx)\n  {body.replace('IDX', str(idx))})\n"
                     f'(defbpf-test :name "{name}" :program "{name}"\n'
                     f'  :packet (:ipv4 () :udp () :payload "{PAYLOAD}")\n'
                     f"  :maps-before ({' '.join(f'(:map {chr(34)}lout{chr(34)} :key {k} :value {k})' for k in range(16, 32))})\n"
                     f"  :expect :{verdict}\n"
                     f'  :maps-after ((:map "lout" :key {idx} :value {value})))\n')
        cases.append((name, value, verdict))
    names = " ".join(f'"{n}"' for n, _, _ in cases)
    head = ('(defbpf-map :name "lout" :kind :array :key-size 4 :value-size 8 :max-entries 32)\n'
            f'(defbpf-policy :name "gen" :description "random loops" :programs ({names})'
            ' :maps ("lout"))\n')
    return head + "".join(forms), cases
