"""Where the shipped templates live, installed or in a checkout.

A wheel carries them as `tatara_build/_templates` and `_nix` (see pyproject's
force-include; `_nix` is for Nix users of the wheel); an editable install or a
checkout reads the top-level folders.
"""

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _find(installed: str, checkout: str) -> Path:
    inside = _PKG / installed
    return inside if inside.is_dir() else _PKG.parent / checkout


def templates_dir() -> Path:
    return _find("_templates", "templates")


def nix_lib_dir() -> Path:
    """tatara-build's Nix library (nix/), carried into every rendered flake."""
    return _find("_nix", "nix")
