"""A small generic ASN.1 DER reader and writer over `Node` trees.

Each TLV is one node whose offset and size cover tag to end, so a certificate takes a
third of the nodes a tag / length / value split would:

- a primitive TLV is a leaf of kind ``der.<type>.<tag in hex>`` (``der.int.02``,
  ``der.bytes.80``) whose value is typed: ``int`` for an INTEGER or ENUMERATED of up
  to 8 octets, ``bool`` for a BOOLEAN, the dotted ``str`` of an OBJECT IDENTIFIER,
  ``str`` (Latin-1, as sent) for strings and times, None for NULL, and ``bytes``
  for the rest (OCTET and BIT STRINGs, whose first octet counts the unused bits);
- a constructed TLV is a ``der.tlv`` composite with its tag in ``value`` and its inner
  TLVs as children; its length is recomputed from them on encode.

Typed leaves are written in DER's canonical form, so they are used only for TLVs in
that form; anything else (a long length where a short one would do, an INTEGER padded
with a sign octet, ``01`` for TRUE) is kept as a ``bytes`` leaf, whose length keeps the
width the node's size implies, as do ``der.tlv`` nodes: the non-minimal ``82 00 9F``
GBCS devices send is written back as it came. Depth is bounded, and nothing is
allocated from a length field before the bytes are known to exist, so any input either
decodes or raises `GbcsDecodeError`.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Callable

from gbcs.errors import GbcsDecodeError, GbcsEncodeError
from gbcs.node import Node, ber_length_bytes, composite_kind, leaf_kind
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
        if byte == 0x80 and value == 0:  # a padded subidentifier: not BER
            return None
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
    if len(arcs) < 2 or arcs[0] > 2 or min(arcs) < 0 or (arcs[0] < 2 and arcs[1] >= 40):
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


# -- node kinds ---------------------------------------------------------------------------

TLV = "der.tlv"


def _is_primitive(tag: int) -> bool:
    return not tag & CONSTRUCTED and tag & 0x1F != 0x1F


def _leaf_kinds(value_type: str) -> tuple[str | None, ...]:
    """``der.<value_type>.<tag>`` for every one-octet primitive tag (None elsewhere)."""
    return tuple(f"der.{value_type}.{t:02X}" if _is_primitive(t) else None
                 for t in range(256))


INT_KIND = _leaf_kinds("int")
BOOL_KIND = _leaf_kinds("bool")
NULL_KIND = _leaf_kinds("null")
OID_KIND = _leaf_kinds("oid")
TEXT_KIND = _leaf_kinds("text")
BYTES_KIND = _leaf_kinds("bytes")
_TAG_OF_KIND: dict[str, int] = {}


def integer_width(value: int) -> int:
    """Octets of the minimal two's complement form DER requires."""
    return value.bit_length() // 8 + 1 if value >= 0 else (-value - 1).bit_length() // 8 + 1


def _int_content(node: Node) -> bytes:
    value = node.value
    if not isinstance(value, int):
        raise GbcsEncodeError(f"expected an integer, got {type(value).__name__}", node.name)
    return value.to_bytes(integer_width(value), "big", signed=True)


def _bool_content(node: Node) -> bytes:
    if not isinstance(node.value, bool):
        raise GbcsEncodeError(f"expected true or false, got {node.value!r}", node.name)
    return b"\xff" if node.value else b"\x00"


def _null_content(node: Node) -> bytes:
    return b""


def _oid_content(node: Node) -> bytes:
    try:
        return oid_bytes(str(node.value))
    except GbcsEncodeError as err:
        raise GbcsEncodeError(err.args[0], node.name) from None


def _text_content(node: Node) -> bytes:
    try:
        return str(node.value).encode("latin-1")
    except UnicodeEncodeError:
        raise GbcsEncodeError("text is not Latin-1", node.name) from None


def _bytes_content(node: Node) -> bytes:
    if not isinstance(node.value, (bytes, bytearray)):
        raise GbcsEncodeError(f"expected bytes, got {type(node.value).__name__}", node.name)
    return bytes(node.value)


def _length_width(node: Node, tag_size: int, length: int) -> int:
    """The width of the length octets a decoded node had (0, meaning minimal, when the
    size does not tell: a built node, or one edited past a valid width)."""
    width = node.size - tag_size - length
    return width if width <= 5 else 0


def _leaf_writer(content: Callable[[Node], bytes], keep_width: bool
                 ) -> Callable[[Node], bytes]:
    def write(node: Node) -> bytes:
        raw = content(node)
        width = _length_width(node, 1, len(raw)) if keep_width else 0
        return bytes((_TAG_OF_KIND[node.kind],)) + ber_length_bytes(len(raw), width) + raw
    return write


