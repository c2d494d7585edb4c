"""The form registry: a form's head symbol -> the function that lowers it.

Each form module registers its handlers with `@form("name", ...)`, the way a Lisp
reader dispatches on a form's head; `Lowering.expr` looks the head up here, so
adding a form is one decorated function and no if-chain grows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tatara_build.lower.bpf_fn.core import Lowering, Val
    from tatara_build.reader.lisp import Node

    Handler = Callable[[Lowering, str, Node, list[Node], bool], Val]

FORMS: dict[str, Handler] = {}


def form(*names: str):
    """Register the decorated handler for each head symbol in `names`."""
    def register(fn):
        for name in names:
            assert name not in FORMS, f"form `{name}` registered twice"
            FORMS[name] = fn
        return fn
    return register
