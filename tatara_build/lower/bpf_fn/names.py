"""DSL local names -> Rust identifiers, injective by construction.

Every `let` binding gets its own Rust identifier: the readable snake form when
it is free, else that form with a numeric suffix. An identifier is never handed
out twice in one body, so two distinct bindings (`A` and `v_a`, or an inner `x`
shadowing an outer one) can never land in the same Rust variable.
"""

from __future__ import annotations

import re

from tatara_build.lower.naming import RUST_KEYWORDS, snake

# Generated code owns these: temporaries t<N>, the packet and the context.
_RESERVED = re.compile(r"t[0-9]+|pkt|ctx|_ctx|_")


def readable(name: str) -> str:
    """The preferred Rust spelling of a DSL name (may collide: see LocalNames)."""
    rust = snake(name)
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", rust) or rust in RUST_KEYWORDS \
            or _RESERVED.fullmatch(rust):
        rust = "v_" + re.sub(r"[^a-z0-9_]", "_", rust.lower())
    return rust


class LocalNames:
    """Allocates one fresh Rust identifier per binding."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def fresh(self, name: str) -> str:
        base = readable(name)
        rust, n = base, 1
        while rust in self.used:
            n += 1
            rust = f"{base}_{n}"
        self.used.add(rust)
        return rust
