"""ZCL field codecs: one scalar or string field read into a `Node`, or built from a value.

ZCL is little-endian and dates count seconds from 2000-01-01 UTC. Each codec is a pair
(read, build) so a field written once in `gbcs.zcl_tables` both decodes and encodes;
attribute values carry their own data type id, decoded by `read_value`.
"""

from __future__ import annotations

import datetime as _dt
import struct
from decimal import Decimal
from typing import Any, Callable

from gbcs.errors import GbcsDecodeError, GbcsEncodeError
from gbcs.node import Node
from gbcs.reader import Reader

MAX_DEPTH = 16  # nesting of ZCL arrays and structures
_EPOCH = _dt.datetime(2000, 1, 1)
NOT_SPECIFIED_UTC = 0xFFFFFFFF
# GBCS monetary amounts on the HAN: the GSME's PriceTrailingDigit is 5 (RTDS GCS21b reads
# 0x50), so an amount counts 10^-5 of the currency unit, i.e. thousandths of a penny.
GBCS_MONEY_DIGITS = 5


# -- human forms ---------------------------------------------------------------------------


_UTC_TEXT: dict[int, str] = {}


def utc_text(seconds: int) -> str:
    """A ZCL UTCTime (seconds since 2000-01-01 00:00:00 UTC) as ISO text."""
    text = _UTC_TEXT.get(seconds)
    if text is None:
        if seconds == NOT_SPECIFIED_UTC:
            text = "not specified"
        else:
            text = (_EPOCH + _dt.timedelta(seconds=seconds)).isoformat() + "Z"
        if len(_UTC_TEXT) > 4096:  # a bounded memo: the same times recur across messages
            _UTC_TEXT.clear()
        _UTC_TEXT[seconds] = text
    return text


def utc_seconds(when: _dt.datetime) -> int:
    """The ZCL UTCTime of an aware or naive-UTC datetime."""
    if when.tzinfo is not None:
        when = when.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return int((when - _EPOCH).total_seconds())


def date_text(raw: bytes) -> str:
    """A ZCL Date (year-1900, month, day, weekday; 0xFF = any) as text."""
    year, month, day, weekday = raw
    parts = ("*" if year == 0xFF else str(1900 + year),
             "*" if month == 0xFF else f"{month:02d}",
             "*" if day == 0xFF else f"{day:02d}")
    text = "-".join(parts)
    return text if weekday == 0xFF else f"{text} weekday {weekday}"


def time_of_day_text(raw: bytes) -> str:
    hour, minute, second, hundredths = raw
    return f"{hour:02d}:{minute:02d}:{second:02d}.{hundredths:02d}"


def eui64_text(value: int) -> str:
    """An EUI-64 sent little-endian, shown most significant octet first."""
    return f"{value:016X}"


def scaled(value: int, digits: int) -> str:
    """`value` with `digits` decimal places."""
    return str(Decimal(value).scaleb(-digits))


def money_text(value: int, digits: int = GBCS_MONEY_DIGITS) -> str:
    """An amount of `digits` decimal places of a pound, shown in pence."""
    return f"{Decimal(value).scaleb(2 - digits)}p"


def hhmm_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _float_text(fmt: str) -> Callable[[int], str]:
    size = struct.calcsize(fmt)

    def text(value: int) -> str:
        return repr(struct.unpack(fmt, value.to_bytes(size, "little"))[0])
    return text


_BOOL_TEXT = {0: "false", 1: "true", 0xFF: "invalid"}


# -- codecs --------------------------------------------------------------------------------


Human = Callable[[Any], "str | None"]
FieldReader = Callable[..., Node]


class Codec:
    """How one field type is read from a `Reader` and built from a Python value.

    `reader(name, human)` makes a reader for one named field, `human` replacing the
    type's own human form (the fast path for table layouts); `read(r, name)` reads any
    field of the type."""

    __slots__ = ("token", "read", "build", "min_size", "reader")

    def __init__(self, token: str, read: Callable[[Reader, str], Node],
                 build: Callable[[str, Any], Node], min_size: int,
                 reader: Callable[[str, Human | None], FieldReader] | None = None) -> None:
        self.token = token
        self.read = read
        self.build = build
        self.min_size = min_size
        self.reader = reader or self._wrap

    def _wrap(self, name: str, human: Human | None) -> FieldReader:
        read = self.read

        def read_field(r: Reader, done: object = None) -> Node:
            node = read(r, name)
            if human is not None:
                node.human = human(node.value)
            return node
        return read_field


