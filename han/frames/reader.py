"""A bounded little-endian cursor: frame decoders read through it, never past its end.

ZigBee and 802.15.4 put multi-byte fields least significant byte first, unlike GBCS, so
the frame codecs have their own small cursor; it raises `FrameDecodeError` with the absolute
offset and the field, so truncated input never becomes an IndexError.
"""

from __future__ import annotations

from gbcs.errors import GbcsEncodeError
from han.frames.errors import FrameDecodeError


class Reader:
    __slots__ = ("base", "buf", "end", "pos")

    def __init__(self, buf: bytes, base: int = 0) -> None:
        self.buf = bytes(buf)
        self.pos = 0
        self.end = len(self.buf)
        self.base = base  # offset of buf[0] within the whole frame, for error offsets

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def fail(self, message: str, field: str, pos: int | None = None) -> FrameDecodeError:
        return FrameDecodeError(message, self.base + (self.pos if pos is None else pos), field)

    def take(self, n: int, field: str) -> bytes:
        if self.pos + n > self.end:
            raise self.fail(f"truncated: {field} needs {n} bytes, {self.end - self.pos} left",
                            field)
        data = self.buf[self.pos:self.pos + n]
        self.pos += n
        return data

    def uint(self, n: int, field: str) -> int:
        return int.from_bytes(self.take(n, field), "little")

    def u8(self, field: str) -> int:
        return self.uint(1, field)

    def rest(self) -> bytes:
        data = self.buf[self.pos:]
        self.pos = self.end
        return data

    def expect_end(self, field: str) -> None:
        if self.pos != self.end:
            raise self.fail(f"{self.end - self.pos} unexpected bytes after {field}", field)


def le(value: int, n: int, field: str) -> bytes:
    """`value` as `n` little-endian bytes (the order of every ZigBee multi-byte field)."""
    if not isinstance(value, int) or not 0 <= value < 1 << (8 * n):
        raise GbcsEncodeError(f"{value!r} does not fit in {n} unsigned bytes", field)
    return value.to_bytes(n, "little")


def require(condition: bool, message: str, field: str) -> None:
    """Refuse to encode a model that the wire format cannot carry."""
    if not condition:
        raise GbcsEncodeError(message, field)
