"""A small generic ASN.1 DER reader and writer over `Node` trees.

Every TLV becomes an ``lv`` node (tag, length, then the value) whose length child is a
``ber_len`` leaf, so an edited tree re-encodes with consistent lengths and a decoded
non-minimal length form (GBCS devices send ``82 00 9F``) is written back as it came.
Constructed values hold their inner TLVs as children; primitive values hold one leaf
named ``value`` (integers as signed big-endian leaves up to 8 bytes, strings and times
as ``text``, the rest as ``bytes``). Depth is bounded, and nothing is allocated from a
length field before the bytes are known to exist, so any input either decodes or raises
`GbcsDecodeError`.
"""

from __future__ import annotations

import datetime as _dt

from gbcs.errors import GbcsDecodeError, GbcsEncodeError
from gbcs.node import Node
from gbcs.reader import Reader

MAX_DEPTH = 32

# Universal tags GBCS and X.509 use.
BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
ENUMERATED = 0x0A
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
T61_STRING = 0x14
IA5_STRING = 0x16
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
VISIBLE_STRING = 0x1A
SEQUENCE = 0x30
SET = 0x31

CONSTRUCTED = 0x20
CONTEXT = 0x80

TAG_NAMES = {
    BOOLEAN: "boolean", INTEGER: "integer", BIT_STRING: "bit_string",
    OCTET_STRING: "octet_string", NULL: "null", OBJECT_IDENTIFIER: "object_identifier",
    ENUMERATED: "enumerated", UTF8_STRING: "utf8_string",
    PRINTABLE_STRING: "printable_string", T61_STRING: "t61_string",
    IA5_STRING: "ia5_string", UTC_TIME: "utc_time", GENERALIZED_TIME: "generalized_time",
    VISIBLE_STRING: "visible_string", SEQUENCE: "sequence", SET: "set",
}
TEXT_TAGS = frozenset((UTF8_STRING, PRINTABLE_STRING, T61_STRING, IA5_STRING,
                       VISIBLE_STRING, 0x12, 0x1C, 0x1E))
TIME_TAGS = frozenset((UTC_TIME, GENERALIZED_TIME))

# Object identifiers a lab engineer meets in GBCS payloads and SMKI certificates.
OID_NAMES = {
    "1.2.840.10045.2.1": "id-ecPublicKey",
    "1.2.840.10045.3.1.7": "prime256v1",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.113549.1.9.14": "extensionRequest",
    "2.5.4.3": "commonName",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "countryName",
    "2.5.4.10": "organizationName",
    "2.5.4.11": "organizationalUnitName",
    "2.5.4.45": "x500UniqueIdentifier",
    "2.5.29.14": "subjectKeyIdentifier",
    "2.5.29.15": "keyUsage",
    "2.5.29.17": "subjectAltName",
    "2.5.29.19": "basicConstraints",
    "2.5.29.32": "certificatePolicies",
    "2.5.29.35": "authorityKeyIdentifier",
    "2.5.29.37": "extKeyUsage",
    "2.5.29.32.0": "anyPolicy",
    "1.3.6.1.5.5.7.8.4": "id-on-hardwareModuleName",
}


def tag_name(tag: int) -> str:
    """A snake_case name for a tag: universal names, else ``context_n`` and so on."""
    known = TAG_NAMES.get(tag)
    if known is not None:
        return known
    if tag > 0xFF:
        return f"tag_{tag:X}"
    number = tag & 0x1F
    cls = ("universal", "application", "context", "private")[tag >> 6]
    return f"{cls}_{number}"


TAG_HUMAN = [tag_name(t) for t in range(256)]


# -- value renderings (total: garbage gives None or hex, never an exception) -------------


_OID_CACHE: dict[bytes, str | None] = {}


def oid_text(raw: bytes) -> str | None:
    """Dotted form of an encoded OBJECT IDENTIFIER, or None when malformed."""
    try:
        return _OID_CACHE[raw]
    except KeyError:
        pass
    dotted = _oid_text(raw)
    if len(_OID_CACHE) < 4096:
        _OID_CACHE[bytes(raw)] = dotted
    return dotted


def _oid_text(raw: bytes) -> str | None:
    if not raw or raw[-1] & 0x80 or len(raw) > 64:
        return None
    arcs: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def oid_bytes(dotted: str) -> bytes:
    """The content octets of an OBJECT IDENTIFIER given in dotted form."""
    try:
        arcs = [int(a) for a in dotted.split(".")]
    except ValueError:
        raise GbcsEncodeError(f"not a dotted OID: {dotted!r}") from None
    if len(arcs) < 2 or arcs[0] > 2 or min(arcs) < 0:
        raise GbcsEncodeError(f"not a dotted OID: {dotted!r}")
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1]] + arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def oid_human(raw: bytes) -> str:
    dotted = oid_text(raw)
    if dotted is None:
        return "malformed OID " + raw.hex().upper()
    name = OID_NAMES.get(dotted)
    return f"{name} ({dotted})" if name else dotted