def _int_codec(token: str, size: int, signed: bool,
               human: Callable[[int], str] | None = None) -> Codec:
    kind = ("i" if signed else "u") + str(8 * size) + ("le" if size > 1 else "")
    from_bytes = int.from_bytes

    def reader(name: str, text: Human | None) -> FieldReader:
        text = text or human

        def read_field(r: Reader, done: object = None) -> Node:
            pos = r.pos
            end = pos + size
            if end > r.end:
                r.need(size, name)
            r.pos = end
            value = from_bytes(r.buf[pos:end], "little", signed=signed)
            return Node(name, kind, value, None, pos, size, text(value) if text else None)
        return read_field

    def read(r: Reader, name: str) -> Node:
        pos = r.pos
        end = pos + size
        if end > r.end:
            r.need(size, name)
        r.pos = end
        value = from_bytes(r.buf[pos:end], "little", signed=signed)
        return Node(name, kind, value, None, pos, size, human(value) if human else None)

    def build(name: str, value: Any) -> Node:
        if isinstance(value, (bytes, bytearray)) and token == "eui64":
            value = int.from_bytes(value, "big")
        if not isinstance(value, int):
            raise GbcsEncodeError(f"{token} needs an integer, got {value!r}", name)
        return Node(name, kind, value, None, -1, size, human(value) if human else None)
    return Codec(token, read, build, size, reader)


def _hex_text(size: int) -> Callable[[int], str]:
    width = 2 * size
    return lambda value: f"0x{value:0{width}X}"


def _fixed_codec(token: str, size: int, human: Callable[[bytes], str] | None = None) -> Codec:
    def read(r: Reader, name: str) -> Node:
        pos = r.pos
        value = r.take(size, name)
        return Node(name, "bytes", value, None, pos, size, human(value) if human else None)

    def build(name: str, value: Any) -> Node:
        if not isinstance(value, (bytes, bytearray)) or len(value) != size:
            raise GbcsEncodeError(f"{token} needs {size} bytes, got {value!r}", name)
        return Node(name, "bytes", bytes(value), None, -1, size,
                    human(bytes(value)) if human else None)
    return Codec(token, read, build, size)


def _string_codec(token: str, width: int, text: bool) -> Codec:
    """A ZCL string: length (1 or 2 octets, all ones = invalid, no data) then octets."""
    length_kind = "u8" if width == 1 else "u16le"
    invalid = (1 << (8 * width)) - 1
    value_kind = "text" if text else "bytes"

    def read(r: Reader, name: str) -> Node:
        start = r.pos
        length = r.uint(width, name, "little")
        length_node = Node("length", length_kind, length, None, start, width)
        if length == invalid:
            return Node(name, "seq", None, [length_node], start, width, "invalid")
        pos = r.pos
        raw = r.take(length, name)
        value: Any = raw.decode("latin-1") if text else raw
        value_node = Node("value", value_kind, value, None, pos, length)
        return Node(name, "lv", 0, [length_node, value_node], start, width + length)

    def build(name: str, value: Any) -> Node:
        if text and isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("latin-1")
        elif not text and isinstance(value, str):
            value = value.encode("latin-1")
        if not isinstance(value, (str, bytes, bytearray)):
            raise GbcsEncodeError(f"{token} needs text or bytes, got {value!r}", name)
        if len(value) >= invalid:
            raise GbcsEncodeError(f"{token} longer than {invalid - 1}", name)
        return Node(name, "lv", 0, [Node("length", length_kind, len(value), None, -1, width),
                                    Node("value", value_kind, value, None, -1, len(value))])
    return Codec(token, read, build, width)


def _rest_codec() -> Codec:
    def read(r: Reader, name: str) -> Node:
        pos = r.pos
        value = r.rest()
        return Node(name, "bytes", value, None, pos, len(value))

    def build(name: str, value: Any) -> Node:
        if not isinstance(value, (bytes, bytearray)):
            raise GbcsEncodeError(f"bytes needed, got {value!r}", name)
        return Node(name, "bytes", bytes(value), None, -1, len(value))
    return Codec("bytes", read, build, 0)


