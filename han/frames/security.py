"""ZigBee frame security shared by NWK and APS: the auxiliary header, keys, CCM*, counters.

Secured frames carry an auxiliary header (security control, frame counter, optional source
IEEE address, optional key sequence number) and an encrypted payload with a 4-byte MIC:
AES-CCM* at security level 5 (ENC-MIC-32), which is plain AES-CCM with M=4 and L=2. The
nonce is source IEEE address || frame counter || security control, each as sent on air
(little-endian). ZigBee sends the security level sub-field as 0 and both ends substitute
the network's level (5) before computing the nonce and the authenticated header.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from gbcs.errors import GbcsCryptoError
from han.cbke.mmo import mmo_hmac
from han.frames.errors import FrameSecurityError, ReplayError
from han.frames.reader import Reader, le, require

SECURITY_LEVEL = 5       # ENC-MIC-32, the level ZigBee PRO and Smart Energy use
MIC_LENGTH = 4
KEY_LENGTH = 16
MAX_FRAME_COUNTER = 0xFFFFFFFF  # a counter at this value may not be used (counter exhausted)


class KeyIdentifier(IntEnum):
    """Which key secured the frame (security control bits 3-4)."""

    DATA = 0            # a link key, used as is
    NETWORK = 1         # the network key
    KEY_TRANSPORT = 2   # HMAC-MMO(link key, 0x00): protects Transport Key of a network key
    KEY_LOAD = 3        # HMAC-MMO(link key, 0x02): protects Transport Key of a link key


@dataclass(frozen=True)
class AuxSecurityHeader:
    """The auxiliary security header as sent. `source_address` is present exactly when the
    extended-nonce bit is set; `key_sequence_number` exactly when the key is the network key."""

    key_identifier: KeyIdentifier
    frame_counter: int
    source_address: int | None = None
    key_sequence_number: int | None = None
    security_level: int = 0   # as transmitted; ZigBee sends 0 and means SECURITY_LEVEL

    def control(self, level: int) -> int:
        return level | int(self.key_identifier) << 3 | (self.source_address is not None) << 5


def encode_aux(aux: AuxSecurityHeader, level: int | None = None, where: str = "aux") -> bytes:
    """The header's bytes; `level` overrides the level sub-field (for the CCM inputs)."""
    require(0 <= aux.security_level < 8, "security level is 3 bits", f"{where}.security_level")
    require((aux.key_sequence_number is not None) == (aux.key_identifier == KeyIdentifier.NETWORK),
            "a key sequence number is sent exactly when the network key is used",
            f"{where}.key_sequence_number")
    out = bytearray(le(aux.control(aux.security_level if level is None else level), 1,
                       f"{where}.security_control"))
    out += le(aux.frame_counter, 4, f"{where}.frame_counter")
    if aux.source_address is not None:
        out += le(aux.source_address, 8, f"{where}.source_address")
    if aux.key_sequence_number is not None:
        out += le(aux.key_sequence_number, 1, f"{where}.key_sequence_number")
    return bytes(out)


def decode_aux(r: Reader, where: str = "aux") -> AuxSecurityHeader:
    control = r.u8(f"{where}.security_control")
    if control & 0xC0:
        raise r.fail("reserved bits set in security control", f"{where}.security_control",
                     r.pos - 1)
    key_id = KeyIdentifier((control >> 3) & 0x3)
    counter = r.uint(4, f"{where}.frame_counter")
    source = r.uint(8, f"{where}.source_address") if control & 0x20 else None
    sequence = r.u8(f"{where}.key_sequence_number") if key_id == KeyIdentifier.NETWORK else None
    return AuxSecurityHeader(key_id, counter, source, sequence, control & 0x7)


def derive_key(key: bytes, key_identifier: KeyIdentifier) -> bytes:
    """The AES key CCM* uses: network and data keys as is, the key-transport and key-load
    keys as ZigBee's keyed hash (HMAC over AES-MMO) of the link key with 0x00 / 0x02."""
    if len(key) != KEY_LENGTH:
        raise GbcsCryptoError(f"a ZigBee key is {KEY_LENGTH} bytes, not {len(key)}")
    if key_identifier == KeyIdentifier.KEY_TRANSPORT:
        return mmo_hmac(key, b"\x00")
    if key_identifier == KeyIdentifier.KEY_LOAD:
        return mmo_hmac(key, b"\x02")
    return bytes(key)


