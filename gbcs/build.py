"""Build GBCS messages from named fields: the grouping header around a payload, the
signature of critical commands, and the MAC header the ACB (or a device) applies.

Trees built here are the same shape `gbcs.frames` decodes, so one generic encoder
writes both and a built message decodes to the fields it was built from.
"""

from __future__ import annotations

from gbcs import crypto
from gbcs.cosem import DATETIME_LEN
from gbcs.errors import GbcsEncodeError
from gbcs.frames import GENERAL_CIPHERING, GENERAL_SIGNING, SECURITY_HEADER
from gbcs.content import CRA_COMMAND
from gbcs.node import Node, ber_length_bytes, encode
from gbcs.usecases import UseCase, by_code, by_id


def lv_node(name: str, children: list[Node]) -> Node:
    return Node(name, "lv", 0, [Node("length", "ber_len", 0)] + children)


def octets_node(name: str, value: bytes) -> Node:
    return Node(name, "ber_octets", bytes(value))


def other_information(message_code: int, *, supplementary_remote_party_id: bytes | None = None,
                      supplementary_remote_party_counter: int | None = None,
                      supplementary_originator_counter: int | None = None,
                      ka_certificate: bytes | None = None) -> Node:
    """The other-information field; each optional part needs the ones before it."""
    children = [Node("message_code", "u16", message_code)]
    if supplementary_remote_party_id is not None:
        children.append(Node("supplementary_remote_party_id", "bytes",
                             bytes(supplementary_remote_party_id)))
        if supplementary_remote_party_counter is not None:
            children.append(Node("supplementary_remote_party_counter", "u64",
                                 supplementary_remote_party_counter))
            if supplementary_originator_counter is not None:
                children.append(Node("supplementary_originator_counter", "u64",
                                     supplementary_originator_counter))
            elif ka_certificate is not None:
                children.append(Node("supplementary_remote_party_ka_certificate", "bytes",
                                     bytes(ka_certificate)))
    return lv_node("other_information", children)


def addressing(*, cra: int, originator_counter: int, originator: bytes, recipient: bytes,
               date_time: bytes | None, other_info: Node) -> list[Node]:
    """Transaction id, system titles, date-time and other information: the fields the
    grouping header and the GBT routing header share."""
    return [
        lv_node("transaction_id", [Node("cra_flag", "u8", cra),
                                   Node("originator_counter", "u64", originator_counter)]),
        octets_node("originator_system_title", originator),
        octets_node("recipient_system_title", recipient),
        octets_node("date_time", date_time or b""),
        other_info,
    ]


def grouping_header(*, cra: int, originator_counter: int, originator: bytes,
                    recipient: bytes, message_code: int, content: Node | bytes,
                    date_time: bytes | None = None, signature: bytes | None = b"",
                    other_info: Node | None = None) -> Node:
    """A General Signing APDU. `signature` b"" writes a zero length (no signature),
    None leaves the length out (a pre-command), 64 bytes writes a signature."""
    if len(originator) != 8 or len(recipient) != 8:
        raise GbcsEncodeError("system titles must be 8 bytes", "general_signing")
    if date_time is not None and len(date_time) != DATETIME_LEN:
        raise GbcsEncodeError("date-time must be 12 bytes", "general_signing.date_time")
    payload = content if isinstance(content, Node) else Node("payload", "bytes", bytes(content))
    children = [
        Node("tag", "u8", GENERAL_SIGNING),
        lv_node("transaction_id", [Node("cra_flag", "u8", cra),
                               Node("originator_counter", "u64", originator_counter)]),
        octets_node("originator_system_title", originator),
        octets_node("recipient_system_title", recipient),
        octets_node("date_time", date_time or b""),
        other_info or other_information(message_code),
        lv_node("content", [payload]),
    ]
    if signature is not None:
        children.append(octets_node("signature", signature))
    return Node("general_signing", "seq", None, children)


def sign_grouping_header(apdu: bytes, key: crypto.PrivateKey) -> bytes:
    """Sign a pre-command (a General Signing APDU without signature length): append the
    length 0x40 and the raw r||s signature over everything after the DF tag."""
    if not apdu or apdu[0] != GENERAL_SIGNING:
        raise GbcsEncodeError("not a General Signing APDU (must start with 0xDF)", "tag")
    return apdu + b"\x40" + crypto.sign(key, apdu[1:])


_MAC_HEADER_START = bytes((GENERAL_CIPHERING,)) + bytes(6)


