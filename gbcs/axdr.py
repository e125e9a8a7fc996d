"""A-XDR encoding of DLMS COSEM `Data` (Green Book, IEC 62056-5-3): every type DLMS
defines, as `Node` trees that `gbcs.node.encode` writes back byte for byte.

A value is as few nodes as its meaning allows (creating nodes is most of what decoding
costs), and its kind names its type, ``axdr.<type name>`` (`DATA_KINDS`):

- every simple type is ONE leaf covering its tag, length and value: an int for the
  integer types, enum and boolean; bytes for floats, dates, times, octet-strings and
  utf8-strings; a str for visible-strings and bit-strings ('0'/'1' per bit; unused bits
  of the last octet that are not zero, which DLMS never sends, follow a '|' so that
  they survive the round trip); None for null-data and dont-care;
- array and structure are ONE composite whose children are the elements (the tag and
  count are written from them);
- compact-array is a composite of ``type_description`` and ``contents`` (an ``lv`` of
  untagged elements laid out by the description);
- ``axdr.octet-string-fields`` is an octet-string whose octets show as named sub-fields
  (GBCS alert payloads, protected data), ``axdr.sequence-of`` an A-XDR SEQUENCE OF (a
  count, then the items) and ``axdr.optional`` an OPTIONAL (a presence flag, then the
  value if present), as DLMS APDUs carry them.

A length decoded in a non-minimal BER form is written back in its width (derived from
the node's size, as for ``ber_octets``).

The same module builds such trees from Python values (`data_node`, `compact_array_node`)
and reads them back (`axdr_value`), so builders, decoder and hypothesis strategies agree.
Decoding is total: depth is bounded, counts are never trusted for allocation, and any
malformed input raises `GbcsDecodeError`.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import struct
from functools import lru_cache
from typing import Any, Callable, Iterable, Union

from gbcs.cosem import DATETIME_LEN, datetime_bytes, format_datetime
from gbcs.errors import GbcsDecodeError, GbcsEncodeError
from gbcs.node import Node, ber_length_bytes, composite_kind, encode, leaf_kind
from gbcs.obis import OBIS_NAMES, class_name, describe_obis
from gbcs.reader import Reader

MAX_DEPTH = 32

NULL_DATA = 0
ARRAY = 1
STRUCTURE = 2
BOOLEAN = 3
BIT_STRING = 4
DOUBLE_LONG = 5
DOUBLE_LONG_UNSIGNED = 6
OCTET_STRING = 9
VISIBLE_STRING = 10
UTF8_STRING = 12
BCD = 13
INTEGER = 15
LONG = 16
UNSIGNED = 17
LONG_UNSIGNED = 18
COMPACT_ARRAY = 19
LONG64 = 20
LONG64_UNSIGNED = 21
ENUM = 22
FLOAT32 = 23
FLOAT64 = 24
DATE_TIME = 25
DATE = 26
TIME = 27
DELTA_INTEGER = 28
DELTA_LONG = 29
DELTA_DOUBLE_LONG = 30
DELTA_UNSIGNED = 31
DELTA_LONG_UNSIGNED = 32
DELTA_DOUBLE_LONG_UNSIGNED = 33
DONT_CARE = 255

TYPE_NAMES: dict[int, str] = {
    NULL_DATA: "null-data", ARRAY: "array", STRUCTURE: "structure", BOOLEAN: "boolean",
    BIT_STRING: "bit-string", DOUBLE_LONG: "double-long",
    DOUBLE_LONG_UNSIGNED: "double-long-unsigned", OCTET_STRING: "octet-string",
    VISIBLE_STRING: "visible-string", UTF8_STRING: "utf8-string", BCD: "bcd",
    INTEGER: "integer", LONG: "long", UNSIGNED: "unsigned", LONG_UNSIGNED: "long-unsigned",
    COMPACT_ARRAY: "compact-array", LONG64: "long64", LONG64_UNSIGNED: "long64-unsigned",
    ENUM: "enum", FLOAT32: "float32", FLOAT64: "float64", DATE_TIME: "date-time",
    DATE: "date", TIME: "time", DELTA_INTEGER: "delta-integer", DELTA_LONG: "delta-long",
    DELTA_DOUBLE_LONG: "delta-double-long", DELTA_UNSIGNED: "delta-unsigned",
    DELTA_LONG_UNSIGNED: "delta-long-unsigned",
    DELTA_DOUBLE_LONG_UNSIGNED: "delta-double-long-unsigned", DONT_CARE: "dont-care",
}
TYPE_TAGS: dict[str, int] = {name: tag for tag, name in TYPE_NAMES.items()}
TYPE_TAGS.update({name.replace("-", "_"): tag for tag, name in TYPE_NAMES.items()})

# Fixed-size types: tag -> (bytes, leaf kind); kind "bytes" for floats, dates and times.
FIXED: dict[int, tuple[int, str]] = {
    BOOLEAN: (1, "u8"), DOUBLE_LONG: (4, "i32"), DOUBLE_LONG_UNSIGNED: (4, "u32"),
    BCD: (1, "i8"), INTEGER: (1, "i8"), LONG: (2, "i16"), UNSIGNED: (1, "u8"),
    LONG_UNSIGNED: (2, "u16"), LONG64: (8, "i64"), LONG64_UNSIGNED: (8, "u64"),
    ENUM: (1, "u8"), FLOAT32: (4, "bytes"), FLOAT64: (8, "bytes"),
    DATE_TIME: (12, "bytes"), DATE: (5, "bytes"), TIME: (4, "bytes"),
    DELTA_INTEGER: (1, "i8"), DELTA_LONG: (2, "i16"), DELTA_DOUBLE_LONG: (4, "i32"),
    DELTA_UNSIGNED: (1, "u8"), DELTA_LONG_UNSIGNED: (2, "u16"),
    DELTA_DOUBLE_LONG_UNSIGNED: (4, "u32"),
}
_SIGNED_KINDS = frozenset(("i8", "i16", "i32", "i64"))
STRINGS = frozenset((OCTET_STRING, VISIBLE_STRING, UTF8_STRING))
EMPTY = frozenset((NULL_DATA, DONT_CARE))

# A type description as decoded: (tag,) for simple types, (ARRAY, n, element) or
# (STRUCTURE, (member, ...)).
TypeSpec = tuple
# How builders take a type description: a type name or tag, ("array", n, element) or
# ("structure", [member, ...]).
TypeArg = Union[str, int, tuple]

_DAYS = ("", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# -- node kinds -------------------------------------------------------------------------

DATA_KINDS: dict[int, str] = {tag: "axdr." + name for tag, name in TYPE_NAMES.items()}
OCTET_FIELDS_KIND = "axdr.octet-string-fields"
SEQUENCE_OF_KIND = "axdr.sequence-of"
OPTIONAL_KIND = "axdr.optional"
_KIND_TAGS: dict[str, int] = {kind: tag for tag, kind in DATA_KINDS.items()}
_KIND_TAGS[OCTET_FIELDS_KIND] = OCTET_STRING


def _width(node: Node, header: int, body: int) -> int:
    """The width its length had when `node` was decoded (its size less its other
    parts), so a non-minimal BER form is written back as it came; builders leave sizes
    at 0, and a width no BER length has means an edited tree: write it minimal."""
    width = node.size - header - body
    return width if width <= 5 else 0


def _int_writer(tag: int, n: int, signed: bool) -> Callable[[Node], bytes]:
    head = bytes((tag,))

    def write(node: Node) -> bytes:
        try:
            return head + int(node.value).to_bytes(n, "big", signed=signed)
        except (OverflowError, TypeError, ValueError):
            raise GbcsEncodeError(
                f"{node.value!r} does not fit {node.kind}", node.name) from None
    return write


def _raw_writer(tag: int, n: int) -> Callable[[Node], bytes]:
    head = bytes((tag,))

    def write(node: Node) -> bytes:
        value = node.value
        if not isinstance(value, (bytes, bytearray)) or len(value) != n:
            raise GbcsEncodeError(f"{node.kind} needs {n} bytes", node.name)
        return head + value
    return write


def _octets_writer(tag: int) -> Callable[[Node], bytes]:
    head = bytes((tag,))

    def write(node: Node) -> bytes:
        value = node.value
        if not isinstance(value, (bytes, bytearray)):
            raise GbcsEncodeError(f"expected bytes, got {type(value).__name__}", node.name)
        return head + ber_length_bytes(len(value), _width(node, 1, len(value))) + value
    return write


def _write_visible_string(node: Node) -> bytes:
    try:
        raw = str(node.value).encode("latin-1")
    except UnicodeEncodeError:
        raise GbcsEncodeError("text is not Latin-1", node.name) from None
    return b"\x0a" + ber_length_bytes(len(raw), _width(node, 1, len(raw))) + raw


def _write_bit_string(node: Node) -> bytes:
    n, raw = _bit_count_and_bytes(node.value, node.name)
    return b"\x04" + ber_length_bytes(n, _width(node, 1, len(raw))) + raw


def _empty_writer(tag: int) -> Callable[[Node], bytes]:
    raw = bytes((tag,))
    return lambda node: raw


def _count_prefix(tag: int) -> Callable[[Node, bytes, int], bytes]:
    head = bytes((tag,))
    return lambda node, body, count: head + ber_length_bytes(count,
                                                              _width(node, 1, len(body)))


for _tag, _kind in DATA_KINDS.items():
    if _tag in FIXED:
        _n, _leaf = FIXED[_tag]
        if _leaf == "bytes":
            leaf_kind(_kind, bytes, _raw_writer(_tag, _n))
        else:
            leaf_kind(_kind, int, _int_writer(_tag, _n, _leaf in _SIGNED_KINDS))
    elif _tag in (OCTET_STRING, UTF8_STRING):
        leaf_kind(_kind, bytes, _octets_writer(_tag))
    elif _tag in EMPTY:
        leaf_kind(_kind, type(None), _empty_writer(_tag))
leaf_kind(DATA_KINDS[VISIBLE_STRING], str, _write_visible_string)
leaf_kind(DATA_KINDS[BIT_STRING], str, _write_bit_string)
composite_kind(DATA_KINDS[ARRAY], _count_prefix(ARRAY))
composite_kind(DATA_KINDS[STRUCTURE], _count_prefix(STRUCTURE))
composite_kind(DATA_KINDS[COMPACT_ARRAY], lambda node, body, count: b"\x13")
composite_kind(OCTET_FIELDS_KIND, lambda node, body, count: b"\x09" + ber_length_bytes(
    len(body), _width(node, 1, len(body))))
composite_kind(SEQUENCE_OF_KIND, lambda node, body, count: ber_length_bytes(
    count, _width(node, 0, len(body))))
composite_kind(OPTIONAL_KIND, lambda node, body, count: b"\x01" if count else b"\x00")


# -- readable forms -------------------------------------------------------------------


def format_date(raw: bytes) -> str:
    """A COSEM date (year, month, day of month, day of week) with its wildcards:
    0xFF not specified, month 0xFD/0xFE DST end/begin, day 0xFD/0xFE 2nd last/last."""
    if len(raw) != 5:
        return raw.hex().upper()
    year = int.from_bytes(raw[:2], "big")
    month, day, dow = raw[2], raw[3], raw[4]
    y = "****" if year == 0xFFFF else f"{year:04d}"
    m = {0xFF: "**", 0xFD: "DST-end", 0xFE: "DST-begin"}.get(month, f"{month:02d}")
    d = {0xFF: "**", 0xFD: "2nd-last", 0xFE: "last"}.get(day, f"{day:02d}")
    text = f"{y}-{m}-{d}"
    if dow != 0xFF:
        text += f" ({_DAYS[dow]})" if 1 <= dow <= 7 else f" (day-of-week {dow})"
    return text


def format_time(raw: bytes) -> str:
    """A COSEM time (hour, minute, second, hundredths), 0xFF meaning not specified."""
    if len(raw) != 4:
        return raw.hex().upper()
    parts = [("**" if v == 0xFF else f"{v:02d}") for v in raw[:3]]
    text = ":".join(parts)
    if raw[3] not in (0xFF, 0):
        text += f".{raw[3]:02d}"
    return text


@lru_cache(maxsize=4096)
def format_date_time(raw: bytes) -> str:
    """A 12-octet COSEM date-time; GBCS writes 'now' as all-zero and 'never' as
    all-0xFF date and time fields."""
    body = raw[:9]
    if body == bytes(9):
        return "now (0000-00-00 00:00:00)"
    if body == b"\xff" * 9:
        return "never (not specified)"
    return format_datetime(raw)


@lru_cache(maxsize=4096)
def looks_like_date_time(raw: bytes) -> bool:
    """Whether 12 octets hold a plausible COSEM date-time (wildcards allowed)."""
    if len(raw) != DATETIME_LEN:
        return False
    body = raw[:9]
    if body == bytes(9) or body == b"\xff" * 9:
        return True
    month, day, dow, hour, minute, second, hundredths = raw[2:9]
    deviation = int.from_bytes(raw[9:11], "big", signed=True)
    return ((1 <= month <= 12 or month >= 0xFD) and (1 <= day <= 31 or day >= 0xFD)
            and (1 <= dow <= 7 or dow == 0xFF) and (hour <= 23 or hour == 0xFF)
            and (minute <= 59 or minute == 0xFF) and (second <= 59 or second == 0xFF)
            and (hundredths <= 99 or hundredths == 0xFF)
            and (-840 <= deviation <= 840 or deviation == -0x8000))


_PRINTABLE = bytes(range(0x20, 0x7F))


def _printable(raw: bytes) -> bool:
    return len(raw) > 1 and not raw.translate(None, _PRINTABLE)


# Readable forms of short octet-strings (a device sends the same logical names, dates and
# flags over and over); bounded, so hostile input cannot grow it.
_OCTETS_TEXT: dict[bytes, str] = {}


def octets_human(raw: bytes) -> str:
    """An octet-string as a lab engineer reads it: a named OBIS code, a date-time,
    quoted text or hex."""
    text = _OCTETS_TEXT.get(raw)
    if text is None:
        text = _octets_text(raw)
        if len(raw) <= DATETIME_LEN and len(_OCTETS_TEXT) < 4096:
            _OCTETS_TEXT[bytes(raw)] = text
    return text


def _octets_text(raw: bytes) -> str:
    if len(raw) == 6 and raw in OBIS_NAMES:
        return describe_obis(raw)
    if len(raw) == DATETIME_LEN and looks_like_date_time(raw):
        return format_date_time(raw)
    if _printable(raw):
        return '"' + raw.decode("ascii") + '"'
    return raw.hex().upper() if raw else "(empty)"


def _float_human(tag: int, raw: bytes) -> str:
    value = struct.unpack(">f" if tag == FLOAT32 else ">d", raw)[0]
    return repr(value)


def _bits_text(raw: bytes, bit_count: int) -> str:
    if not raw:
        return ""
    return format(int.from_bytes(raw, "big"), f"0{8 * len(raw)}b")[:bit_count]


@lru_cache(maxsize=4096)  # a device sends the same few flag sets over and over
def _bits_value(raw: bytes, bit_count: int) -> str:
    """A bit-string's leaf value: its bits, then '|' and the unused bits of the last
    octet if any of them is set."""
    if not raw:
        return ""
    text = format(int.from_bytes(raw, "big"), f"0{8 * len(raw)}b")
    bits, unused = text[:bit_count], text[bit_count:]
    return bits + "|" + unused if "1" in unused else bits


def fixed_human(tag: int, value: Any) -> str:
    """The readable form of a fixed-size value (int, or raw bytes for floats/dates)."""
    if tag == BOOLEAN:
        return "true" if value else "false"
    if tag in (FLOAT32, FLOAT64):
        return _float_human(tag, value)
    if tag == DATE_TIME:
        return format_date_time(value)
    if tag == DATE:
        return format_date(value)
    if tag == TIME:
        return format_time(value)
    return str(value)


# -- decoding -------------------------------------------------------------------------


_ELEMENT_NAMES = tuple(f"element[{i}]" for i in range(256))
_ENTRY_NAMES = tuple(f"entry[{i}]" for i in range(256))
_STRUCTURE_HUMAN = tuple(f"structure of {i}" for i in range(256))
_ARRAY_HUMAN = tuple(f"array of {i}" for i in range(256))
# The hot path: tag -> (kind, size, signed) of the integer types, enum and boolean.
_INTS = {tag: (DATA_KINDS[tag], n, kind in _SIGNED_KINDS)
         for tag, (n, kind) in FIXED.items() if kind != "bytes"}
_STRUCTURE_KIND = DATA_KINDS[STRUCTURE]
_ARRAY_KIND = DATA_KINDS[ARRAY]
_OCTETS_KIND = DATA_KINDS[OCTET_STRING]
_LONG_UNSIGNED_KIND = DATA_KINDS[LONG_UNSIGNED]
_PAIR_KINDS = frozenset((_LONG_UNSIGNED_KIND, _OCTETS_KIND))  # see _logical_name_pair


def decode_axdr(r: Reader, name: str = "data", depth: int = 0) -> Node:
    """One tagged A-XDR `Data` value (6-octet octet-strings that are logical names are
    shown as OBIS codes: those with a known name, and those beside a class id or a
    script selector in a structure)."""
    if type(r.buf) is not bytes:  # values become dict keys and cache keys
        r.buf = bytes(r.buf)
    node = _data(r, r.pos, name, depth)
    r.pos = node.offset + node.size
    return node


def _data(r: Reader, start: int, name: str, depth: int) -> Node:
    """The value at `start`; it ends at the node's offset + size."""
    buf, end = r.buf, r.end
    if start >= end:
        raise GbcsDecodeError(f"truncated: {name} missing", start, name)
    tag = buf[start]
    info = _INTS.get(tag)
    if info is not None:
        kind, n, signed = info
        stop = start + 1 + n
        if stop > end:
            raise GbcsDecodeError(f"truncated: {name} needs {n} bytes, {end - start - 1} "
                                  f"left", start + 1, name)
        value = int.from_bytes(buf[start + 1:stop], "big", signed=signed)
        return Node(name, kind, value, None, start, n + 1,
                    str(value) if tag != BOOLEAN else "true" if value else "false")
    if tag == STRUCTURE or tag == ARRAY:
        return _elements(r, start, name, depth, tag)
    pos = start + 1
    if tag == OCTET_STRING:
        if pos < end and buf[pos] < 0x80:
            n = buf[pos]
            pos += 1
        else:
            r.pos = pos
            n = r.ber_length(name)[0]
            pos = r.pos
        stop = pos + n
        if stop > end:
            raise GbcsDecodeError(f"truncated: {name} needs {n} bytes, {end - pos} left",
                                  pos, name)
        raw = buf[pos:stop]
        return Node(name, _OCTETS_KIND, raw, None, start, stop - start, octets_human(raw))
    if tag in EMPTY:
        return Node(name, DATA_KINDS[tag], None, None, start, 1,
                    "null" if tag == NULL_DATA else "dont-care")
    fixed = FIXED.get(tag)
    if fixed is not None:  # floats, dates and times
        r.pos = pos
        raw = r.take(fixed[0], name)
        return Node(name, DATA_KINDS[tag], raw, None, start, r.pos - start,
                    fixed_human(tag, raw))
    if tag == COMPACT_ARRAY:
        return _compact_array(r, start, name, depth)
    if tag not in (VISIBLE_STRING, UTF8_STRING, BIT_STRING):
        raise GbcsDecodeError(f"unknown A-XDR data type {tag}", start, name)
    r.pos = pos
    n = r.ber_length(name)[0]
    raw = r.take((n + 7) // 8 if tag == BIT_STRING else n, name)
    if tag == VISIBLE_STRING:
        value = raw.decode("latin-1")
        human = '"' + value + '"'
    elif tag == UTF8_STRING:
        value = raw
        human = '"' + raw.decode("utf-8", "replace") + '"'
    else:
        value = _bits_value(raw, n)
        human = value or "(empty)"
    return Node(name, DATA_KINDS[tag], value, None, start, r.pos - start, human)


def _elements(r: Reader, start: int, name: str, depth: int, tag: int) -> Node:
    """An array or structure. The hot path of DLMS decoding: integers and short
    octet-strings (most elements) are read inline, other values through `_data`."""
    if depth >= MAX_DEPTH:
        raise GbcsDecodeError(f"data nested deeper than {MAX_DEPTH} levels", start, name)
    buf, end = r.buf, r.end
    structure = tag == STRUCTURE
    children: list[Node] = []
    append = children.append
    depth += 1
    p = start + 1
    try:
        if p < end and buf[p] < 0x80:
            count = buf[p]
            p += 1
        else:
            r.pos = p
            count = r.ber_length("count")[0]
            p = r.pos
        names = _ELEMENT_NAMES if structure else _ENTRY_NAMES
        for item in names[:count] if count <= 256 else item_names(names, count):
            t = buf[p] if p < end else -1
            info = _INTS.get(t)
            if info is not None:
                kind, n, signed = info
                q = p + 1 + n
                if q > end:
                    raise GbcsDecodeError(f"truncated: {item} needs {n} bytes, "
                                          f"{end - p - 1} left", p + 1, item)
                if n == 1:
                    v = buf[p + 1]
                    if v > 127 and signed:
                        v -= 256
                elif n == 2:
                    v = buf[p + 1] << 8 | buf[p + 2]
                    if v > 32767 and signed:
                        v -= 65536
                else:
                    v = int.from_bytes(buf[p + 1:q], "big", signed=signed)
                append(Node(item, kind, v, None, p, n + 1,
                            str(v) if t != BOOLEAN else "true" if v else "false"))
                p = q
            elif t == OCTET_STRING and p + 1 < end and buf[p + 1] < 0x80:
                q = p + 2 + buf[p + 1]
                if q > end:
                    raise GbcsDecodeError(f"truncated: {item} needs {buf[p + 1]} bytes, "
                                          f"{end - p - 2} left", p + 2, item)
                raw = buf[p + 2:q]
                append(Node(item, _OCTETS_KIND, raw, None, p, q - p,
                            _OCTETS_TEXT.get(raw) or octets_human(raw)))
                p = q
            else:
                if t == STRUCTURE or t == ARRAY:
                    child = _elements(r, p, item, depth, t)
                else:
                    child = _data(r, p, item, depth)
                append(child)
                p = child.offset + child.size
    except GbcsDecodeError as err:
        raise err.within(name) from None
    if structure:
        if count >= 2 and children[0].kind in _PAIR_KINDS:
            _logical_name_pair(children[0], children[1])
        human = _STRUCTURE_HUMAN[count] if count < 256 else f"structure of {count}"
        return Node(name, _STRUCTURE_KIND, None, children, start, p - start, human)
    human = _ARRAY_HUMAN[count] if count < 256 else f"array of {count}"
    return Node(name, _ARRAY_KIND, None, children, start, p - start, human)


def item_names(names: tuple[str, ...], count: int) -> Iterable[str]:
    """The names of `count` items, from precomputed ``label[i]`` names and lazily past
    them (a hostile count fails at the first missing item, not in allocation)."""
    if count <= len(names):
        return names[:count]
    label = names[0][:-3]
    return itertools.chain(names, (f"{label}[{i}]" for i in range(len(names), count)))


def _compact_array(r: Reader, start: int, name: str, depth: int) -> Node:
    if depth >= MAX_DEPTH:
        raise GbcsDecodeError(f"data nested deeper than {MAX_DEPTH} levels", start, name)
    r.pos = start + 1
    try:
        desc_node, spec = decode_type_description(r, "type_description", depth + 1)
        contents = _compact_contents(r, spec, depth + 1)
    except GbcsDecodeError as err:
        raise err.within(name) from None
    return Node(name, DATA_KINDS[COMPACT_ARRAY], None, [desc_node, contents], start,
                r.pos - start, f"compact-array of {len(contents.children) - 1}")


def _logical_name_pair(first: Node, second: Node) -> None:
    """(class id, logical name) as in capture objects and commodity references, or
    (logical name, script selector) as in scripts: show the logical name as OBIS."""
    k1, k2 = first.kind, second.kind
    if k1 == _LONG_UNSIGNED_KIND and k2 == _OCTETS_KIND:
        if len(second.value) == 6:
            class_id = first.value
            first.human = f"{class_id} ({class_name(class_id)})"
            second.human = describe_obis(second.value)
    elif k1 == _OCTETS_KIND and k2 == _LONG_UNSIGNED_KIND and len(first.value) == 6:
        first.human = describe_obis(first.value)


def octets_of(node: Node) -> bytes | None:
    """The octets of a tagged octet-string node (None if it is not one, or if its value
    has been laid out into sub-fields)."""
    if node.kind == _OCTETS_KIND and isinstance(node.value, (bytes, bytearray)):
        return bytes(node.value)
    return None


def decode_type_description(r: Reader, name: str, depth: int) -> tuple[Node, TypeSpec]:
    """A compact-array type description and its spec for reading the contents."""
    if depth > MAX_DEPTH:
        raise r.fail(f"type description nested deeper than {MAX_DEPTH} levels", name)
    start = r.pos
    tag = r.u8(name)
    typ = Node("type", "u8", tag, None, start, 1, TYPE_NAMES.get(tag))
    if tag == ARRAY:
        n = r.leaf_uint("number_of_elements", 2)
        elem_node, elem = decode_type_description(r, "element_type", depth + 1)
        if n.value and _min_size(elem) == 0:
            raise GbcsDecodeError("compact-array element type takes no bytes", start, name)
        spec = (ARRAY, n.value, elem)
        return Node(name, "seq", None, [typ, n, elem_node], start, r.pos - start,
                    f"array of {n.value} {_spec_text(elem)}"), spec
    if tag == STRUCTURE:
        count = r.leaf_ber_len("count")
        children = [typ, count]
        members = []
        for i in range(count.value):
            member_node, member = decode_type_description(r, f"member[{i}]", depth + 1)
            children.append(member_node)
            members.append(member)
        spec = (STRUCTURE, tuple(members))
        return Node(name, "count", 1, children, start, r.pos - start, _spec_text(spec)), spec
    if tag in FIXED or tag in STRINGS or tag == BIT_STRING or tag in EMPTY:
        return Node(name, "u8", tag, None, start, 1, TYPE_NAMES[tag]), (tag,)
    raise GbcsDecodeError(f"type {tag} cannot be described in a compact-array", start, name)


def _min_size(spec: TypeSpec) -> int:
    tag = spec[0]
    if tag == ARRAY:
        return spec[1] * _min_size(spec[2])
    if tag == STRUCTURE:
        return sum(_min_size(m) for m in spec[1])
    if tag in FIXED:
        return FIXED[tag][0]
    return 0 if tag in EMPTY else 1


def _spec_text(spec: TypeSpec) -> str:
    tag = spec[0]
    if tag == ARRAY:
        return f"array of {spec[1]} {_spec_text(spec[2])}"
    if tag == STRUCTURE:
        return "structure {" + ", ".join(_spec_text(m) for m in spec[1]) + "}"
    return TYPE_NAMES[tag]


def _compact_contents(r: Reader, spec: TypeSpec, depth: int) -> Node:
    start = r.pos
    length = r.leaf_ber_len()
    body = r.sub(length.value, "contents")
    if _min_size(spec) == 0 and length.value:
        raise GbcsDecodeError("compact-array element type takes no bytes", start, "contents")
    layout = _int_structure_layout(spec)
    children = [length] + (_int_structures(body, layout) if layout is not None else [])
    i = len(children) - 1
    while body.pos < body.end:
        item = f"entry[{i}]"
        try:
            children.append(_untagged(body, spec, item, depth + 1))
        except GbcsDecodeError as err:
            raise err.within("contents") from None
        i += 1
    return Node("contents", "lv", 0, children, start, r.pos - start)


# (member name, leaf kind, size, signed, is boolean) per member
_Layout = tuple[tuple[str, str, int, bool, bool], ...]


def _int_structure_layout(spec: TypeSpec) -> _Layout | None:
    """The members of a structure of integers (as profile buffers are), else None."""
    if spec[0] != STRUCTURE or not spec[1]:
        return None
    layout = []
    for i, member in enumerate(spec[1]):
        n, kind = FIXED.get(member[0], (0, "bytes"))
        if kind == "bytes":
            return None
        layout.append((f"element[{i}]", kind, n, kind in _SIGNED_KINDS, member[0] == BOOLEAN))
    return tuple(layout)


def _int_structures(r: Reader, layout: _Layout) -> list[Node]:
    """The whole entries of a compact-array of integer structures, read without
    `_untagged`'s generic walk (a trailing partial entry is left for it to report)."""
    buf, p, end = r.buf, r.pos, r.end
    size = sum(member[2] for member in layout)
    human = f"structure of {len(layout)}"
    entries = []
    while p + size <= end:
        start = p
        members = []
        for name, kind, n, signed, boolean in layout:
            v = int.from_bytes(buf[p:p + n], "big", signed=signed)
            members.append(Node(name, kind, v, None, p, n,
                                str(v) if not boolean else "true" if v else "false"))
            p += n
        i = len(entries)
        entries.append(Node(_ENTRY_NAMES[i] if i < 256 else f"entry[{i}]", "seq", None,
                            members, start, size, human))
    r.pos = p
    return entries


def _untagged(r: Reader, spec: TypeSpec, name: str, depth: int) -> Node:
    """A value laid out by a type description, without its tag (compact-array)."""
    if depth > MAX_DEPTH:
        raise r.fail(f"data nested deeper than {MAX_DEPTH} levels", name)
    tag = spec[0]
    start = r.pos
    fixed = FIXED.get(tag)
    if fixed is not None:
        n, kind = fixed
        raw = r.take(n, name)
        value = raw if kind == "bytes" else int.from_bytes(raw, "big",
                                                          signed=kind in _SIGNED_KINDS)
        return Node(name, kind, value, None, start, n, fixed_human(tag, value))
    if tag == OCTET_STRING:
        leaf = r.leaf_ber_octets(name)
        leaf.human = octets_human(leaf.value)
        return leaf
    if tag in STRINGS:
        length = r.leaf_ber_len()
        pos = r.pos
        raw = r.take(length.value, name)
        if tag == VISIBLE_STRING:
            leaf = Node("value", "text", raw.decode("latin-1"), None, pos, len(raw))
            human = '"' + leaf.value + '"'
        else:
            human = '"' + raw.decode("utf-8", "replace") + '"'
            leaf = Node("value", "bytes", raw, None, pos, len(raw), human)
        return Node(name, "lv", 0, [length, leaf], start, r.pos - start, human)
    if tag == BIT_STRING:
        bits = r.leaf_ber_len("bit_count")
        pos = r.pos
        raw = r.take((bits.value + 7) // 8, name)
        text = _bits_text(raw, bits.value)
        return Node(name, "seq", None, [bits, Node("value", "bytes", raw, None, pos, len(raw))],
                    start, r.pos - start, text or "(empty)")
    if tag == ARRAY:
        children = []
        for i in range(spec[1]):
            try:
                children.append(_untagged(r, spec[2], f"entry[{i}]", depth + 1))
            except GbcsDecodeError as err:
                raise err.within(name) from None
        return Node(name, "seq", None, children, start, r.pos - start, f"array of {spec[1]}")
    if tag == STRUCTURE:
        children = []
        for i, member in enumerate(spec[1]):
            try:
                children.append(_untagged(r, member, f"element[{i}]", depth + 1))
            except GbcsDecodeError as err:
                raise err.within(name) from None
        return Node(name, "seq", None, children, start, r.pos - start,
                    f"structure of {len(spec[1])}")
    return Node(name, "seq", None, [], start, 0, "null")


# -- reading values back ----------------------------------------------------------------


def data_tag(node: Node) -> int | None:
    """The Data CHOICE tag of a tagged data node, or None if the node is not one."""
    return _KIND_TAGS.get(node.kind)


def axdr_value(node: Node) -> Any:
    """The Python value of a tagged data node: None, bool, int, float, bytes, str (text
    and bit-strings as '0'/'1'), a list for arrays and structures, and for a
    compact-array the list of its entries' values."""
    tag = data_tag(node)
    if tag is None:
        raise ValueError(f"{node.name} is not an A-XDR data node")
    if tag in EMPTY:
        return None
    if tag == BOOLEAN:
        return bool(node.value)
    if tag in (FLOAT32, FLOAT64):
        return struct.unpack(">f" if tag == FLOAT32 else ">d", node.value)[0]
    if tag in FIXED or tag == VISIBLE_STRING:
        return node.value
    if tag == OCTET_STRING:
        return octets_of(node)
    if tag == UTF8_STRING:
        return bytes(node.value).decode("utf-8", "replace")
    if tag == BIT_STRING:
        return node.value.partition("|")[0]
    if tag in (ARRAY, STRUCTURE):
        return [axdr_value(c) for c in node.children if c.kind != "view"]
    spec = _spec_of(node.children[0])
    return [_untagged_value(spec, c) for c in node.children[1].children[1:]]


def _spec_of(desc: Node) -> TypeSpec:
    if desc.kind == "u8":
        return (desc.value,)
    tag = desc.children[0].value
    if tag == ARRAY:
        return (ARRAY, desc.children[1].value, _spec_of(desc.children[2]))
    return (STRUCTURE, tuple(_spec_of(c) for c in desc.children[2:]))


def _untagged_value(spec: TypeSpec, node: Node) -> Any:
    tag = spec[0]
    if tag in EMPTY:
        return None
    if tag in FIXED:
        if tag == BOOLEAN:
            return bool(node.value)
        if tag in (FLOAT32, FLOAT64):
            return struct.unpack(">f" if tag == FLOAT32 else ">d", node.value)[0]
        return node.value
    if tag == OCTET_STRING:
        return node.value
    if tag == UTF8_STRING:
        return bytes(node.children[1].value).decode("utf-8", "replace")
    if tag in STRINGS:
        return node.children[1].value
    if tag == BIT_STRING:
        return _bits_text(node.children[1].value, node.children[0].value)
    if tag == ARRAY:
        return [_untagged_value(spec[2], c) for c in node.children]
    return [_untagged_value(m, c) for m, c in zip(spec[1], node.children)]


# -- building -----------------------------------------------------------------------------


def _tag_of(type_: str | int) -> int:
    if isinstance(type_, int):
        if type_ not in TYPE_NAMES:
            raise GbcsEncodeError(f"unknown A-XDR data type {type_}")
        return type_
    tag = TYPE_TAGS.get(type_)
    if tag is None:
        raise GbcsEncodeError(f"unknown A-XDR data type {type_!r}")
    return tag


def _fixed_raw(tag: int, value: Any, name: str) -> Any:
    """The leaf value of a fixed-size type from a Python value."""
    n, kind = FIXED[tag]
    if tag in (FLOAT32, FLOAT64):
        if not isinstance(value, (int, float)):
            raise GbcsEncodeError(f"{TYPE_NAMES[tag]} needs a number", name)
        try:
            return struct.pack(">f" if tag == FLOAT32 else ">d", value)
        except OverflowError:
            raise GbcsEncodeError(f"{value!r} does not fit {TYPE_NAMES[tag]}", name) from None
    if tag == DATE_TIME and isinstance(value, _dt.datetime):
        return datetime_bytes(value)
    if kind == "bytes":
        if not isinstance(value, (bytes, bytearray)) or len(value) != n:
            raise GbcsEncodeError(f"{TYPE_NAMES[tag]} needs {n} bytes", name)
        return bytes(value)
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, int):
        raise GbcsEncodeError(f"{TYPE_NAMES[tag]} needs an integer, got {value!r}", name)
    lo, hi = ((-(1 << (8 * n - 1)), (1 << (8 * n - 1)) - 1) if kind in _SIGNED_KINDS
              else (0, (1 << (8 * n)) - 1))
    if not lo <= value <= hi:
        raise GbcsEncodeError(f"{value} does not fit {TYPE_NAMES[tag]}", name)
    return value


def _octets(value: Any, name: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)):
        raise GbcsEncodeError("octet-string needs bytes", name)
    return bytes(value)


