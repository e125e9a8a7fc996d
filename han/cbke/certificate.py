"""ZSE implicit (ECQV) certificates: 48 bytes for crypto suite 1, 74 bytes for suite 2.

Each suite's layout is one declaration (field name, size, int or bytes) that drives both
`from_bytes` and `to_bytes`, so the two cannot drift apart. Integers are big-endian, as is
the subject EUI-64 (the order the MACs of key establishment use it in).

Suite 1: public-key reconstruction point (22) ‖ subject (8) ‖ issuer (8) ‖ profile
attribute data (10, starting with the profile id 0x0109).
Suite 2: type (1) ‖ serial (8) ‖ curve 0x0D (1) ‖ hash 0x08 (1) ‖ issuer (8) ‖
valid from (5) ‖ valid to (4, 0xFFFFFFFF for none) ‖ subject (8) ‖ key usage (1) ‖
public-key reconstruction point (37).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from han.cbke.errors import CbkeDecodeError, CbkeError

CURVE_SECT283K1 = 0x0D
HASH_AES_MMO = 0x08
KEY_USAGE_DIGITAL_SIGNATURE = 0x80
KEY_USAGE_KEY_AGREEMENT = 0x08
NO_EXPIRY = 0xFFFFFFFF
ZSE_PROFILE_ID = b"\x01\x09"

Layout = tuple[tuple[str, int, type], ...]


@dataclass(frozen=True)
class Certificate:
    """Fields every ZSE certificate has; `from_bytes` picks the suite from the length."""

    subject: bytes
    issuer: bytes
    reconstruction_point: bytes

    suite: ClassVar[int]
    LAYOUT: ClassVar[Layout]
    LENGTH: ClassVar[int]

    def __post_init__(self) -> None:
        for name, size, kind in self.LAYOUT:
            value = getattr(self, name)
            if kind is bytes and not (isinstance(value, bytes) and len(value) == size):
                raise CbkeError(f"{name} must be {size} bytes, not {value!r}")
            if kind is int and not (isinstance(value, int) and 0 <= value < 1 << (8 * size)):
                raise CbkeError(f"{name} must fit in {size} bytes, not {value!r}")

    @classmethod
    def from_bytes(cls, data: bytes) -> Certificate:
        """Parse a certificate; on `Certificate` itself the length says which suite."""
        target = _BY_LENGTH.get(len(data)) if cls is Certificate else cls
        if target is None:
            raise CbkeDecodeError(
                f"a ZSE certificate is 48 (suite 1) or 74 (suite 2) bytes, not {len(data)}",
                0, "certificate")
        if len(data) != target.LENGTH:
            raise CbkeDecodeError(f"a suite {target.suite} certificate is {target.LENGTH} "
                                  f"bytes, not {len(data)}", 0, "certificate")
        values: dict[str, Any] = {}
        offset = 0
        for name, size, kind in target.LAYOUT:
            chunk = bytes(data[offset:offset + size])
            values[name] = int.from_bytes(chunk, "big") if kind is int else chunk
            offset += size
        target._check(values)
        return target(**values)

    def to_bytes(self) -> bytes:
        return b"".join(
            getattr(self, name).to_bytes(size, "big") if kind is int else getattr(self, name)
            for name, size, kind in self.LAYOUT)

    @classmethod
    def offset_of(cls, name: str) -> int:
        """Byte offset of a field, for errors that point into the certificate."""
        offset = 0
        for field_name, size, _ in cls.LAYOUT:
            if field_name == name:
                return offset
            offset += size
        raise KeyError(name)

    @classmethod
    def _check(cls, values: dict[str, Any]) -> None:
        """Reject values the suite does not allow (beyond sizes)."""
        prefix = values["reconstruction_point"][0]
        if prefix not in (2, 3):
            raise CbkeDecodeError(f"reconstruction point starts {prefix:#04x}, not a "
                                  "compressed point (02 or 03)",
                                  cls.offset_of("reconstruction_point"), "reconstruction_point")

    @property
    def allows_key_agreement(self) -> bool:
        """Whether the key may be used for CBKE (suite 1 certificates carry no key usage)."""
        return True


@dataclass(frozen=True)
class Suite1Certificate(Certificate):
    """Crypto suite 1 (sect163k1): no validity, key usage or curve fields."""

    profile_attribute_data: bytes = ZSE_PROFILE_ID + bytes(8)

    suite: ClassVar[int] = 1
    LAYOUT: ClassVar[Layout] = (
        ("reconstruction_point", 22, bytes),
        ("subject", 8, bytes),
        ("issuer", 8, bytes),
        ("profile_attribute_data", 10, bytes),
    )
    LENGTH: ClassVar[int] = 48


@dataclass(frozen=True)
class Suite2Certificate(Certificate):
    """Crypto suite 2 (sect283k1)."""

    serial: bytes = bytes(8)
    valid_from: int = 0
    valid_to: int = NO_EXPIRY
    key_usage: int = KEY_USAGE_KEY_AGREEMENT
    certificate_type: int = 0x00
    curve: int = CURVE_SECT283K1
    hash_algorithm: int = HASH_AES_MMO

    suite: ClassVar[int] = 2
    LAYOUT: ClassVar[Layout] = (
        ("certificate_type", 1, int),
        ("serial", 8, bytes),
        ("curve", 1, int),
        ("hash_algorithm", 1, int),
        ("issuer", 8, bytes),
        ("valid_from", 5, int),
        ("valid_to", 4, int),
        ("subject", 8, bytes),
        ("key_usage", 1, int),
        ("reconstruction_point", 37, bytes),
    )
    LENGTH: ClassVar[int] = 74

    @classmethod
    def _check(cls, values: dict[str, Any]) -> None:
        if values["curve"] != CURVE_SECT283K1:
            raise CbkeDecodeError(f"curve {values['curve']:#04x} is not sect283k1 (0x0D)",
                                  cls.offset_of("curve"), "curve")
        if values["hash_algorithm"] != HASH_AES_MMO:
            raise CbkeDecodeError(f"hash {values['hash_algorithm']:#04x} is not AES-MMO (0x08)",
                                  cls.offset_of("hash_algorithm"), "hash_algorithm")
        super()._check(values)

    @property
    def allows_key_agreement(self) -> bool:
        return bool(self.key_usage & KEY_USAGE_KEY_AGREEMENT)


_BY_LENGTH: dict[int, type[Certificate]] = {
    Suite1Certificate.LENGTH: Suite1Certificate,
    Suite2Certificate.LENGTH: Suite2Certificate,
}
