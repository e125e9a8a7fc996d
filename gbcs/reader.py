"""A bounded cursor over bytes that builds leaf nodes and fails with typed errors.

Every decoder reads through a `Reader`: it never indexes past its end, so truncated or
hostile input becomes a `GbcsDecodeError` with the byte offset, never an IndexError.
Offsets are absolute within the buffer the reader was made on.
"""

from __future__ import annotations

from gbcs.errors import GbcsDecodeError
from gbcs.node import Node


class Reader:
    __slots__ = ("buf", "pos", "end")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def at_end(self) -> bool:
        return self.pos >= self.end

    def fail(self, message: str, field: str, offset: int | None = None) -> GbcsDecodeError:
        """An error at the current position (or `offset`), for the caller to raise."""
        return GbcsDecodeError(message, self.pos if offset is None else offset, field)

    def need(self, n: int, field: str) -> None:
        if n < 0 or self.pos + n > self.end:
            raise GbcsDecodeError(
                f"truncated: {field} needs {n} bytes, {self.end - self.pos} left", self.pos, field)

    # -- raw reads ---------------------------------------------------------------------

    def peek(self, field: str) -> int:
        if self.pos >= self.end:
            raise GbcsDecodeError(f"truncated: {field} missing", self.pos, field)
        return self.buf[self.pos]

    def u8(self, field: str) -> int:
        pos = self.pos
        if pos >= self.end:
            raise GbcsDecodeError(f"truncated: {field} missing", pos, field)
        self.pos = pos + 1
        return self.buf[pos]

    def uint(self, n: int, field: str, byteorder: str = "big", signed: bool = False) -> int:
        pos = self.pos
        if pos + n > self.end:
            self.need(n, field)
        self.pos = pos + n
        return int.from_bytes(self.buf[pos:pos + n], byteorder, signed=signed)

    def take(self, n: int, field: str) -> bytes:
        pos = self.pos
        if n < 0 or pos + n > self.end:
            self.need(n, field)
        self.pos = pos + n
        return self.buf[pos:pos + n]

    def rest(self) -> bytes:
        data = self.buf[self.pos:self.end]
        self.pos = self.end
        return data

    def ber_length(self, field: str) -> tuple[int, int]:
        """A BER length and the number of bytes it took (1 for the short form)."""
        start = self.pos
        first = self.u8(field)
        if first < 0x80:
            return first, 1
        n = first & 0x7F
        if n == 0 or n > 4:
            raise GbcsDecodeError(f"unsupported BER length form 0x{first:02X}", start, field)
        return self.uint(n, field), n + 1

    def sub(self, n: int, field: str) -> Reader:
        """A reader over the next `n` bytes (checked to exist); this one moves past them."""
        pos = self.pos
        if n < 0 or pos + n > self.end:
            self.need(n, field)
        self.pos = pos + n
        return Reader(self.buf, pos, pos + n)

    def expect_end(self, field: str) -> None:
        if self.pos != self.end:
            raise GbcsDecodeError(
                f"{self.end - self.pos} unexpected bytes after {field}", self.pos, field)

    # -- leaf nodes ------------------------------------------------------------------------

    def leaf_uint(self, name: str, n: int, kind: str | None = None,
                  human: str | None = None) -> Node:
        """An unsigned big-endian integer leaf of `n` bytes."""
        pos = self.pos
        value = self.uint(n, name)
        return Node(name, kind or f"u{8 * n}", value, None, pos, n, human)

    def leaf_int(self, name: str, n: int, signed: bool = False, little: bool = False,
                 human: str | None = None) -> Node:
        pos = self.pos
        value = self.uint(n, name, "little" if little else "big", signed)
        kind = ("i" if signed else "u") + str(8 * n) + ("le" if little else "")
        return Node(name, kind, value, None, pos, n, human)

    def leaf_u8(self, name: str, human: str | None = None) -> Node:
        pos = self.pos
        return Node(name, "u8", self.u8(name), None, pos, 1, human)

    def leaf_bytes(self, name: str, n: int, human: str | None = None) -> Node:
        pos = self.pos
        return Node(name, "bytes", self.take(n, name), None, pos, n, human)

    def leaf_ber_octets(self, name: str, human: str | None = None) -> Node:
        """A BER length and the octets it counts, as one `ber_octets` leaf."""
        pos = self.pos
        length, _ = self.ber_length(name)
        value = self.take(length, name)
        return Node(name, "ber_octets", value, None, pos, self.pos - pos, human)

    def leaf_ber_len(self, name: str = "length") -> Node:
        pos = self.pos
        value, size = self.ber_length(name)
        return Node(name, "ber_len", value, None, pos, size)
