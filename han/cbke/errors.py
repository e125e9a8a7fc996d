"""The typed errors CBKE raises: every one is a `CbkeError`, itself a `ValueError`.

Bad input (a malformed certificate, a point not on the curve, a wrong MAC) is a value
problem, so callers that only know `ValueError` still catch it; callers that drive the
Key Establishment cluster read `KeyEstablishmentError.status` to fill in the Terminate
Key Establishment command.
"""

from __future__ import annotations

from enum import IntEnum

from gbcs.errors import GbcsDecodeError


class CbkeError(ValueError):
    """Base of every error the CBKE package raises on purpose."""


class CbkeDecodeError(GbcsDecodeError, CbkeError):
    """Malformed bytes: what is wrong, at which byte offset, in which field (the
    codec's decode error, so HAN and GBCS decoders fail alike)."""


class InstallCodeError(CbkeError):
    """An install code of the wrong length, or whose CRC-16 does not match."""


class KeyEstablishmentStatus(IntEnum):
    """Status codes of Terminate Key Establishment (ZSE Key Establishment cluster)."""

    SUCCESS = 0x00
    UNKNOWN_ISSUER = 0x01
    BAD_KEY_CONFIRM = 0x02
    BAD_MESSAGE = 0x03
    NO_RESOURCES = 0x04
    UNSUPPORTED_SUITE = 0x05
    INVALID_KEY_USAGE = 0x06


class KeyEstablishmentError(CbkeError):
    """The exchange cannot go on; `status` is what to send in Terminate Key Establishment."""

    def __init__(self, status: KeyEstablishmentStatus, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return f"{self.status.name}: {self.message}"
