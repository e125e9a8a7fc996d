"""The GBCS message forms: General Ciphering (MAC header), General Signing (grouping
header) and General Block Transfer (routing header + GBT block).

`decode_frame` builds the tree of the outer layers, hands the content to the payload
decoders, and returns the header facts the verifier needs (what is signed, what is
MAC'd, who the parties are).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from gbcs.content import ContentContext, Decryptor
from gbcs.cosem import DATETIME_LEN, format_datetime
from gbcs.der import decode_tlv
from gbcs.errors import GbcsDecodeError
from gbcs.node import Node
from gbcs.reader import Reader
from gbcs.usecases import by_code

GENERAL_CIPHERING = 0xDD
GENERAL_SIGNING = 0xDF
GBT_BLOCK = 0xE0
SECURITY_HEADER = 0x11
MAC_LEN = 12
SIGNATURE_LEN = 64
CRA_NAMES = {1: "command", 2: "response", 3: "alert"}

ContentDecoder = Callable[[Reader, ContentContext], Node]
DecryptorFactory = Callable[["Header"], "Decryptor | None"]


@dataclass(slots=True)
class Header:
    """What the outer layers say about a message (offsets are into the message)."""

    form: str  # "general_ciphering", "general_signing" or "gbt"
    cra: int = 0
    originator_counter: int = 0
    originator: bytes = b""
    recipient: bytes = b""
    date_time: bytes | None = None
    message_code: int = 0
    supplementary_remote_party_id: bytes | None = None
    supplementary_remote_party_counter: int | None = None
    supplementary_originator_counter: int | None = None
    ka_certificate: bytes | None = None
    content_start: int = 0
    content_end: int = 0
    signing_start: int = 0  # the General Signing APDU's DF tag
    signature_length_at: int = 0  # offset of the signature length byte; -1 if absent
    signing_end: int = 0  # end of the signature
    signature: bytes | None = None
    invocation_counter: int | None = None
    security_header_at: int = 0
    mac: bytes | None = None
    gbt: dict | None = None
    # "decrypted" or "undecrypted" for each encrypted payload part, in order.
    decryptions: list[str] = field(default_factory=list)

    @property
    def payload_originator_counter(self) -> int:
        """The counter the payload encryption key is derived with."""
        if self.supplementary_originator_counter is not None:
            return self.supplementary_originator_counter
        return self.originator_counter

    @property
    def payload_recipient(self) -> bytes:
        """The recipient the payload encryption key is derived with."""
        return self.supplementary_remote_party_id or self.recipient


def _lv_bytes(r: Reader, name: str, expected: int,
              human: Callable[[bytes], str]) -> tuple[Node, bytes]:
    """A length-prefixed octet string that is either empty or `expected` bytes long."""
    node = r.leaf_ber_octets(name)
    value = node.value
    if len(value) not in (0, expected):
        raise r.fail(f"{name} length must be 0 or {expected}, got {len(value)}", name,
                     node.offset)
    node.human = human(value) if value else "absent"
    return node, value


def _eui_text(raw: bytes) -> str:
    return raw.hex().upper()


def decode_grouping_header(r: Reader, content: ContentDecoder,
                           decryptors: DecryptorFactory | None, header: Header) -> Node:
    """The General Signing APDU from its DF tag to the end of its signature."""
    start = r.pos
    header.signing_start = start
    children: list[Node] = []
    tag = r.leaf_u8("tag", "general-signing")
    if tag.value != GENERAL_SIGNING:
        raise r.fail(f"expected General Signing tag 0xDF, got 0x{tag.value:02X}", "tag", start)
    children.append(tag)
    children.append(_transaction_id(r, header))
    node, header.originator = _lv_bytes(r, "originator_system_title", 8, _eui_text)
    if len(header.originator) != 8:
        raise r.fail("originator system title must be 8 bytes", "originator_system_title")
    children.append(node)
    node, header.recipient = _lv_bytes(r, "recipient_system_title", 8, _eui_text)
    if len(header.recipient) != 8:
        raise r.fail("recipient system title must be 8 bytes", "recipient_system_title")
    children.append(node)
    node, date_time = _lv_bytes(r, "date_time", DATETIME_LEN, format_datetime)
    header.date_time = date_time or None
    children.append(node)
    children.append(_other_information(r, header))

    c_start = r.pos
    c_len = r.leaf_ber_len()
    body = r.sub(c_len.value, "content")
    header.content_start, header.content_end = body.pos, body.end
    ctx = ContentContext(header.message_code, header.cra, header.originator,
                         header.payload_recipient, header.payload_originator_counter,
                         decryptors(header) if decryptors else None, header.decryptions)
    try:
        payload = content(body, ctx)
    except GbcsDecodeError as err:
        raise err.within("content")
    children.append(Node("content", "lv", 0, [c_len, payload], c_start, r.pos - c_start))

    header.signature_length_at = r.pos
    if r.at_end():
        # A pre-command (DUIS transform output) ends here: the DCC User appends the
        # signature length and signature when signing it.
        header.signature_length_at = -1
    else:
        sig = r.leaf_ber_octets("signature")
        if len(sig.value) not in (0, SIGNATURE_LEN):
            raise r.fail(f"signature length must be 0 or 64, got {len(sig.value)}",
                         "signature", sig.offset)
        header.signature = sig.value or None
        children.append(sig)
    header.signing_end = r.pos
    return Node("general_signing", "seq", None, children, start, r.pos - start)


def _transaction_id(r: Reader, header: Header) -> Node:
    start = r.pos
    length = r.leaf_ber_len()
    if length.value != 9:
        raise r.fail(f"transaction id length must be 9, got {length.value}",
                     "transaction_id", start)
    cra = r.leaf_u8("cra_flag")
    if cra.value not in CRA_NAMES:
        raise r.fail(f"CRA flag must be 1, 2 or 3, got {cra.value}", "transaction_id.cra_flag",
                     cra.offset)
    cra.human = CRA_NAMES[cra.value]
    counter = r.leaf_uint("originator_counter", 8)
    header.cra, header.originator_counter = cra.value, counter.value
    return Node("transaction_id", "lv", 0, [length, cra, counter], start, r.pos - start)


@lru_cache(maxsize=1024)
def _code_text(code: int) -> str:
    use_case = by_code(code)
    return f"0x{code:04X} {use_case.use_case} {use_case.name}" if use_case \
        else f"0x{code:04X} (unknown message code)"


def _other_information(r: Reader, header: Header) -> Node:
    """Message code, then by length: supplementary remote party id (10), its counter
    (18), the supplementary originator counter (26) or a KA certificate (> 26)."""
    start = r.pos
    length = r.leaf_ber_len()
    body = r.sub(length.value, "other_information")
    if length.value < 2:
        raise body.fail("other information must hold a 2-byte message code",
                        "other_information", start)
    code = body.leaf_uint("message_code", 2)
    code.human = _code_text(code.value)
    header.message_code = code.value
    children = [length, code]
    n = length.value
    if n not in (2, 10, 18, 26) and n <= 26:
        raise body.fail(f"other information length {n} is none of 2, 10, 18, 26 or a "
                        "certificate", "other_information", start)
    if n >= 10:
        rp = body.leaf_bytes("supplementary_remote_party_id", 8)
        rp.human = _eui_text(rp.value)
        header.supplementary_remote_party_id = rp.value
        children.append(rp)
    if n >= 18:
        rpc = body.leaf_uint("supplementary_remote_party_counter", 8)
        header.supplementary_remote_party_counter = rpc.value
        children.append(rpc)
    if n == 26:
        oc = body.leaf_uint("supplementary_originator_counter", 8)
        header.supplementary_originator_counter = oc.value
        children.append(oc)
    elif n > 26:
        try:
            cert = decode_tlv(body, "supplementary_remote_party_ka_certificate")
        except GbcsDecodeError as err:
            raise err.within("other_information")
        header.ka_certificate = body.buf[cert.offset:cert.offset + cert.size]
        children.append(cert)
    body.expect_end("other_information")
    return Node("other_information", "lv", 0, children, start, r.pos - start)


_MAC_HEADER_EMPTY = b"\x00" * 6


def _empty_fields(r: Reader) -> Node:
    """The MAC header's transaction id, system titles, date-time, other information and
    key info: all present as empty (0x00) in GBCS."""
    node = r.leaf_bytes("empty_fields", 6)
    if node.value != _MAC_HEADER_EMPTY:
        at = next(i for i, b in enumerate(node.value) if b)
        raise r.fail("transaction id, system titles, date-time, other information and key "
                     "info must be empty (0x00) in a MAC header", "empty_fields",
                     node.offset + at)
    node.human = "transaction id, system titles, date-time, other information, key info"
    return node


def decode_general_ciphering(r: Reader, content: ContentDecoder,
                             decryptors: DecryptorFactory | None, header: Header) -> Node:
    start = r.pos
    children = [r.leaf_u8("tag", "general-ciphering")]
    children.append(_empty_fields(r))
    c_start = r.pos
    c_len = r.leaf_ber_len()
    body = r.sub(c_len.value, "ciphered_content")
    header.security_header_at = body.pos
    sh = body.leaf_u8("security_header")
    if sh.value != SECURITY_HEADER:
        raise body.fail(f"security header must be 0x11 (authenticated), got 0x{sh.value:02X}",
                        "ciphered_content.security_header", sh.offset)
    sh.human = "authentication only"
    ic = body.leaf_uint("invocation_counter", 4)
    header.invocation_counter = ic.value
    if body.remaining < MAC_LEN:
        raise body.fail("ciphered content too short for the 12-byte MAC", "ciphered_content")
    signed = Reader(body.buf, body.pos, body.end - MAC_LEN)
    try:
        gs = decode_grouping_header(signed, content, decryptors, header)
    except GbcsDecodeError as err:
        raise err.within("ciphered_content.general_signing")
    signed.expect_end("general_signing")
    body.pos = signed.pos
    mac = body.leaf_bytes("mac", MAC_LEN)
    header.mac = mac.value
    cc = Node("ciphered_content", "lv", 0, [c_len, sh, ic, gs, mac], c_start, r.pos - c_start)
    children.append(cc)
    return Node("general_ciphering", "seq", None, children, start, r.pos - start)


def decode_gbt(r: Reader, header: Header) -> Node:
    """A GBT routing header (General Ciphering with its transaction id, system titles
    and message code present, then a length, security control byte and invocation
    counter) around one GBT block; a block with no data acknowledges blocks."""
    start = r.pos
    children = [r.leaf_u8("tag", "general-ciphering (GBT routing header)")]
    children.append(_transaction_id(r, header))
    node, header.originator = _lv_bytes(r, "originator_system_title", 8, _eui_text)
    children.append(node)
    node, header.recipient = _lv_bytes(r, "recipient_system_title", 8, _eui_text)
    children.append(node)
    node, date_time = _lv_bytes(r, "date_time", DATETIME_LEN, format_datetime)
    header.date_time = date_time or None
    children.append(node)
    children.append(_other_information(r, header))
    key_info = r.leaf_u8("key_info")
    if key_info.value != 0:
        raise r.fail("key info must be absent (0x00) in a GBT routing header", "key_info",
                     key_info.offset)
    children.append(key_info)
    c_start = r.pos
    c_len = r.leaf_ber_len()
    body = r.sub(c_len.value, "ciphered_content")
    sc = body.leaf_u8("security_control")
    ic = body.leaf_uint("invocation_counter", 4)
    header.invocation_counter = ic.value
    try:
        block = _gbt_block(body, header)
    except GbcsDecodeError as err:
        raise err.within("ciphered_content")
    body.expect_end("ciphered_content")
    children.append(Node("ciphered_content", "lv", 0, [c_len, sc, ic, block], c_start,
                         r.pos - c_start))
    return Node("gbt", "seq", None, children, start, r.pos - start)


def _gbt_block(r: Reader, header: Header) -> Node:
    start = r.pos
    tag = r.leaf_u8("tag", "general-block-transfer")
    if tag.value != GBT_BLOCK:
        raise r.fail(f"expected GBT block tag 0xE0, got 0x{tag.value:02X}", "block.tag", start)
    control = r.leaf_u8("block_control")
    last, streaming, window = bool(control.value & 0x80), bool(control.value & 0x40), \
        control.value & 0x3F
    control.human = f"last-block={int(last)} streaming={int(streaming)} window={window}"
    number = r.leaf_uint("block_number", 2)
    ack = r.leaf_uint("acknowledged_block_number", 2)
    block_data = r.leaf_ber_octets("block_data")
    header.gbt = {"last": last, "streaming": streaming, "window": window,
                  "block_number": number.value, "acknowledged": ack.value,
                  "data": block_data.value}
    return Node("block", "seq", None, [tag, control, number, ack, block_data], start,
                r.pos - start)


def decode_frame(data: bytes, content: ContentDecoder,
                 decryptors: DecryptorFactory | None = None) -> tuple[Node, Header]:
    """The tree of a whole GBCS message and its header facts; trailing bytes are an
    error."""
    r = Reader(data)
    first = r.peek("tag")
    if first == GENERAL_SIGNING:
        header = Header("general_signing")
        tree = decode_grouping_header(r, content, decryptors, header)
    elif first == GENERAL_CIPHERING:
        second = data[1] if len(data) > 1 else -1
        if second == 0x00:
            header = Header("general_ciphering")
            tree = decode_general_ciphering(r, content, decryptors, header)
        elif second == 0x09:
            header = Header("gbt")
            tree = decode_gbt(r, header)
        else:
            raise GbcsDecodeError("General Ciphering must continue with 0x00 (MAC header) "
                                  "or 0x09 (GBT routing header)", 1, "transaction_id")
    else:
        raise GbcsDecodeError(f"not a GBCS message: first byte 0x{first:02X} is none of "
                              "0xDD, 0xDF", 0, "tag")
    r.expect_end(tree.name)
    return tree, header


# -- the header alone ------------------------------------------------------------------
#
# What routes a message (the CHF, a hub, a fuzzer picking its target) is its header: the
# reads below check the outer layers exactly as the decoders above do, build no nodes
# and leave the content undecoded (`content_start` / `content_end` locate it). A message
# `decode_frame` accepts gives the same `Header`; one it refuses for its header is
# refused here too, with a `GbcsDecodeError` naming the field.


def _peek_octets(r: Reader, name: str, expected: int) -> bytes:
    start = r.pos
    n, _ = r.ber_length(name)
    value = r.take(n, name)
    if n not in (0, expected):
        raise r.fail(f"{name} length must be 0 or {expected}, got {n}", name, start)
    return value


def _peek_transaction_id(r: Reader, header: Header) -> None:
    start = r.pos
    length, _ = r.ber_length("length")
    if length != 9:
        raise r.fail(f"transaction id length must be 9, got {length}", "transaction_id",
                     start)
    cra = r.u8("cra_flag")
    if cra not in CRA_NAMES:
        raise r.fail(f"CRA flag must be 1, 2 or 3, got {cra}", "transaction_id.cra_flag",
                     r.pos - 1)
    header.cra, header.originator_counter = cra, r.uint(8, "originator_counter")


def _peek_parties(r: Reader, header: Header, whole: bool) -> None:
    """Transaction id, system titles (8 bytes each when `whole`), date-time and other
    information: the fields the grouping header and the GBT routing header share."""
    _peek_transaction_id(r, header)
    header.originator = _peek_octets(r, "originator_system_title", 8)
    if whole and len(header.originator) != 8:
        raise r.fail("originator system title must be 8 bytes", "originator_system_title")
    header.recipient = _peek_octets(r, "recipient_system_title", 8)
    if whole and len(header.recipient) != 8:
        raise r.fail("recipient system title must be 8 bytes", "recipient_system_title")
    header.date_time = _peek_octets(r, "date_time", DATETIME_LEN) or None
    start = r.pos
    n, _ = r.ber_length("length")
    body = r.sub(n, "other_information")
    if n < 2:
        raise body.fail("other information must hold a 2-byte message code",
                        "other_information", start)
    header.message_code = body.uint(2, "message_code")
    if n not in (2, 10, 18, 26) and n <= 26:
        raise body.fail(f"other information length {n} is none of 2, 10, 18, 26 or a "
                        "certificate", "other_information", start)
    if n >= 10:
        header.supplementary_remote_party_id = body.take(8, "supplementary_remote_party_id")
    if n >= 18:
        header.supplementary_remote_party_counter = body.uint(
            8, "supplementary_remote_party_counter")
    if n == 26:
        header.supplementary_originator_counter = body.uint(
            8, "supplementary_originator_counter")
    elif n > 26:
        try:
            cert = decode_tlv(body, "supplementary_remote_party_ka_certificate")
        except GbcsDecodeError as err:
            raise err.within("other_information")
        header.ka_certificate = body.buf[cert.offset:cert.offset + cert.size]
    body.expect_end("other_information")


def _peek_grouping_header(r: Reader, header: Header) -> None:
    header.signing_start = start = r.pos
    tag = r.u8("tag")
    if tag != GENERAL_SIGNING:
        raise r.fail(f"expected General Signing tag 0xDF, got 0x{tag:02X}", "tag", start)
    _peek_parties(r, header, True)
    n, _ = r.ber_length("length")
    body = r.sub(n, "content")
    header.content_start, header.content_end = body.pos, body.end
    header.signature_length_at = r.pos
    if r.at_end():
        header.signature_length_at = -1
    else:
        signature = _peek_octets(r, "signature", SIGNATURE_LEN)
        header.signature = signature or None
    header.signing_end = r.pos


def _peek_general_ciphering(r: Reader, header: Header) -> None:
    r.u8("tag")
    empty = r.take(6, "empty_fields")
    if empty != _MAC_HEADER_EMPTY:
        at = next(i for i, b in enumerate(empty) if b)
        raise r.fail("transaction id, system titles, date-time, other information and key "
                     "info must be empty (0x00) in a MAC header", "empty_fields",
                     r.pos - 6 + at)
    n, _ = r.ber_length("length")
    body = r.sub(n, "ciphered_content")
    header.security_header_at = body.pos
    security_header = body.u8("security_header")
    if security_header != SECURITY_HEADER:
        raise body.fail("security header must be 0x11 (authenticated), got "
                        f"0x{security_header:02X}", "ciphered_content.security_header",
                        body.pos - 1)
    header.invocation_counter = body.uint(4, "invocation_counter")
    if body.remaining < MAC_LEN:
        raise body.fail("ciphered content too short for the 12-byte MAC", "ciphered_content")
    signed = Reader(body.buf, body.pos, body.end - MAC_LEN)
    try:
        _peek_grouping_header(signed, header)
    except GbcsDecodeError as err:
        raise err.within("ciphered_content.general_signing")
    signed.expect_end("general_signing")
    header.mac = body.buf[signed.end:body.end]


def _peek_gbt(r: Reader, header: Header) -> None:
    r.u8("tag")
    _peek_parties(r, header, False)
    key_info = r.u8("key_info")
    if key_info != 0:
        raise r.fail("key info must be absent (0x00) in a GBT routing header", "key_info",
                     r.pos - 1)
    n, _ = r.ber_length("length")
    body = r.sub(n, "ciphered_content")
    body.u8("security_control")
    header.invocation_counter = body.uint(4, "invocation_counter")
    try:
        start = body.pos
        tag = body.u8("tag")
        if tag != GBT_BLOCK:
            raise body.fail(f"expected GBT block tag 0xE0, got 0x{tag:02X}", "block.tag",
                            start)
        control = body.u8("block_control")
        number = body.uint(2, "block_number")
        acknowledged = body.uint(2, "acknowledged_block_number")
        n, _ = body.ber_length("block_data")
        data = body.take(n, "block_data")
    except GbcsDecodeError as err:
        raise err.within("ciphered_content")
    body.expect_end("ciphered_content")
    header.gbt = {"last": bool(control & 0x80), "streaming": bool(control & 0x40),
                  "window": control & 0x3F, "block_number": number,
                  "acknowledged": acknowledged, "data": data}


def peek_header(data: bytes) -> Header:
    """The header facts of a whole message without decoding its content (see above);
    raises GbcsDecodeError (only) when the outer layers are malformed."""
    data = bytes(data)
    r = Reader(data)
    first = r.peek("tag")
    if first == GENERAL_SIGNING:
        header = Header("general_signing")
        _peek_grouping_header(r, header)
        name = "general_signing"
    elif first == GENERAL_CIPHERING:
        second = data[1] if len(data) > 1 else -1
        if second == 0x00:
            header = Header("general_ciphering")
            _peek_general_ciphering(r, header)
            name = "general_ciphering"
        elif second == 0x09:
            header = Header("gbt")
            _peek_gbt(r, header)
            name = "gbt"
        else:
            raise GbcsDecodeError("General Ciphering must continue with 0x00 (MAC header) "
                                  "or 0x09 (GBT routing header)", 1, "transaction_id")
    else:
        raise GbcsDecodeError(f"not a GBCS message: first byte 0x{first:02X} is none of "
                              "0xDD, 0xDF", 0, "tag")
    r.expect_end(name)
    return header


def locate_content(data: bytes) -> tuple[ContentContext, int, int]:
    """The payload context and [start, end) of the content of a whole message."""
    def skip(r: Reader, ctx: ContentContext) -> Node:
        pos = r.pos
        return Node("raw", "bytes", r.rest(), None, pos, r.end - pos)

    _, header = decode_frame(data, skip)
    ctx = ContentContext(header.message_code, header.cra, header.originator,
                         header.payload_recipient, header.payload_originator_counter)
    return ctx, header.content_start, header.content_end