def _build_codecs() -> dict[str, Codec]:
    codecs: dict[str, Codec] = {}
    for n in range(1, 9):
        bits = 8 * n
        codecs[f"u{bits}"] = _int_codec(f"u{bits}", n, False)
        codecs[f"i{bits}"] = _int_codec(f"i{bits}", n, True)
        codecs[f"b{bits}"] = _int_codec(f"b{bits}", n, False, _hex_text(n))
        codecs[f"data{bits}"] = _int_codec(f"data{bits}", n, False, _hex_text(n))
    for n in (1, 2):
        codecs[f"e{8 * n}"] = _int_codec(f"e{8 * n}", n, False)
    codecs["bool"] = _int_codec("bool", 1, False, lambda v: _BOOL_TEXT.get(v, "invalid"))
    codecs["utc"] = _int_codec("utc", 4, False, utc_text)
    codecs["eui64"] = _int_codec("eui64", 8, False, eui64_text)
    codecs["clusterid"] = _int_codec("clusterid", 2, False, _hex_text(2))
    codecs["attrid"] = _int_codec("attrid", 2, False, _hex_text(2))
    codecs["bacnet"] = _int_codec("bacnet", 4, False)
    codecs["semi"] = _int_codec("semi", 2, False, _float_text("<e"))
    codecs["single"] = _int_codec("single", 4, False, _float_text("<f"))
    codecs["double"] = _int_codec("double", 8, False, _float_text("<d"))
    codecs["date"] = _fixed_codec("date", 4, date_text)
    codecs["tod"] = _fixed_codec("tod", 4, time_of_day_text)
    codecs["key128"] = _fixed_codec("key128", 16)
    codecs["nodata"] = _fixed_codec("nodata", 0)
    codecs["octstr"] = _string_codec("octstr", 1, False)
    codecs["charstr"] = _string_codec("charstr", 1, True)
    codecs["loctstr"] = _string_codec("loctstr", 2, False)
    codecs["lcharstr"] = _string_codec("lcharstr", 2, True)
    codecs["bytes"] = _rest_codec()
    return codecs


CODECS = _build_codecs()


def codec(token: str) -> Codec:
    """The codec of a field type token; ``fixedN`` makes an N-octet codec."""
    found = CODECS.get(token)
    if found is None:
        if not token.startswith("fixed"):
            raise KeyError(f"unknown ZCL field type {token!r}")
        found = CODECS[token] = _fixed_codec(token, int(token[5:]))
    return found


# -- ZCL data types (attribute values carry their type id) ---------------------------------

# type id -> (ZCL name, codec token); arrays, sets, bags and structures are composite.
DATA_TYPES: dict[int, tuple[str, str]] = {0x00: ("nodata", "nodata")}
for _n in range(1, 9):
    DATA_TYPES[0x07 + _n] = (f"data{8 * _n}", f"data{8 * _n}")
    DATA_TYPES[0x17 + _n] = (f"map{8 * _n}", f"b{8 * _n}")
    DATA_TYPES[0x1F + _n] = (f"uint{8 * _n}", f"u{8 * _n}")
    DATA_TYPES[0x27 + _n] = (f"int{8 * _n}", f"i{8 * _n}")
DATA_TYPES.update({
    0x10: ("bool", "bool"), 0x30: ("enum8", "e8"), 0x31: ("enum16", "e16"),
    0x38: ("semi", "semi"), 0x39: ("single", "single"), 0x3A: ("double", "double"),
    0x41: ("octstr", "octstr"), 0x42: ("string", "charstr"),
    0x43: ("octstr16", "loctstr"), 0x44: ("string16", "lcharstr"),
    0x48: ("array", ""), 0x4C: ("struct", ""), 0x50: ("set", ""), 0x51: ("bag", ""),
    0xE0: ("ToD", "tod"), 0xE1: ("date", "date"), 0xE2: ("UTC", "utc"),
    0xE8: ("clusterId", "clusterid"), 0xE9: ("attribId", "attrid"),
    0xEA: ("bacOID", "bacnet"), 0xF0: ("EUI64", "eui64"), 0xF1: ("key128", "key128"),
})
ARRAY_TYPES = frozenset((0x48, 0x50, 0x51))
NODATA = 0x00
STRUCT_TYPE = 0x4C
# Types whose reporting configuration carries a reportable change (ZCL "analog").
ANALOG_TYPES = frozenset(list(range(0x20, 0x30)) + [0x38, 0x39, 0x3A, 0xE0, 0xE1, 0xE2])
_DATA_TYPE_NAMES = {type_id: name for type_id, (name, _) in DATA_TYPES.items()}


