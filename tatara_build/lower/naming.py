"""Names from specs -> Rust identifiers, kernel names and file names.

Spec names are kept as written (kebab or snake); everything generated uses the
snake form. Strict keywords are escaped with `r#`; the few that cannot be raw
identifiers are rejected by validation.
"""

from __future__ import annotations

import re

from tatara_build.model.ir import ident
from tatara_build.model.kinds import KERNEL_NAME_LEN

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
RUST_KEYWORDS = frozenset(
    "as async await break const continue crate dyn else enum extern false fn for gen if impl in "
    "let loop match mod move mut pub ref return self Self static struct super trait true type "
    "unsafe use where while abstract become box do final macro override priv try typeof unsized "
    "virtual yield union".split()
)
NOT_RAW = frozenset({"self", "Self", "super", "crate", "_"})
# value-namespace items of templates/crate/main.rs.j2 that a program's function meets
CRATE_ITEMS = frozenset({"panic", "LICENSE"})


def snake(name: str) -> str:
    """kebab -> snake (`drop-syn` -> `drop_syn`): the model's `ident`."""
    return ident(name)


def kebab(name: str) -> str:
    return name.replace("_", "-")


def rust_ident(name: str) -> str:
    """A usable Rust identifier for a valid spec name (keywords get `r#`)."""
    s = snake(name)
    return f"r#{s}" if s in RUST_KEYWORDS else s


MAX_NAME_LEN = 64  # crates.io's package-name limit; file names stay far below NAME_MAX


def identifier_problem(name: str) -> str | None:
    """Why `name` cannot become a Rust identifier / ELF symbol / pin file, or None."""
    s = snake(name)
    if not s:
        return "is empty"
    if len(s) > MAX_NAME_LEN:
        return f"is {len(s)} characters long (at most {MAX_NAME_LEN})"
    if not IDENT.match(s):
        return "must be letters, digits, `_` or `-`, not starting with a digit"
    if s in NOT_RAW:
        return "is a reserved Rust name"
    if s.startswith("__tb_"):
        return "the `__tb_` prefix is reserved for generated code"
    return None


def kernel_name(name: str) -> str:
    """What the kernel keeps of an object name (15 characters)."""
    return snake(name)[:KERNEL_NAME_LEN]




