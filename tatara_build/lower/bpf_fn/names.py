"""DSL local names -> Rust identifiers, injective by construction.

Every `let` binding gets its own Rust identifier: `naming.local_ident(name)`
(itself injective over names) when it is free, else that with a numeric suffix.
An identifier is never handed out twice in one body, so two distinct bindings (`A`
and `v_a`, or an inner `x` shadowing an outer one) never share a Rust variable.
"""

from __future__ import annotations

from tatara_build.lower.naming import local_ident

readable = local_ident


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
