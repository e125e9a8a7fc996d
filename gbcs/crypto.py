"""GBCS cryptography: ECDSA P-256 signatures, static-static ECDH + KDF, AES-GCM MACs
and payload encryption (GBCS section 18 as DESIGN.md states it).

Shared secrets are cached per key pair: a device talks to the same few remote parties
all its life, and the ECDH is the costly step of every MAC.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gbcs.errors import GbcsCryptoError

CURVE = ec.SECP256R1()
_ECDSA = ec.ECDSA(hashes.SHA256())
# RFC 6979 nonces: the same key and message give the same signature, so a lab run is
# repeatable byte for byte (its WAN trace included); still ordinary ECDSA to a verifier.
_ECDSA_SIGN = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
ALGORITHM_ID = bytes.fromhex("60857406080300")
MAC_LEN = 12
# CRA flag used in the KDF for payload encryption keys (commands/responses use 01/02/03).
KDF_PAYLOAD = 0x04
# GCM additional data that GBCS puts before the General Signing APDU when MACing.
MAC_AAD_PREFIX = bytes.fromhex("110000000000")
PAYLOAD_AAD = b"\x31"

PublicKey = ec.EllipticCurvePublicKey
PrivateKey = ec.EllipticCurvePrivateKey


# -- keys -----------------------------------------------------------------------------


def public_key_from_xy(xy: bytes) -> PublicKey:
    """A P-256 public key from 64 raw bytes x||y (or a 65-byte 04||x||y point)."""
    point = xy if len(xy) == 65 else b"\x04" + xy
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(CURVE, point)
    except ValueError as exc:
        raise GbcsCryptoError(f"not a P-256 point: {exc}") from None


def public_key_xy(key: PublicKey) -> bytes:
    """The 64 raw bytes x||y of a public key (how GBCS carries keys in payloads)."""
    return key.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)[1:]


def private_key_from_bytes(raw: bytes) -> PrivateKey:
    return ec.derive_private_key(int.from_bytes(raw, "big"), CURVE)


def generate_private_key() -> PrivateKey:
    return ec.generate_private_key(CURVE)


# -- signatures -----------------------------------------------------------------------


def sign(key: PrivateKey, data: bytes) -> bytes:
    """A GBCS signature: ECDSA P-256 / SHA-256 as raw r||s (64 bytes)."""
    r, s = decode_dss_signature(key.sign(data, _ECDSA_SIGN))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(key: PublicKey, data: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                               int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, data, _ECDSA)
    except InvalidSignature:
        return False
    return True


# -- key agreement --------------------------------------------------------------------

# Enough for every key pair of a 10,000-premises fleet (four per premises) and more;
# past it the oldest entry goes, so a long run with ever new keys stays bounded.
SECRETS_KEPT = 65_536
_SECRETS: dict[tuple[int, int], tuple[PrivateKey, PublicKey, bytes]] = {}


def shared_secret(private: PrivateKey, public: PublicKey) -> bytes:
    """Static-static ECDH Z, cached per (private key, public key) object pair; the cache
    holds the keys themselves, so an id is never reused while its entry lives."""
    cache_key = (id(private), id(public))
    hit = _SECRETS.get(cache_key)
    if hit is not None and hit[0] is private and hit[1] is public:
        return hit[2]
    z = private.exchange(ec.ECDH(), public)
    if len(_SECRETS) >= SECRETS_KEPT:
        del _SECRETS[next(iter(_SECRETS))]
    _SECRETS[cache_key] = (private, public, z)
    return z


def derive_key(z: bytes, originator: bytes, cra: int, originator_counter: int,
               recipient: bytes) -> bytes:
    """The GBCS KDF (NIST SP800-56A concatenation, one SHA-256 round, first 16 bytes)."""
    other_info = (ALGORITHM_ID + originator + bytes((0x09, cra))
                  + originator_counter.to_bytes(8, "big") + recipient)
    return hashlib.sha256(b"\x00\x00\x00\x01" + z + other_info).digest()[:16]


# -- AES-GCM --------------------------------------------------------------------------


def iv_for(originator: bytes) -> bytes:
    return originator + b"\x00\x00\x00\x00"


def gcm_mac(key: bytes, iv: bytes, aad: bytes) -> bytes:
    """A GMAC: the GCM tag (12 bytes) over `aad` with no plaintext."""
    return AESGCM(key).encrypt(iv, b"", aad)[:MAC_LEN]


def mac_valid(key: bytes, iv: bytes, aad: bytes, mac: bytes) -> bool:
    return len(mac) == MAC_LEN and hmac.compare_digest(gcm_mac(key, iv, aad), mac)


def encrypt(key: bytes, iv: bytes, plaintext: bytes, aad: bytes = PAYLOAD_AAD) -> bytes:
    """AES-128-GCM ciphertext || 12-byte tag."""
    return AESGCM(key).encrypt(iv, plaintext, aad)[:len(plaintext) + MAC_LEN]


def decrypt(key: bytes, iv: bytes, ciphertext_and_tag: bytes,
            aad: bytes = PAYLOAD_AAD) -> bytes | None:
    """The plaintext, or None when the tag does not verify."""
    if len(ciphertext_and_tag) < MAC_LEN:
        return None
    tag = ciphertext_and_tag[-MAC_LEN:]
    dec = Cipher(algorithms.AES(key), modes.GCM(iv, tag, min_tag_length=MAC_LEN)).decryptor()
    dec.authenticate_additional_data(aad)
    try:
        return dec.update(ciphertext_and_tag[:-MAC_LEN]) + dec.finalize()
    except InvalidTag:
        return None
