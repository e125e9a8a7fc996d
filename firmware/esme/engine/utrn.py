"""UTRNs: the 20-digit prepayment top-up tokens a consumer keys in (or a PPMID sends).

A UTRN is the decimal form of a 64-bit Prepayment Top-Up Token (PTUT) that carries a
value, a counter and check bits computed by the supplier with a key it shares with the
meter. This lab's layout, big-endian from the top bit:

    value mantissa (14 bits) | value exponent (2 bits) | counter (32 bits) | check (16 bits)

value = mantissa x 10^exponent pence; check = the first 16 bits of
HMAC-SHA256(top-up key, device EUI-64 || the first 6 bytes of the PTUT).

What the meter verifies, in order: 20 decimal digits below 2^64 (else not authentic);
the check bits for this device (so a token for another meter, or a mistyped digit, is
"not authentic"); then the counter against the counters it has accepted (kept in its
store): a counter already accepted is a duplicate, and once `COUNTER_WINDOW` counters
are held, one not above the lowest of them is refused as well (too old to tell from a
replay). GB's real PTUT derives the check from the supplier's and device's key
agreement keys and packs its fields differently; this keeps the properties that
matter to the meter (value, counter, device binding, accept once) without claiming
byte-exactness.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from firmware.esme.engine.codes import Alert
from firmware.esme.engine.errors import EngineError

DIGITS = 20
COUNTER_WINDOW = 5
_MANTISSA_MAX = (1 << 14) - 1


class UtrnError(EngineError):
    """A UTRN the meter refuses, with the GBCS alert code it raises for it."""

    def __init__(self, problem: str, alert: Alert) -> None:
        super().__init__("utrn", problem)
        self.alert = alert


@dataclass(frozen=True)
class Token:
    value_pence: int
    counter: int


def make_utrn(key: bytes, device: bytes, value_pence: int, counter: int) -> str:
    """The UTRN a supplier issues to `device` for `value_pence` (what a head end does)."""
    exponent = 0
    while value_pence > _MANTISSA_MAX:
        if value_pence % 10 or exponent == 3:
            raise EngineError("utrn.value", f"{value_pence} pence cannot be carried")
        value_pence //= 10
        exponent += 1
    if not 0 <= counter < 1 << 32:
        raise EngineError("utrn.counter", f"{counter} is not a 32-bit counter")
    head = ((value_pence << 2 | exponent) << 32 | counter).to_bytes(6, "big")
    return f"{int.from_bytes(head + _check(key, device, head), 'big'):0{DIGITS}d}"


def verify_utrn(key: bytes, device: bytes, utrn: str, accepted: list[int]) -> Token:
    """The token in `utrn` if this meter should accept it now; UtrnError if not.
    `accepted` is the meter's list of counters it has accepted (newest last)."""
    text = utrn.replace(" ", "").replace("-", "")
    if len(text) != DIGITS or not text.isdigit() or int(text) >= 1 << 64:
        raise UtrnError(f"{utrn!r} is not 20 digits encoding a 64-bit token",
                        Alert.UTRN_NOT_AUTHENTIC)
    raw = int(text).to_bytes(8, "big")
    if not hmac.compare_digest(raw[6:], _check(key, device, raw[:6])):
        raise UtrnError("check bits do not match this meter", Alert.UTRN_NOT_AUTHENTIC)
    head = int.from_bytes(raw[:6], "big")
    counter = head & 0xFFFFFFFF
    value = (head >> 34) * 10 ** ((head >> 32) & 3)
    if counter in accepted:
        raise UtrnError(f"counter {counter} was already accepted", Alert.DUPLICATE_UTRN)
    if len(accepted) >= COUNTER_WINDOW and counter <= min(accepted[-COUNTER_WINDOW:]):
        raise UtrnError(f"counter {counter} is older than the accepted window",
                        Alert.DUPLICATE_UTRN)
    return Token(value, counter)


def _check(key: bytes, device: bytes, head: bytes) -> bytes:
    return hmac.new(key, device + head, hashlib.sha256).digest()[:2]