def mac_header(general_signing: bytes, key: bytes, originator: bytes,
               invocation_counter: int = 0) -> bytes:
    """Wrap a signed (or unsigned) General Signing APDU in the General Ciphering MAC
    header; `key` comes from `message_mac_key`."""
    aad = crypto.MAC_AAD_PREFIX + general_signing
    mac = crypto.gcm_mac(key, crypto.iv_for(originator), aad)
    # The tree `gbcs.frames` decodes, written directly (every command and response
    # passes here): tag, six empty fields, then the ciphered content's length,
    # security header, invocation counter, the APDU and the MAC.
    try:
        counter = invocation_counter.to_bytes(4, "big")
    except (OverflowError, AttributeError):
        raise GbcsEncodeError(f"{invocation_counter!r} does not fit u32",
                              "invocation_counter") from None
    return b"".join((_MAC_HEADER_START,
                     ber_length_bytes(5 + len(general_signing) + len(mac)),
                     bytes((SECURITY_HEADER,)), counter, general_signing, mac))


def message_mac_key(private: crypto.PrivateKey, public: crypto.PublicKey, *, cra: int,
                    originator: bytes, originator_counter: int, recipient: bytes) -> bytes:
    """The MAC key of one message: ECDH of the two KA keys, KDF with its CRA flag."""
    z = crypto.shared_secret(private, public)
    return crypto.derive_key(z, originator, cra, originator_counter, recipient)


def payload_key(private: crypto.PrivateKey, public: crypto.PublicKey, *, originator: bytes,
                originator_counter: int, recipient: bytes) -> bytes:
    """The payload-encryption key (KDF with CRA 04)."""
    z = crypto.shared_secret(private, public)
    return crypto.derive_key(z, originator, crypto.KDF_PAYLOAD, originator_counter, recipient)


def build_message(*, cra: int, originator_counter: int, originator: bytes, recipient: bytes,
                  message_code: int, content: Node | bytes, date_time: bytes | None = None,
                  signer: crypto.PrivateKey | None = None,
                  mac_keys: tuple[crypto.PrivateKey, crypto.PublicKey] | None = None,
                  other_info: Node | None = None) -> bytes:
    """A complete message: grouping header, signed when `signer` is given (else a zero
    signature length), wrapped in the MAC header when `mac_keys` (private, public) are."""
    apdu = encode(grouping_header(cra=cra, originator_counter=originator_counter,
                                  originator=originator, recipient=recipient,
                                  message_code=message_code, content=content,
                                  date_time=date_time, other_info=other_info,
                                  signature=None if signer else b""))
    if signer is not None:
        apdu = sign_grouping_header(apdu, signer)
    if mac_keys is None:
        return apdu
    key = message_mac_key(*mac_keys, cra=cra, originator=originator,
                          originator_counter=originator_counter, recipient=recipient)
    return mac_header(apdu, key, originator)


def resolve_use_case(use_case: str | int) -> UseCase:
    """The catalogue entry for a message code or an unambiguous use-case id."""
    if isinstance(use_case, int):
        found = by_code(use_case)
        if found is None:
            raise GbcsEncodeError(f"unknown message code 0x{use_case:04X}", "message_code")
        return found
    matches = [uc for uc in by_id(use_case) if not uc.alert]
    if len(matches) != 1:
        codes = ", ".join(f"0x{uc.code:04X}" for uc in matches) or "none"
        raise GbcsEncodeError(f"use case {use_case!r} names {len(matches)} command codes "
                              f"({codes}): give the message code", "use_case")
    return matches[0]


def build_request(use_case: str | int, content: Node | bytes, *, originator: bytes,
                  recipient: bytes, originator_counter: int,
                  signer: crypto.PrivateKey | None = None,
                  mac_keys: tuple[crypto.PrivateKey, crypto.PublicKey] | None = None,
                  date_time: bytes | None = None, other_info: Node | None = None) -> bytes:
    """A command for a use case (id such as "ECS17b", or message code) around a payload
    built with the payload builders (`gbcs.dlms`, `gbcs.gbz`, `gbcs.asn1`): critical use
    cases must be signed, and the catalogue's message code is used."""
    uc = resolve_use_case(use_case)
    if uc.critical and signer is None:
        raise GbcsEncodeError(f"{uc.use_case} is critical: a signing key is required",
                              "signature")
    return build_message(cra=CRA_COMMAND, originator_counter=originator_counter,
                         originator=originator, recipient=recipient, message_code=uc.code,
                         content=content, date_time=date_time, signer=signer,
                         mac_keys=mac_keys,
                         other_info=other_info or other_information(uc.code))
