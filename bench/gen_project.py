"""Generate a large spec project: N programs, N maps, N/10 policies across files.

Used by bench_check.py and bench_render.py; also handy for trying the CLI at scale:
`python bench/gen_project.py OUT --programs 1000`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

KINDS = [(":xdp", '(:target "eth0")'), (":tc", '(:target "eth0" :direction "ingress")'),
         (":tracepoint", '(:target "syscalls/sys_enter_openat")'),
         (":cgroup-skb", '(:target "/sys/fs/cgroup/unified/w" :direction "egress")')]
RET = {":xdp": ":xdp-pass", ":tc": ":tc-act-ok", ":tracepoint": ":ok", ":cgroup-skb": ":allow"}


def generate(out: Path, programs: int = 1000, per_file: int = 50) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    policies = max(1, programs // 10)
    for f in range(0, programs, per_file):
        lines = []
        for i in range(f, min(f + per_file, programs)):
            kind, attach = KINDS[i % len(KINDS)]
            lines.append(f'(defbpf-map :name "m{i}" :kind :array :key-size 4 :value-size 8 '
                         f':max-entries 4)')
            lines.append(f'(defbpf-program :name "p{i}" :kind {kind} :attach {attach}\n'
                         f'  :source "bodies_{f}.tlisp:f{i}" :uses-maps ("m{i}"))')
            lines.append(f"(bpf-fn f{i} (ctx)\n  (map-incr m{i} {i % 4})\n  (return {RET[kind]}))")
        (out / f"specs_{f}.tlisp").write_text("\n".join(lines[0::3] + lines[1::3]) + "\n")
        (out / f"bodies_{f}.tlisp").write_text("\n".join(lines[2::3]) + "\n")
    pol = []
    per_pol = programs // policies
    for j in range(policies):
        ids = range(j * per_pol, (j + 1) * per_pol)
        progs = " ".join(f'"p{i}"' for i in ids)
        pol.append(f'(defbpf-policy :name "pol{j}" :description "generated {j}"\n'
                   f'  :programs ({progs})\n  :maps ({progs.replace(chr(34) + "p", chr(34) + "m")}))')
    (out / "policies.tlisp").write_text("\n".join(pol) + "\n")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--programs", type=int, default=1000)
    a = ap.parse_args()
    print(generate(a.out, a.programs))