for _kinds, _type, _content in (
        (INT_KIND, int, _int_content), (BOOL_KIND, bool, _bool_content),
        (NULL_KIND, type(None), _null_content), (OID_KIND, str, _oid_content),
        (TEXT_KIND, str, _text_content), (BYTES_KIND, bytes, _bytes_content)):
    _writer = _leaf_writer(_content, _kinds is BYTES_KIND)
    for _tag, _kind in enumerate(_kinds):
        if _kind is not None:
            _TAG_OF_KIND[_kind] = _tag
            leaf_kind(_kind, _type, _writer)


def _tag_bytes(tag: int) -> bytes:
    """The identifier octets of a tag number as `read_header` gives it."""
    return bytes((tag,)) if tag <= 0xFF else tag.to_bytes((tag.bit_length() + 7) // 8, "big")


def _tlv_prefix(node: Node, body: bytes, count: int) -> bytes:
    tag = node.value
    if not isinstance(tag, int) or tag < 0:
        raise GbcsEncodeError(f"{TLV} node without a tag: {tag!r}", node.name)
    ident = _tag_bytes(tag)
    return ident + ber_length_bytes(len(body), _length_width(node, len(ident), len(body)))


composite_kind(TLV, _tlv_prefix)


def tag_of(node: Node) -> int:
    """The tag of a DER node (-1 for a node of another kind)."""
    if node.kind == TLV:
        return node.value
    return _TAG_OF_KIND.get(node.kind, -1)


def oid_of(node: Node) -> str | None:
    """The dotted OBJECT IDENTIFIER a DER leaf holds, or None for another node."""
    if node.kind == OID_KIND[OBJECT_IDENTIFIER]:
        return node.value
    if node.kind == BYTES_KIND[OBJECT_IDENTIFIER]:
        return oid_text(node.value)
    return None


# -- reading ----------------------------------------------------------------------------


def _read_tag(r: Reader, field: str) -> int:
    """The identifier octets as a number (high tag numbers: all their octets)."""
    pos = r.pos
    first = r.u8(field)
    if first & 0x1F != 0x1F:
        return first
    n = 1
    while True:
        byte = r.u8(field)
        n += 1
        if not byte & 0x80:
            break
        if n >= 4:
            raise GbcsDecodeError("tag number longer than 3 bytes", pos, field)
    return int.from_bytes(r.buf[pos:pos + n], "big")


def peek_tag(r: Reader) -> int:
    """The tag byte at the cursor (-1 at the end); high tag forms report their first
    byte, which no schema here expects."""
    return r.buf[r.pos] if r.pos < r.end else -1


def read_header(r: Reader, field: str) -> tuple[int, int, int, bool]:
    """(tag, value start, value end, whether the length is minimal) of the TLV at `r`,
    which moves past it."""
    buf, start = r.buf, r.pos
    if start + 2 <= r.end:
        tag = buf[start]
        length = buf[start + 1]
        if length < 0x80 and tag & 0x1F != 0x1F and start + 2 + length <= r.end:
            r.pos = start + 2 + length
            return tag, start + 2, r.pos, True
    tag = _read_tag(r, field)
    length, size = r.ber_length(field)
    pos = r.pos
    if length > r.end - pos:
        r.need(length, field)
    r.pos = pos + length
    minimal = size == (1 if length < 0x80 else 1 + (length.bit_length() + 7) // 8)
    return tag, pos, r.pos, minimal


def int_value(raw: bytes) -> tuple[int, bool]:
    """(value, whether in minimal form: no redundant sign octet) of INTEGER content."""
    minimal = len(raw) == 1 or not (raw[0] == 0 and raw[1] < 0x80
                                    or raw[0] == 0xFF and raw[1] >= 0x80)
    return int.from_bytes(raw, "big", signed=True), minimal


def _primitive(name: str, tag: int, buf: bytes, start: int, pos: int, end: int,
               minimal: bool) -> Node:
    """The leaf of a primitive TLV, typed after its universal tag."""
    raw = buf[pos:end]
    n = end - pos
    size = end - start
    if tag > 0xFF:
        return Node(name, TLV, tag, [Node("value", "bytes", raw, None, pos, n)], start, size)
    human: str | None = None
    if tag == INTEGER or tag == ENUMERATED:
        if 0 < n <= 8:
            value, canonical = int_value(raw)
            human = str(value)
            if canonical and minimal:
                return Node(name, INT_KIND[tag], value, None, start, size, human)
    elif tag == OBJECT_IDENTIFIER:
        dotted = oid_text(raw)
        human = oid_human(raw)
        if dotted is not None and minimal:
            return Node(name, OID_KIND[tag], dotted, None, start, size, human)
    elif tag in TEXT_TAGS or tag in TIME_TAGS:
        text_ = raw.decode("latin-1")
        if tag in TIME_TAGS:
            human = time_human(tag, text_)
        elif tag == UTF8_STRING and not raw.isascii():
            human = raw.decode("utf-8", "replace")
        if minimal:
            return Node(name, TEXT_KIND[tag], text_, None, start, size, human)
        human = human or text_
    elif tag == BOOLEAN and n == 1:
        human = "FALSE" if raw[0] == 0 else "TRUE"
        if minimal and raw[0] in (0, 0xFF):
            return Node(name, BOOL_KIND[tag], raw[0] != 0, None, start, size, human)
    elif tag == NULL and n == 0:
        if minimal:
            return Node(name, NULL_KIND[tag], None, None, start, size, "null")
        human = "null"
    return Node(name, BYTES_KIND[tag], raw, None, start, size, human)


def decode_tlv(r: Reader, name: str | None = None, depth: int = 0) -> Node:
    """Any one well-formed TLV as a tree; its node is named `name` or after its tag."""
    if depth > MAX_DEPTH:
        raise r.fail(f"DER nested deeper than {MAX_DEPTH} levels", name or "der")
    start = r.pos
    tag, pos, end, minimal = read_header(r, name or "der")
    if name is None:
        name = TAG_HUMAN[tag] if tag <= 0xFF else tag_name(tag)
    if tag <= 0xFF and tag & CONSTRUCTED:
        try:
            children = decode_items(Reader(r.buf, pos, end), depth + 1)
        except GbcsDecodeError as err:
            raise err.within(name) from None
        return Node(name, TLV, tag, children, start, end - start)
    return _primitive(name, tag, r.buf, start, pos, end, minimal)


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
    """A constructed TLV around already built nodes (length computed on encode)."""
    return Node(name, TLV, tag, children, -1, 0, human)


def _leaf(name: str, kinds: tuple[str | None, ...], tag: int, value: Any,
          human: str | None) -> Node:
    kind = kinds[tag] if 0 <= tag <= 0xFF else None
    if kind is None:
        raise GbcsEncodeError(f"0x{tag:X} is no one-octet primitive tag", name)
    return Node(name, kind, value, None, -1, 0, human)


def integer(name: str, value: int, tag: int = INTEGER, human: str | None = None) -> Node:
    """An INTEGER leaf: the number up to 8 octets, its octets beyond (as decoded)."""
    n = integer_width(value)
    if n <= 8:
        return _leaf(name, INT_KIND, tag, value, human)
    return _leaf(name, BYTES_KIND, tag, value.to_bytes(n, "big", signed=True), human)


def boolean(name: str, value: bool, tag: int = BOOLEAN) -> Node:
    return _leaf(name, BOOL_KIND, tag, bool(value), "TRUE" if value else "FALSE")


def object_identifier(name: str, dotted: str, tag: int = OBJECT_IDENTIFIER) -> Node:
    raw = oid_bytes(dotted)
    return _leaf(name, OID_KIND, tag, oid_text(raw), oid_human(raw))


def octets(name: str, raw: bytes, tag: int = OCTET_STRING, human: str | None = None) -> Node:
    return _leaf(name, BYTES_KIND, tag, bytes(raw), human)


def null(name: str, tag: int = NULL) -> Node:
    return _leaf(name, NULL_KIND, tag, None, "null")


def text(name: str, tag: int, value: str, human: str | None = None) -> Node:
    return _leaf(name, TEXT_KIND, tag, value, human)


def generalized_time(name: str, when: _dt.datetime, tag: int = GENERALIZED_TIME) -> Node:
    """A GeneralizedTime in the ``YYYYMMDDHHMMSSZ`` form GBCS uses (UTC)."""
    if when.tzinfo is not None:
        when = when.astimezone(_dt.timezone.utc)
    value = f"{when.year:04d}{when.strftime('%m%d%H%M%S')}Z"
    return text(name, tag, value, time_human(GENERALIZED_TIME, value))


def bit_string(name: str, unused_bits: int, bits: bytes, tag: int = BIT_STRING,
               human: str | None = None) -> Node:
    """A BIT STRING leaf: its content octets, the unused-bits count first."""
    return octets(name, bytes((unused_bits,)) + bits, tag, human)


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