def time_human(tag: int, text: str) -> str | None:
    """ISO 8601 for a UTCTime / GeneralizedTime in the UTC ``Z`` forms DER allows."""
    digits = text[:-1]
    if not text.endswith("Z") or not digits.isdigit() or not digits.isascii():
        return None
    if tag == UTC_TIME and len(digits) == 12:
        year = int(digits[:2])
        digits = str(1900 + year if year >= 50 else 2000 + year) + digits[2:]
    if len(digits) != 14:
        return None
    return (f"{digits[0:4]}-{digits[4:6]}-{digits[6:8]}"
            f"T{digits[8:10]}:{digits[10:12]}:{digits[12:14]}Z")


def parse_time(text: str, tag: int = GENERALIZED_TIME) -> _dt.datetime | None:
    """The UTC datetime of a DER time, or None when it is not a valid one."""
    iso = time_human(tag, text)
    if iso is None:
        return None
    try:
        return _dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def eui_text(raw: bytes) -> str:
    """``00-DB-12-34-56-78-90-A0``: how GBCS and DUIS write an EUI-64."""
    return raw.hex("-").upper()


# -- reading ----------------------------------------------------------------------------


def read_tag(r: Reader, field: str) -> Node:
    """The identifier octets: a u8 leaf, or a bytes leaf for the high-tag-number form."""
    pos = r.pos
    first = r.u8(field)
    if first & 0x1F != 0x1F:
        return Node("tag", "u8", first, None, pos, 1, TAG_HUMAN[first])
    n = 1
    while True:
        byte = r.u8(field)
        n += 1
        if not byte & 0x80:
            break
        if n >= 4:
            raise GbcsDecodeError("tag number longer than 3 bytes", pos, field)
    raw = r.buf[pos:pos + n]
    return Node("tag", "bytes", raw, None, pos, n, tag_name(int.from_bytes(raw, "big")))


def tag_value(tag_node: Node) -> int:
    value = tag_node.value
    return value if isinstance(value, int) else int.from_bytes(value, "big")


def peek_tag(r: Reader) -> int:
    """The tag byte at the cursor (-1 at the end); high tag forms report their first
    byte, which no schema here expects."""
    return r.buf[r.pos] if r.pos < r.end else -1


def read_header(r: Reader, name: str) -> tuple[int, Node, Node, Reader, int]:
    """(tag, tag leaf, length leaf, reader over the value, start offset) of one TLV."""
    buf, start, end = r.buf, r.pos, r.end
    if start + 2 <= end:
        tag = buf[start]
        length = buf[start + 1]
        body_end = start + 2 + length
        if length < 0x80 and body_end <= end and tag & 0x1F != 0x1F:
            r.pos = body_end
            return (tag, Node("tag", "u8", tag, None, start, 1, TAG_HUMAN[tag]),
                    Node("length", "ber_len", length, None, start + 1, 1),
                    Reader(buf, start + 2, body_end), start)
    tag_node = read_tag(r, name)
    pos = r.pos
    length, size = r.ber_length(name)
    len_node = Node("length", "ber_len", length, None, pos, size)
    body = r.sub(length, name)
    return tag_value(tag_node), tag_node, len_node, body, start


def primitive_value(tag: int, body: Reader) -> tuple[list[Node], str | None]:
    """The value leaf (none for an empty value) of a primitive TLV and its human text."""
    pos, n = body.pos, body.end - body.pos
    raw = body.take(n, "value")
    if n == 0:
        return [], ("null" if tag == NULL else None)
    if tag in (INTEGER, ENUMERATED) and n <= 8:
        value = int.from_bytes(raw, "big", signed=True)
        return [Node("value", f"i{8 * n}", value, None, pos, n)], str(value)
    if tag == BOOLEAN and n == 1:
        human = "FALSE" if raw[0] == 0 else "TRUE"
        return [Node("value", "u8", raw[0], None, pos, 1, human)], human
    if tag == OBJECT_IDENTIFIER:
        human = oid_human(raw)
        return [Node("value", "bytes", raw, None, pos, n, human)], human
    if tag in TEXT_TAGS or tag in TIME_TAGS:
        text = raw.decode("latin-1")
        human = time_human(tag, text) if tag in TIME_TAGS else None
        if tag == UTF8_STRING and not raw.isascii():
            human = raw.decode("utf-8", "replace")
        return [Node("value", "text", text, None, pos, n, human)], human
    if tag == BIT_STRING:
        return bit_string_children(raw, pos), None
    return [Node("value", "bytes", raw, None, pos, n)], None


