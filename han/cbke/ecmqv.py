"""ECMQV (SEC 1 section 3.4) with the ZSE key derivation and key-confirmation MACs.

Each side combines its static key d_s (from its certificate) and a fresh ephemeral key d_e
into an implicit signature s = d_e + avf(Q_e)·d_s mod n, where avf keeps the low
ceil(log2(n)/2) bits of the ephemeral key's x-coordinate and sets the next bit. The shared
point is h·s·(Q_e' + avf(Q_e')·Q_s') for the peer's keys Q_s', Q_e'; its x-coordinate Z
feeds the KDF: MacKey = AES-MMO(Z ‖ 00000001), KeyData = AES-MMO(Z ‖ 00000002). KeyData is
the new APS link key; MacKey only keys the confirmation MACs, initiator U and responder V:
MACU = HMAC(MacKey, 02 ‖ ID_U ‖ ID_V ‖ QE_U ‖ QE_V), MACV = HMAC(MacKey, 03 ‖ ID_V ‖ ID_U ‖
QE_V ‖ QE_U), IDs the EUI-64s as in the certificates, QE the compressed ephemeral keys.
"""

from __future__ import annotations

from han.cbke.curves import KoblitzCurve
from han.cbke.errors import CbkeError
from han.cbke.mmo import mmo_hash, mmo_hmac

MAC_TAG_INITIATOR = 0x02
MAC_TAG_RESPONDER = 0x03


def associate_value(curve: KoblitzCurve, point: tuple[int, int]) -> int:
    """avf(Q) = (x mod 2^L) + 2^L with L = ceil(bitlength(n)/2): the 'half-length' x."""
    half = (curve.n.bit_length() + 1) // 2
    return (point[0] & ((1 << half) - 1)) | (1 << half)


def shared_secret(curve: KoblitzCurve, static_private: int, ephemeral_private: int,
                  ephemeral_public: tuple[int, int], peer_static: tuple[int, int],
                  peer_ephemeral: tuple[int, int]) -> bytes:
    """Z, the x-coordinate of h·s·(Q_e' + avf(Q_e')·Q_s'), as field-element bytes.

    The cofactor goes onto the peer's points first, so both land in the order-n subgroup
    (a small-order point becomes infinity and is refused) and the two scalar
    multiplications can share one Frobenius chain.
    """
    s = (ephemeral_private + associate_value(curve, ephemeral_public) * static_private) % curve.n
    ephemeral_part = curve.clear_cofactor(peer_ephemeral)
    static_part = curve.clear_cofactor(peer_static)
    if ephemeral_part is None or static_part is None:
        raise CbkeError("a peer key has small order")
    point = curve.multiply_two(s, ephemeral_part,
                               s * associate_value(curve, peer_ephemeral) % curve.n, static_part)
    if point is None:
        raise CbkeError("the ECMQV shared point is at infinity")
    return curve.field.to_bytes(point[0])


def derive_keys(z: bytes) -> tuple[bytes, bytes]:
    """(MacKey, KeyData) = KDF(Z): the ANSI X9.63 KDF on AES-MMO, two blocks, no shared info."""
    return mmo_hash(z + b"\x00\x00\x00\x01"), mmo_hash(z + b"\x00\x00\x00\x02")


def confirmation_mac(mac_key: bytes, tag: int, first_id: bytes, second_id: bytes,
                     first_ephemeral: bytes, second_ephemeral: bytes) -> bytes:
    """HMAC(MacKey, tag ‖ ID ‖ ID' ‖ QE ‖ QE'): MACU is tag 02 with U's values first,
    MACV tag 03 with V's first."""
    return mmo_hmac(mac_key, bytes([tag]) + first_id + second_id
                    + first_ephemeral + second_ephemeral)