def nonce(source_address: int, aux: AuxSecurityHeader) -> bytes:
    """CCM* nonce: source IEEE address || frame counter || security control (level 5)."""
    return (le(source_address, 8, "nonce.source_address") + le(aux.frame_counter, 4,
            "nonce.frame_counter") + bytes([aux.control(SECURITY_LEVEL)]))


def seal(key: bytes, header: bytes, aux: AuxSecurityHeader, plaintext: bytes,
         source_address: int, where: str) -> bytes:
    """aux header || ciphertext || MIC, authenticating `header` and the aux header."""
    require(aux.frame_counter != MAX_FRAME_COUNTER, "frame counter exhausted",
            f"{where}.frame_counter")
    aad = header + encode_aux(aux, SECURITY_LEVEL, where)
    sealed = AESCCM(derive_key(key, aux.key_identifier), MIC_LENGTH).encrypt(
        nonce(source_address, aux), bytes(plaintext), aad)
    return encode_aux(aux, where=where) + sealed


def open_sealed(key: bytes, header: bytes, aux: AuxSecurityHeader, sealed: bytes,
                source_address: int, offset: int, where: str) -> bytes:
    """The plaintext of `sealed` (ciphertext || MIC starting at `offset`), or
    `FrameSecurityError` when the MIC does not verify."""
    if aux.security_level not in (0, SECURITY_LEVEL):
        raise FrameSecurityError(f"security level {aux.security_level} is not supported "
                                 f"(ZigBee uses {SECURITY_LEVEL})", offset,
                                 f"{where}.security_level")
    if len(sealed) < MIC_LENGTH:
        raise FrameSecurityError(f"truncated: the MIC needs {MIC_LENGTH} bytes, "
                                 f"{len(sealed)} left", offset, f"{where}.mic")
    aad = header + encode_aux(aux, SECURITY_LEVEL, where)
    try:
        return AESCCM(derive_key(key, aux.key_identifier), MIC_LENGTH).decrypt(
            nonce(source_address, aux), bytes(sealed), aad)
    except InvalidTag:
        raise FrameSecurityError("MIC does not verify (wrong key or tampered frame)",
                                 offset + len(sealed) - MIC_LENGTH, f"{where}.mic") from None


def open_counted(key: bytes, header: bytes, aux: AuxSecurityHeader, sealed: bytes,
                 source_address: int | None, counters: FrameCounters, aux_offset: int,
                 sealed_offset: int, where: str) -> bytes:
    """Check the frame counter, open the frame, then move the high-water mark: what NWK
    and APS receivers both do with a secured frame."""
    if source_address is None:
        raise FrameSecurityError("no source IEEE address for the nonce", aux_offset,
                                 f"{where}.source_address")
    counters.check(source_address, aux.frame_counter, aux_offset + 1, where)
    plaintext = open_sealed(key, header, aux, sealed, source_address, sealed_offset, where)
    counters.accept(source_address, aux.frame_counter)
    return plaintext


@dataclass
class FrameCounters:
    """Per-source incoming frame counter high-water marks (the receiver's anti-replay
    state), owned by the caller so it can persist them with the rest of the device state.
    A frame is accepted only with a counter strictly above the mark for its source, and
    the mark moves only after the frame's MIC has verified."""

    marks: dict[int, int] = field(default_factory=dict)

    def check(self, source_address: int, counter: int, offset: int, where: str) -> None:
        last = self.marks.get(source_address)
        if counter == MAX_FRAME_COUNTER or (last is not None and counter <= last):
            raise ReplayError(f"frame counter {counter} from {source_address:016X} is not "
                              f"above {last}", offset, f"{where}.frame_counter")

    def accept(self, source_address: int, counter: int) -> None:
        self.marks[source_address] = counter
