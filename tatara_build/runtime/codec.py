"""Keys and values for map writes, by a map spec's sizes."""

from __future__ import annotations

from tatara_build.errors import SpecError


def encode(text: str, size: int, what: str) -> bytes:
    """`42` -> little-endian `size` bytes; `hex:2a00...` or `0x..` -> those bytes."""
    t = text.strip().lower()
    if t.startswith("hex:"):
        try:
            data = bytes.fromhex(t[4:])
        except ValueError:
            raise SpecError(f"{what} `{text}` is not hex (two digits per byte)") from None
        if len(data) != size:
            raise SpecError(f"{what} has {len(data)} bytes; the map's {what} size is {size}")
        return data
    try:
        n = int(t, 0)
    except ValueError:
        raise SpecError(f"{what} `{text}` is neither an integer nor hex:.. bytes") from None
    if n < 0 or n >= 1 << (8 * size):
        raise SpecError(f"{what} {n} does not fit in {size} bytes")
    return n.to_bytes(size, "little")
