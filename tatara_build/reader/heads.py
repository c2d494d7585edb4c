"""The heads of the spec forms, in one place the formatter can read cheaply.

reader/forms.py maps each head to its model class; `fmt` only needs the names, and
importing them from here keeps `tatara-build fmt` free of the model and the lowering
(bench/bench_cli.py).
"""

from __future__ import annotations

SPEC_FORM_HEADS = ("defbpf-program", "defbpf-map", "defbpf-policy", "defbpf-struct",
                   "defbpf-test", "defbpf-global")