def type_name(type_id: int) -> str:
    return _DATA_TYPE_NAMES.get(type_id, f"unknown 0x{type_id:02X}")


def read_type_id(r: Reader, name: str = "data_type") -> Node:
    pos = r.pos
    value = r.u8(name)
    if value not in DATA_TYPES:
        raise GbcsDecodeError(f"unknown ZCL data type 0x{value:02X}", pos, name)
    return Node(name, "u8", value, None, pos, 1, _DATA_TYPE_NAMES[value])


def read_value(r: Reader, type_id: int, name: str = "value", depth: int = 0) -> Node:
    """A value of ZCL data type `type_id` (checked by the caller to be known)."""
    token = DATA_TYPES[type_id][1]
    if token:
        return CODECS[token].read(r, name)
    if depth >= MAX_DEPTH:
        raise r.fail("ZCL values nested too deeply", name)
    if type_id == STRUCT_TYPE:
        return _read_struct(r, name, depth)
    return _read_array(r, name, depth)


def _read_array(r: Reader, name: str, depth: int) -> Node:
    start = r.pos
    element_type = read_type_id(r, "element_type")
    if element_type.value == NODATA:
        raise r.fail("array of no-data elements", "element_type", element_type.offset)
    pos = r.pos
    count = r.uint(2, name, "little")
    count_node = Node("number_of_elements", "u16le", count, None, pos, 2)
    if count == 0xFFFF:
        return Node(name, "seq", None, [element_type, count_node], start, 3, "invalid")
    if count > r.remaining:
        raise r.fail(f"{count} elements cannot fit in {r.remaining} bytes", name)
    children = [element_type, count_node]
    for _ in range(count):
        children.append(read_value(r, element_type.value, "element", depth + 1))
    return Node(name, "count", 1, children, start, r.pos - start)


def _read_struct(r: Reader, name: str, depth: int) -> Node:
    start = r.pos
    count = r.uint(2, name, "little")
    count_node = Node("number_of_elements", "u16le", count, None, start, 2)
    if count == 0xFFFF:
        return Node(name, "seq", None, [count_node], start, 2, "invalid")
    if count > r.remaining:
        raise r.fail(f"{count} elements cannot fit in {r.remaining} bytes", name)
    children = [count_node]
    for _ in range(count):
        at = r.pos
        element_type = read_type_id(r)
        value = read_value(r, element_type.value, "value", depth + 1)
        children.append(Node("element", "seq", None, [element_type, value], at, r.pos - at))
    return Node(name, "count", 0, children, start, r.pos - start)


def build_type_id(type_id: int, name: str = "data_type") -> Node:
    if type_id not in DATA_TYPES:
        raise GbcsEncodeError(f"unknown ZCL data type 0x{type_id:02X}", name)
    return Node(name, "u8", type_id, None, -1, 1, _DATA_TYPE_NAMES[type_id])


def build_value(type_id: int, value: Any, name: str = "value") -> Node:
    """A value of ZCL data type `type_id`: arrays, sets and bags take
    ``(element_type, [values])``, structures ``[(type_id, value), ...]``."""
    if type_id not in DATA_TYPES:
        raise GbcsEncodeError(f"unknown ZCL data type 0x{type_id:02X}", name)
    token = DATA_TYPES[type_id][1]
    if token:
        return CODECS[token].build(name, value)
    if type_id == STRUCT_TYPE:
        elements = [Node("element", "seq", None, [build_type_id(t), build_value(t, v)])
                    for t, v in value]
        return Node(name, "count", 0, [Node("number_of_elements", "u16le", 0)] + elements)
    element_type, items = value
    if element_type == NODATA:
        raise GbcsEncodeError("array of no-data elements", name)
    return Node(name, "count", 1, [build_type_id(element_type, "element_type"),
                                   Node("number_of_elements", "u16le", 0)]
                + [build_value(element_type, item, "element") for item in items])