def _text(value: Any, name: str, tag: int) -> str:
    if not isinstance(value, str):
        raise GbcsEncodeError(f"{TYPE_NAMES[tag]} needs a str", name)
    return value


def _bit_count_and_bytes(value: Any, name: str) -> tuple[int, bytes]:
    """The bit count and octets of a bit-string value ('0'/'1' per bit, then any unused
    bits of the last octet after a '|')."""
    if not isinstance(value, str):
        raise GbcsEncodeError("bit-string needs a str of '0' and '1'", name)
    bits, _, unused = value.partition("|")
    n = len(bits)
    if bits.strip("01") or unused.strip("01") or (unused and len(unused) != -n % 8):
        raise GbcsEncodeError("bit-string needs a str of '0' and '1'", name)
    padded = bits + (unused or "0" * (-n % 8))
    raw = int(padded, 2).to_bytes(len(padded) // 8, "big") if padded else b""
    return n, raw


def _ber_len(name: str, value: int) -> Node:
    return Node(name, "ber_len", value, None, -1, 0)


# The builders' hot path (DCC transforms, device responses): integer types and enum
# from an int in range, octet-strings from bytes; anything else takes the general path.
_INT_RANGES: dict[int, tuple[str, int, int]] = {
    tag: (DATA_KINDS[tag], -(1 << (8 * n - 1)), (1 << (8 * n - 1)) - 1)
    if kind in _SIGNED_KINDS else (DATA_KINDS[tag], 0, (1 << (8 * n)) - 1)
    for tag, (n, kind) in FIXED.items() if kind != "bytes" and tag != BOOLEAN}


def data_node(name: str, value: Any, type_: str | int) -> Node:
    """A tagged data node from a Python value: ints for integer types and enum, bool,
    float, bytes (octet-string, and raw date/time/date-time; a datetime also does for
    date-time), str (visible/utf8 strings; '0'/'1' text for bit-string, with set unused
    bits after a '|' as the decoder shows them), a list of nodes for array and
    structure (renamed entry[i] / element[i] as the decoder names them), (type
    description, values) for compact-array, None for null-data and dont-care."""
    tag = TYPE_TAGS.get(type_) if type_.__class__ is str else None
    if tag is None:
        tag = _tag_of(type_)
    cls = value.__class__
    if cls is int:
        fast = _INT_RANGES.get(tag)
        if fast is not None and fast[1] <= value <= fast[2]:
            return Node(name, fast[0], value, None, -1, 0, str(value))
    elif cls is bytes and tag == OCTET_STRING:
        return Node(name, _OCTETS_KIND, value, None, -1, 0, octets_human(value))
    kind = DATA_KINDS[tag]
    if tag in FIXED:
        raw = _fixed_raw(tag, value, name)
        return Node(name, kind, raw, None, -1, 0, fixed_human(tag, raw))
    if tag == OCTET_STRING:
        raw = _octets(value, name)
        return Node(name, kind, raw, None, -1, 0, octets_human(raw))
    if tag == VISIBLE_STRING:
        text = _text(value, name, tag)
        return Node(name, kind, text, None, -1, 0, '"' + text + '"')
    if tag == UTF8_STRING:
        raw = _text(value, name, tag).encode("utf-8")
        return Node(name, kind, raw, None, -1, 0, '"' + raw.decode("utf-8", "replace") + '"')
    if tag == BIT_STRING:
        n, raw = _bit_count_and_bytes(value, name)
        bits = _bits_value(raw, n)
        return Node(name, kind, bits, None, -1, 0, bits or "(empty)")
    if tag in (ARRAY, STRUCTURE):
        if not isinstance(value, list) or not all(isinstance(v, Node) for v in value):
            raise GbcsEncodeError(f"{TYPE_NAMES[tag]} needs a list of data nodes", name)
        names = _ELEMENT_NAMES if tag == STRUCTURE else _ENTRY_NAMES
        label = "element" if tag == STRUCTURE else "entry"
        for i, item in enumerate(value):
            item.name = names[i] if i < 256 else f"{label}[{i}]"
        if tag == STRUCTURE and len(value) >= 2:
            _logical_name_pair(value[0], value[1])
        return Node(name, kind, None, list(value), -1, 0, f"{TYPE_NAMES[tag]} of {len(value)}")
    if tag == COMPACT_ARRAY:
        if not isinstance(value, tuple) or len(value) != 2:
            raise GbcsEncodeError("compact-array needs (type description, values)", name)
        return compact_array_node(name, value[0], value[1])
    return Node(name, kind, None, None, -1, 0, "null" if tag == NULL_DATA else "dont-care")


def array_node(name: str, items: list[Node]) -> Node:
    return data_node(name, items, ARRAY)


def structure_node(name: str, items: list[Node]) -> Node:
    return data_node(name, items, STRUCTURE)


def type_spec(arg: TypeArg) -> TypeSpec:
    """A type description from its builder form: a type name or tag,
    ("array", n, element) or ("structure", [member, ...])."""
    if isinstance(arg, tuple) and arg and arg[0] in ("array", ARRAY):
        if len(arg) != 3 or not isinstance(arg[1], int) or not 0 <= arg[1] <= 0xFFFF:
            raise GbcsEncodeError(f"bad array type description {arg!r}")
        return (ARRAY, arg[1], type_spec(arg[2]))
    if isinstance(arg, tuple) and arg and arg[0] in ("structure", STRUCTURE):
        if len(arg) != 2:
            raise GbcsEncodeError(f"bad structure type description {arg!r}")
        return (STRUCTURE, tuple(type_spec(m) for m in arg[1]))
    if isinstance(arg, tuple) and len(arg) == 1:
        return type_spec(arg[0])
    tag = _tag_of(arg)
    if tag in (ARRAY, STRUCTURE, COMPACT_ARRAY):
        raise GbcsEncodeError(f"{TYPE_NAMES[tag]} type description needs its members")
    return (tag,)


def type_description_node(name: str, spec: TypeSpec) -> Node:
    tag = spec[0]
    typ = Node("type", "u8", tag, None, -1, 1, TYPE_NAMES[tag])
    if tag == ARRAY:
        return Node(name, "seq", None,
                    [typ, Node("number_of_elements", "u16", spec[1], None, -1, 2),
                     type_description_node("element_type", spec[2])], -1, 0,
                    f"array of {spec[1]} {_spec_text(spec[2])}")
    if tag == STRUCTURE:
        members = [type_description_node(f"member[{i}]", m) for i, m in enumerate(spec[1])]
        return Node(name, "count", 1, [typ, _ber_len("count", len(members))] + members,
                    -1, 0, _spec_text(spec))
    return Node(name, "u8", tag, None, -1, 1, TYPE_NAMES[tag])


def compact_array_node(name: str, description: TypeArg, values: list) -> Node:
    """A compact-array of `values` (Python values, nested lists for arrays and
    structures) laid out by `description`."""
    spec = type_spec(description)
    if values and _min_size(spec) == 0:
        raise GbcsEncodeError("compact-array element type takes no bytes", name)
    entries = [_untagged_node(f"entry[{i}]", spec, v) for i, v in enumerate(values)]
    length = sum(len(encode(e)) for e in entries)
    contents = Node("contents", "lv", 0, [_ber_len("length", length)] + entries, -1, 0)
    return Node(name, DATA_KINDS[COMPACT_ARRAY], None,
                [type_description_node("type_description", spec), contents], -1, 0,
                f"compact-array of {len(entries)}")


def _untagged_node(name: str, spec: TypeSpec, value: Any) -> Node:
    tag = spec[0]
    if tag in FIXED:
        n, kind = FIXED[tag]
        raw = _fixed_raw(tag, value, name)
        return Node(name, kind, raw, None, -1, n, fixed_human(tag, raw))
    if tag == OCTET_STRING:
        raw = _octets(value, name)
        return Node(name, "ber_octets", raw, None, -1, 0, octets_human(raw))
    if tag == VISIBLE_STRING:
        text = _text(value, name, tag)
        return Node(name, "lv", 0, [_ber_len("length", len(text)),
                                    Node("value", "text", text, None, -1, len(text))],
                    -1, 0, '"' + text + '"')
    if tag == UTF8_STRING:
        raw = _text(value, name, tag).encode("utf-8")
        human = '"' + raw.decode("utf-8", "replace") + '"'
        return Node(name, "lv", 0, [_ber_len("length", len(raw)),
                                    Node("value", "bytes", raw, None, -1, len(raw), human)],
                    -1, 0, human)
    if tag == BIT_STRING:
        n, raw = _bit_count_and_bytes(value, name)
        return Node(name, "seq", None, [_ber_len("bit_count", n),
                                        Node("value", "bytes", raw, None, -1, len(raw))],
                    -1, 0, _bits_text(raw, n) or "(empty)")
    if tag == ARRAY:
        if not isinstance(value, list) or len(value) != spec[1]:
            raise GbcsEncodeError(f"array entry needs a list of {spec[1]} values", name)
        return Node(name, "seq", None,
                    [_untagged_node(f"entry[{i}]", spec[2], v) for i, v in enumerate(value)],
                    -1, 0, f"array of {spec[1]}")
    if tag == STRUCTURE:
        if not isinstance(value, list) or len(value) != len(spec[1]):
            raise GbcsEncodeError(f"structure entry needs a list of {len(spec[1])} values",
                                  name)
        return Node(name, "seq", None,
                    [_untagged_node(f"element[{i}]", m, v)
                     for i, (m, v) in enumerate(zip(spec[1], value))],
                    -1, 0, f"structure of {len(spec[1])}")
    return Node(name, "seq", None, [], -1, 0, "null")
