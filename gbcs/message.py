"""Decode and verify a whole GBCS message: the tree, the parties, and whether its
signature, MAC and encrypted parts check out against a key store.

Verification results are one of "valid", "invalid", "absent" (the message carries none)
or "unverified" (the key store lacks the keys to check it).

`peek_header` (from `gbcs.frames`) reads only the outer layers, for what routes a
message by its parties without needing its content.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gbcs import crypto
from gbcs.build import message_mac_key, payload_key
from gbcs.content import Decryptor
from gbcs.errors import GbcsCryptoError, GbcsDecodeError
from gbcs.frames import Header, decode_frame
from gbcs.frames import peek_header as peek_header  # re-exported: see the module doc
from gbcs.keystore import DS, KA, Keystore
from gbcs.node import Node, encode
from gbcs.payload import decode_content
from gbcs.usecases import UseCase, by_code

# The Access Control Broker whose KA key MACs every command the DCC sends (DCC Boxed).
DEFAULT_ACB = bytes.fromhex("90B3D51F30000002")

VALID, INVALID, ABSENT, UNVERIFIED = "valid", "invalid", "absent", "unverified"


@dataclass
class DecodedMessage:
    raw: bytes
    tree: Node
    header: Header
    signature: str = UNVERIFIED
    mac: str = UNVERIFIED
    decryptions: list[str] = field(default_factory=list)

    @property
    def use_case(self) -> UseCase | None:
        return by_code(self.header.message_code)

    def roundtrip(self) -> bool:
        """True when the tree encodes back to the exact input bytes."""
        return encode(self.tree) == self.raw

    def summary(self) -> dict:
        """The fields `smetslab decode --json` prints (without the tree)."""
        h = self.header
        uc = self.use_case
        return {
            "form": h.form,
            "message_code": f"0x{h.message_code:04X}",
            "use_case": uc.use_case if uc else None,
            "use_case_name": uc.name if uc else None,
            "cra": {1: "command", 2: "response", 3: "alert"}.get(h.cra),
            "originator": h.originator.hex().upper(),
            "recipient": h.recipient.hex().upper(),
            "originator_counter": h.originator_counter,
            "signature": self.signature,
            "mac": self.mac,
            "decryption": self.decryptions,
        }


def decode(data: bytes, keystore: Keystore | None = None, acb: bytes = DEFAULT_ACB,
           verify: bool = True) -> DecodedMessage:
    """Decode `data`; with a key store, verify signature and MAC and open encrypted
    payloads. Raises GbcsDecodeError (only) for malformed input."""
    data = bytes(data)
    decryptors = None
    if keystore is not None:
        def decryptors(header: Header) -> Decryptor:
            return _payload_decryptor(header, keystore)
    try:
        tree, header = decode_frame(data, decode_content, decryptors)
    except RecursionError:
        raise GbcsDecodeError("structure nested too deeply", 0, "") from None
    msg = DecodedMessage(data, tree, header, decryptions=header.decryptions)
    if verify:
        msg.signature = check_signature(data, header, keystore)
        msg.mac = check_mac(data, header, keystore, acb)
    return msg


def signed_bytes(data: bytes, header: Header) -> bytes:
    """What a General Signing signature covers: after the DF tag, up to the signature
    length byte (the whole rest for a pre-command)."""
    end = header.signature_length_at if header.signature_length_at >= 0 else len(data)
    return data[header.signing_start + 1:end]


def check_signature(data: bytes, header: Header, keystore: Keystore | None) -> str:
    if header.form == "gbt":
        return ABSENT
    if header.signature is None:
        return ABSENT
    keys = keystore.public_keys(header.originator, DS) if keystore else []
    if not keys:
        return UNVERIFIED
    tbs = signed_bytes(data, header)
    return VALID if any(crypto.verify(k, tbs, header.signature) for k in keys) else INVALID


def mac_key_pairs(header: Header, keystore: Keystore, acb: bytes) -> tuple[list, list]:
    """(private, public) KA pairs that could have MAC'd this message: first the two
    parties either way round; then, unless the originator is a device, the ACB's, which
    MACs what remote parties send and receives what devices send to them."""
    parties, broker = [], []
    candidates = [(header.recipient, header.originator, parties),
                  (header.originator, header.recipient, parties)]
    if not keystore.is_device(header.originator):
        candidates += [(acb, header.recipient, broker), (header.recipient, acb, broker)]
    for priv_eui, pub_eui, out in candidates:
        for private in keystore.private_keys(priv_eui, KA):
            for public in keystore.public_keys(pub_eui, KA):
                out.append((private, public))
    return parties, broker


def check_mac(data: bytes, header: Header, keystore: Keystore | None, acb: bytes) -> str:
    if header.mac is None:
        return ABSENT
    if keystore is None:
        return UNVERIFIED
    parties, broker = mac_key_pairs(header, keystore, acb)
    if not parties and not broker:
        return UNVERIFIED
    aad = crypto.MAC_AAD_PREFIX + data[header.signing_start:header.signing_end]
    iv = crypto.iv_for(header.originator)
    # Commands from remote parties carry the ACB's MAC: try it first there.
    ordered = broker + parties if header.cra == 1 else parties + broker
    for private, public in ordered:
        key = message_mac_key(private, public, cra=header.cra, originator=header.originator,
                              originator_counter=header.originator_counter,
                              recipient=header.recipient)
        if crypto.mac_valid(key, iv, aad, header.mac):
            return VALID
    return INVALID


def _payload_decryptor(header: Header, keystore: Keystore) -> Decryptor:
    """Opens encrypted payload parts with the KDF's payload-encryption variant (CRA 04):
    the recipient's KA private key with the originator's KA public key, or the reverse."""
    def decrypt(ciphertext_and_tag: bytes) -> bytes | None:
        recipient = header.payload_recipient
        iv = crypto.iv_for(header.originator)
        for priv_eui, pub_eui in ((recipient, header.originator),
                                  (header.originator, recipient)):
            for private in keystore.private_keys(priv_eui, KA):
                for public in keystore.public_keys(pub_eui, KA):
                    try:
                        key = payload_key(private, public, originator=header.originator,
                                          originator_counter=header.payload_originator_counter,
                                          recipient=recipient)
                    except (GbcsCryptoError, ValueError):
                        continue
                    plaintext = crypto.decrypt(key, iv, ciphertext_and_tag)
                    if plaintext is not None:
                        return plaintext
        return None
    return decrypt
