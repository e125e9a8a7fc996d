"""The typed errors the codec raises: decoders raise only `GbcsDecodeError`."""

from __future__ import annotations


class GbcsError(Exception):
    """Base of every error the GBCS codec raises on purpose."""


class GbcsDecodeError(GbcsError):
    """Malformed input: what is wrong, at which byte offset, in which field.

    `field` is a dotted path from the outermost structure (for example
    ``general_signing.content.gbz.component[2].zcl.attributes[0]``).
    """

    def __init__(self, message: str, offset: int, field: str = "") -> None:
        super().__init__(message, offset, field)
        self.message = message
        self.offset = offset
        self.field = field

    def __str__(self) -> str:
        where = f" in {self.field}" if self.field else ""
        return f"{self.message} at byte {self.offset}{where}"

    def within(self, prefix: str) -> GbcsDecodeError:
        """Prefix the field path with the enclosing structure's name."""
        self.field = f"{prefix}.{self.field}" if self.field else prefix
        return self

    def as_json(self) -> dict:
        return {"message": self.message, "offset": self.offset, "field": self.field}


class GbcsEncodeError(GbcsError):
    """A model that cannot be turned into bytes (value out of range, unknown kind)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message, field)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.message} in {self.field}" if self.field else self.message


class GbcsCryptoError(GbcsError):
    """A key is missing or unusable for a signature, MAC or decryption."""
