"""ZigBee's AES-MMO hash, its HMAC, and install-code link keys.

The hash is Matyas-Meyer-Oseas over AES-128 (ZigBee specification B.6): for each 16-byte
block M, digest = AES(key = digest, M) XOR M, from an all-zero digest. Padding appends a 1 bit,
zeros, and the message length in bits: 16 bits for messages under 8192 bytes, else 32 bits
followed by 16 zero bits. CBKE uses it for the ECQV certificate hash, the KDF and (inside
HMAC, B.1.4) the key-confirmation MACs; install codes hash to their link key with it.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from han.cbke.errors import InstallCodeError
from han.crc import crc16_x25

BLOCK = 16
_LONG_MESSAGE = 8192          # bytes: from here the length field is 32 bits
_MAX_MESSAGE = (1 << 32) // 8  # the 32-bit length field counts bits
INSTALL_CODE_LENGTHS = (6, 8, 12, 16)  # bytes, before the 2-byte CRC


def _encrypt(key: bytes, block: bytes) -> bytes:
    return Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(block)


def _padded(message: bytes) -> bytes:
    length = len(message)
    if length >= _MAX_MESSAGE:
        raise ValueError(f"AES-MMO hashes messages under {_MAX_MESSAGE} bytes")
    if length < _LONG_MESSAGE:
        tail, length_field = 2, (8 * length).to_bytes(2, "big")
    else:
        tail, length_field = 6, (8 * length).to_bytes(4, "big") + bytes(2)
    zeros = (BLOCK - tail - (length + 1) % BLOCK) % BLOCK
    return message + b"\x80" + bytes(zeros) + length_field


def mmo_hash(message: bytes) -> bytes:
    """The 16-byte AES-MMO digest of `message`."""
    padded = _padded(message)
    digest = bytes(BLOCK)
    for i in range(0, len(padded), BLOCK):
        block = padded[i:i + BLOCK]
        digest = (int.from_bytes(_encrypt(digest, block), "big")
                  ^ int.from_bytes(block, "big")).to_bytes(BLOCK, "big")
    return digest


def mmo_hmac(key: bytes, message: bytes) -> bytes:
    """HMAC (FIPS 198) with AES-MMO as the hash and its 16-byte block: ZigBee's keyed hash."""
    if len(key) > BLOCK:
        key = mmo_hash(key)
    key = key.ljust(BLOCK, b"\x00")
    inner = bytes(k ^ 0x36 for k in key)
    outer = bytes(k ^ 0x5C for k in key)
    return mmo_hash(outer + mmo_hash(inner + message))


def install_code_link_key(install_code_with_crc: bytes) -> bytes:
    """The link key of an install code: AES-MMO of the code including its CRC.

    The CRC follows the code least significant byte first; a wrong length or CRC raises
    `InstallCodeError`, since a mistyped code would otherwise give a key that never works.
    """
    code, crc = install_code_with_crc[:-2], install_code_with_crc[-2:]
    if len(code) not in INSTALL_CODE_LENGTHS:
        raise InstallCodeError(
            f"an install code is {', '.join(map(str, INSTALL_CODE_LENGTHS))} bytes plus a "
            f"2-byte CRC, not {len(install_code_with_crc)} bytes")
    expected = crc16_x25(code)
    if int.from_bytes(crc, "little") != expected:
        raise InstallCodeError(f"install code CRC is {crc.hex().upper()}, expected "
                               f"{expected.to_bytes(2, 'little').hex().upper()}")
    return mmo_hash(install_code_with_crc)