def bit_string_children(raw: bytes, pos: int) -> list[Node]:
    """A BIT STRING value: the unused-bits count and the bits."""
    return [Node("unused_bits", "u8", raw[0], None, pos, 1),
            Node("bits", "bytes", raw[1:], None, pos + 1, len(raw) - 1)]


def decode_tlv(r: Reader, name: str | None = None, depth: int = 0) -> Node:
    """Any one well-formed TLV as a tree; its node is named `name` or after its tag."""
    if depth > MAX_DEPTH:
        raise r.fail(f"DER nested deeper than {MAX_DEPTH} levels", name or "der")
    tag, tag_node, len_node, body, start = read_header(r, name or "der")
    if name is None:
        name = tag_node.human or "der"
    if tag <= 0xFF and tag & CONSTRUCTED:
        try:
            children = decode_items(body, depth + 1)
        except GbcsDecodeError as err:
            raise err.within(name) from None
        return Node(name, "lv", 1, [tag_node, len_node, *children], start, r.pos - start)
    values, human = primitive_value(tag, body) if tag <= 0xFF else (
        [Node("value", "bytes", body.rest(), None, body.pos, body.end - body.pos)], None)
    return Node(name, "lv", 1, [tag_node, len_node, *values], start, r.pos - start, human)


def decode_items(r: Reader, depth: int = 0) -> list[Node]:
    """Every TLV up to the end of `r`."""
    items = []
    while r.pos < r.end:
        items.append(decode_tlv(r, None, depth))
    return items


def decode_der(data: bytes, name: str = "der") -> Node:
    """One whole DER value (nothing may follow it) as a tree."""
    r = Reader(data)
    node = decode_tlv(r, name)
    r.expect_end(name)
    return node


# -- building ---------------------------------------------------------------------------


def tlv(name: str, tag: int, children: list[Node], human: str | None = None) -> Node:
    """A TLV node around already built value nodes (length computed on encode)."""
    return Node(name, "lv", 1, [Node("tag", "u8", tag, None, -1, 0, tag_name(tag)),
                                Node("length", "ber_len", 0), *children], -1, 0, human)


def integer_width(value: int) -> int:
    """Octets of the minimal two's complement form DER requires."""
    return value.bit_length() // 8 + 1 if value >= 0 else (-value - 1).bit_length() // 8 + 1


def integer(name: str, value: int, tag: int = INTEGER, human: str | None = None) -> Node:
    n = integer_width(value)
    if n <= 8:
        leaf = Node("value", f"i{8 * n}", value, None, -1, n)
    else:
        leaf = Node("value", "bytes", value.to_bytes(n, "big", signed=True), None, -1, n)
    return tlv(name, tag, [leaf], human)


def octets(name: str, raw: bytes, tag: int = OCTET_STRING, human: str | None = None) -> Node:
    return tlv(name, tag, [Node("value", "bytes", bytes(raw), None, -1, len(raw))], human)


def null(name: str, tag: int = NULL) -> Node:
    return tlv(name, tag, [], "null")


def text(name: str, tag: int, value: str, human: str | None = None) -> Node:
    return tlv(name, tag, [Node("value", "text", value, None, -1, len(value), human)], human)


def generalized_time(name: str, when: _dt.datetime, tag: int = GENERALIZED_TIME) -> Node:
    """A GeneralizedTime in the ``YYYYMMDDHHMMSSZ`` form GBCS uses (UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(_dt.timezone.utc)
    value = f"{when.year:04d}{when.strftime('%m%d%H%M%S')}Z"
    return text(name, tag, value, time_human(GENERALIZED_TIME, value))


def bit_string(name: str, unused_bits: int, bits: bytes, tag: int = BIT_STRING,
               human: str | None = None) -> Node:
    raw = bytes((unused_bits,)) + bits
    return tlv(name, tag, bit_string_children(raw, -1), human)


def named_bits(indices: set[int] | frozenset[int]) -> tuple[int, bytes]:
    """(unused bits, octets) of a DER named-bit list with bits `indices` set (bit 0 is
    the most significant bit of the first octet; trailing zero bits are dropped)."""
    if not indices:
        return 0, b""
    top = max(indices)
    octets_ = bytearray(top // 8 + 1)
    for i in indices:
        octets_[i // 8] |= 0x80 >> (i % 8)
    return 7 - top % 8, bytes(octets_)


def bits_set(unused_bits: int, bits: bytes) -> frozenset[int]:
    """The indices of the set bits of a BIT STRING (bit 0 = first octet's MSB)."""
    width = len(bits) * 8
    value = (int.from_bytes(bits, "big") >> unused_bits) << unused_bits if bits else 0
    found = []
    while value:
        low = value & -value
        found.append(width - low.bit_length())
        value ^= low
    return frozenset(found)
