"""A-XDR encoding of DLMS COSEM `Data` (Green Book, IEC 62056-5-3): every type DLMS
defines, as `Node` trees that `gbcs.node.encode` writes back byte for byte.

Tree shapes (the Data CHOICE tag is always a ``u8`` child named ``type``):

- fixed-size types: ``seq [type, value]`` with an integer leaf (``u8`` .. ``i64``) or,
  for floats, dates and times, a ``bytes`` leaf;
- octet-string: ``seq [type, value]`` with a ``ber_octets`` leaf (A-XDR lengths are
  BER lengths); visible-string, utf8-string: ``lv [type, length, value]``;
- bit-string: ``seq [type, bit_count, value]`` (the count is in bits, so it is kept);
- array, structure: ``count [type, count, element[0], ...]``;
- compact-array: ``seq [type, type_description, contents]`` where ``contents`` is an
  ``lv`` of untagged elements laid out by the type description;
- null-data, dont-care: ``seq [type]``.

The same module builds such trees from Python values (`data_node`, `compact_array_node`)
and reads them back (`axdr_value`), so builders, decoder and hypothesis strategies agree.
Decoding is total: depth is bounded, counts are never trusted for allocation, and any
malformed input raises `GbcsDecodeError`.
"""

from __future__ import annotations

import datetime as _dt
import struct
from functools import lru_cache
from typing import Any, Union

from gbcs.cosem import DATETIME_LEN, datetime_bytes, format_datetime
from gbcs.errors import GbcsDecodeError, GbcsEncodeError
from gbcs.node import Node, encode
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


def octets_human(raw: bytes) -> str:
    """An octet-string as a lab engineer reads it: a named OBIS code, a date-time,
    quoted text or hex."""
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
# tag -> (size, leaf kind, signed, raw bytes value)
_FIXED_INFO = {tag: (n, kind, kind in _SIGNED_KINDS, kind == "bytes")
               for tag, (n, kind) in FIXED.items()}


def decode_axdr(r: Reader, name: str = "data", depth: int = 0) -> Node:
    """One tagged A-XDR `Data` value (6-octet octet-strings that are logical names are
    shown as OBIS codes: those with a known name, and those beside a class id or a
    script selector in a structure)."""
    if type(r.buf) is not bytes:  # values become dict keys and cache keys
        r.buf = bytes(r.buf)
    return _decode_data(r, name, depth)


def _decode_data(r: Reader, name: str, depth: int) -> Node:
    buf, start, end = r.buf, r.pos, r.end
    if start >= end:
        raise GbcsDecodeError(f"truncated: {name} missing", start, name)
    tag = buf[start]
    pos = start + 1
    typ = Node("type", "u8", tag, None, start, 1, TYPE_NAMES.get(tag))
    info = _FIXED_INFO.get(tag)
    if info is not None:
        n, kind, signed, as_bytes = info
        stop = pos + n
        if stop > end:
            raise GbcsDecodeError(f"truncated: {name} needs {n} bytes, {end - pos} left",
                                  pos, name)
        r.pos = stop
        if as_bytes:
            value = buf[pos:stop]
            human = fixed_human(tag, value)
            leaf = Node("value", kind, value, None, pos, n, human)
        else:
            value = _int_at(buf, pos, n, signed)
            human = str(value) if tag != BOOLEAN else ("true" if value else "false")
            leaf = Node("value", kind, value, None, pos, n)
        return Node(name, "seq", None, [typ, leaf], start, n + 1, human)
    if tag == ARRAY or tag == STRUCTURE:
        if depth >= MAX_DEPTH:
            raise GbcsDecodeError(f"data nested deeper than {MAX_DEPTH} levels", start, name)
        if pos < end and buf[pos] < 0x80:
            count = Node("count", "ber_len", buf[pos], None, pos, 1)
            r.pos = pos + 1
        else:
            r.pos = pos
            count = r.leaf_ber_len("count")
        children = [typ, count]
        names = _ELEMENT_NAMES if tag == STRUCTURE else _ENTRY_NAMES
        label = "element" if tag == STRUCTURE else "entry"
        depth += 1
        append = children.append
        p = r.pos
        try:
            for i in range(count.value):
                item = names[i] if i < 256 else f"{label}[{i}]"
                # Hot path: integers and enums inline, everything else recursively.
                t = buf[p] if p < end else -1
                info = _FIXED_INFO.get(t)
                if info is None or info[3]:
                    r.pos = p
                    append(_decode_data(r, item, depth))
                    p = r.pos
                    continue
                n = info[0]
                q = p + 1 + n
                if q > end:
                    raise GbcsDecodeError(f"truncated: {item} needs {n} bytes, "
                                          f"{end - p - 1} left", p + 1, item)
                if n == 1:
                    v = buf[p + 1]
                    if v > 127 and info[2]:
                        v -= 256
                elif n == 2:
                    v = buf[p + 1] << 8 | buf[p + 2]
                    if v > 32767 and info[2]:
                        v -= 65536
                else:
                    v = int.from_bytes(buf[p + 1:q], "big", signed=info[2])
                append(Node(item, "seq", None,
                            [Node("type", "u8", t, None, p, 1, TYPE_NAMES[t]),
                             Node("value", info[1], v, None, p + 1, n)], p, n + 1,
                            str(v) if t != BOOLEAN else ("true" if v else "false")))
                p = q
        except GbcsDecodeError as err:
            raise err.within(name) from None
        r.pos = p
        n = count.value
        if tag == STRUCTURE:
            if n >= 2:
                _logical_name_pair(children[2], children[3])
            human = _STRUCTURE_HUMAN[n] if n < 256 else f"structure of {n}"
        else:
            human = _ARRAY_HUMAN[n] if n < 256 else f"array of {n}"
        return Node(name, "count", 1, children, start, p - start, human)
    if tag in STRINGS:
        if pos < end and buf[pos] < 0x80:
            length = Node("length", "ber_len", buf[pos], None, pos, 1)
            pos += 1
        else:
            r.pos = pos
            length = r.leaf_ber_len()
            pos = r.pos
        stop = pos + length.value
        if stop > end:
            raise GbcsDecodeError(f"truncated: {name} needs {length.value} bytes, "
                                  f"{end - pos} left", pos, name)
        r.pos = stop
        raw = buf[pos:stop]
        n = stop - pos
        if tag == OCTET_STRING:
            if n == DATETIME_LEN and looks_like_date_time(raw):
                human = format_date_time(raw)
                leaf = Node("value", "ber_octets", raw, None, start + 1, stop - start - 1, human)
            else:
                human = octets_human(raw)
                leaf = Node("value", "ber_octets", raw, None, start + 1, stop - start - 1)
            return Node(name, "seq", None, [typ, leaf], start, stop - start, human)
        if tag == VISIBLE_STRING:
            text = raw.decode("latin-1")
            leaf = Node("value", "text", text, None, pos, n)
            human = '"' + text + '"'
        else:
            human = '"' + raw.decode("utf-8", "replace") + '"'
            leaf = Node("value", "bytes", raw, None, pos, n, human)
        return Node(name, "lv", 1, [typ, length, leaf], start, stop - start, human)
    if tag == BIT_STRING:
        r.pos = pos
        bits = r.leaf_ber_len("bit_count")
        pos = r.pos
        raw = r.take((bits.value + 7) // 8, name)
        text = _bits_text(raw, bits.value)
        leaf = Node("value", "bytes", raw, None, pos, len(raw), text or None)
        return Node(name, "seq", None, [typ, bits, leaf], start, r.pos - start,
                    text or "(empty)")
    if tag == COMPACT_ARRAY:
        if depth >= MAX_DEPTH:
            raise GbcsDecodeError(f"data nested deeper than {MAX_DEPTH} levels", start, name)
        r.pos = pos
        try:
            desc_node, spec = decode_type_description(r, "type_description", depth + 1)
            contents = _compact_contents(r, spec, depth + 1)
        except GbcsDecodeError as err:
            raise err.within(name) from None
        return Node(name, "seq", None, [typ, desc_node, contents], start, r.pos - start,
                    f"compact-array of {len(contents.children) - 1}")
    if tag in EMPTY:
        r.pos = pos
        return Node(name, "seq", None, [typ], start, 1, "null" if tag == NULL_DATA
                    else "dont-care")
    raise GbcsDecodeError(f"unknown A-XDR data type {tag}", start, name)


def _int_at(buf: bytes, pos: int, n: int, signed: bool) -> int:
    if n == 1:
        v = buf[pos]
        return v - 256 if signed and v > 127 else v
    return int.from_bytes(buf[pos:pos + n], "big", signed=signed)


def _logical_name_pair(first: Node, second: Node) -> None:
    """(class id, logical name) as in capture objects and commodity references, or
    (logical name, script selector) as in scripts: show the logical name as OBIS."""
    t1, t2 = first.children[0].value, second.children[0].value
    if t1 == LONG_UNSIGNED and t2 == OCTET_STRING:
        raw = octets_of(second)
        if raw is not None and len(raw) == 6:
            class_id = first.children[1].value
            first.human = f"{class_id} ({class_name(class_id)})"
            second.human = describe_obis(raw)
    elif t1 == OCTET_STRING and t2 == LONG_UNSIGNED:
        raw = octets_of(first)
        if raw is not None and len(raw) == 6:
            first.human = describe_obis(raw)


def octets_of(node: Node) -> bytes | None:
    """The octets of a tagged octet-string node (None if it is not one, or if its value
    has been laid out into sub-fields)."""
    children = node.children
    if not children or children[0].value != OCTET_STRING or children[0].name != "type":
        return None
    leaf = children[1] if len(children) == 2 else children[2]
    return leaf.value if type(leaf.value) is bytes else None


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
    children = [length]
    i = 0
    while body.pos < body.end:
        item = f"entry[{i}]"
        try:
            children.append(_untagged(body, spec, item, depth + 1))
        except GbcsDecodeError as err:
            raise err.within("contents") from None
        i += 1
    return Node("contents", "lv", 0, children, start, r.pos - start)


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
    children = node.children
    if children and children[0].name == "type" and children[0].kind == "u8":
        return children[0].value
    return None


def axdr_value(node: Node) -> Any:
    """The Python value of a tagged data node: None, bool, int, float, bytes, str (text
    and bit-strings as '0'/'1'), a list for arrays and structures, and for a
    compact-array the list of its entries' values."""
    tag = data_tag(node)
    if tag is None:
        raise ValueError(f"{node.name} is not an A-XDR data node")
    return _value_of(tag, node.children[1:], node)


def _value_of(tag: int, rest: list[Node], node: Node) -> Any:
    if tag in EMPTY:
        return None
    if tag in FIXED:
        leaf = rest[0]
        if tag == BOOLEAN:
            return bool(leaf.value)
        if tag in (FLOAT32, FLOAT64):
            return struct.unpack(">f" if tag == FLOAT32 else ">d", leaf.value)[0]
        return leaf.value
    if tag == OCTET_STRING:
        return octets_of(node)
    if tag == UTF8_STRING:
        return bytes(rest[1].value).decode("utf-8", "replace")
    if tag in STRINGS:
        return rest[1].value
    if tag == BIT_STRING:
        return _bits_text(rest[1].value, rest[0].value)
    if tag in (ARRAY, STRUCTURE):
        return [axdr_value(c) for c in rest[1:] if c.kind != "view"]
    if tag == COMPACT_ARRAY:
        spec = _spec_of(rest[0])
        return [_untagged_value(spec, c) for c in rest[1].children[1:]]
    raise ValueError(f"{node.name}: unknown A-XDR type {tag}")


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


def _string_leaf(tag: int, value: Any, name: str) -> tuple[Node, str]:
    if tag == VISIBLE_STRING:
        if not isinstance(value, str):
            raise GbcsEncodeError("visible-string needs a str", name)
        return Node("value", "text", value, None, -1, len(value)), '"' + value + '"'
    if tag == UTF8_STRING:
        if not isinstance(value, str):
            raise GbcsEncodeError("utf8-string needs a str", name)
        raw = value.encode("utf-8")
        human = '"' + raw.decode("utf-8", "replace") + '"'
        return Node("value", "bytes", raw, None, -1, len(raw), human), human
    if not isinstance(value, (bytes, bytearray)):
        raise GbcsEncodeError("octet-string needs bytes", name)
    raw = bytes(value)
    return Node("value", "ber_octets", raw, None, -1, 0), octets_human(raw)


def _bit_count_and_bytes(value: Any, name: str) -> tuple[int, bytes]:
    if not isinstance(value, str) or any(c not in "01" for c in value):
        raise GbcsEncodeError("bit-string needs a str of '0' and '1'", name)
    n = len(value)
    padded = value + "0" * (-n % 8)
    raw = int(padded, 2).to_bytes(len(padded) // 8, "big") if padded else b""
    return n, raw


def _ber_len(name: str, value: int) -> Node:
    return Node(name, "ber_len", value, None, -1, 0)


def data_node(name: str, value: Any, type_: str | int) -> Node:
    """A tagged data node from a Python value: ints for integer types and enum, bool,
    float, bytes (octet-string, and raw date/time/date-time; a datetime also does for
    date-time), str (visible/utf8 strings; '0'/'1' text for bit-string), a list of
    nodes for array and structure (renamed entry[i] / element[i] as the decoder names
    them), (type description, values) for compact-array, None for null-data and
    dont-care."""
    tag = _tag_of(type_)
    typ = Node("type", "u8", tag, None, -1, 1, TYPE_NAMES[tag])
    if tag in FIXED:
        n, kind = FIXED[tag]
        raw = _fixed_raw(tag, value, name)
        human = fixed_human(tag, raw)
        return Node(name, "seq", None,
                    [typ, Node("value", kind, raw, None, -1, n,
                               human if kind == "bytes" else None)], -1, 0, human)
    if tag in STRINGS:
        leaf, human = _string_leaf(tag, value, name)
        if tag == OCTET_STRING:
            if len(leaf.value) == DATETIME_LEN and looks_like_date_time(leaf.value):
                leaf.human = human
            return Node(name, "seq", None, [typ, leaf], -1, 0, human)
        return Node(name, "lv", 1, [typ, _ber_len("length", len(leaf.value)), leaf], -1, 0,
                    human)
    if tag in (ARRAY, STRUCTURE):
        if not isinstance(value, list) or not all(isinstance(v, Node) for v in value):
            raise GbcsEncodeError(f"{TYPE_NAMES[tag]} needs a list of data nodes", name)
        label = "element" if tag == STRUCTURE else "entry"
        for i, item in enumerate(value):
            item.name = f"{label}[{i}]"
        if tag == STRUCTURE and len(value) >= 2 and data_tag(value[0]) is not None \
                and data_tag(value[1]) is not None:
            _logical_name_pair(value[0], value[1])
        return Node(name, "count", 1, [typ, _ber_len("count", len(value))] + value, -1, 0,
                    f"{TYPE_NAMES[tag]} of {len(value)}")
    if tag == BIT_STRING:
        n, raw = _bit_count_and_bytes(value, name)
        text = _bits_text(raw, n)
        return Node(name, "seq", None,
                    [typ, _ber_len("bit_count", n),
                     Node("value", "bytes", raw, None, -1, len(raw), text or None)],
                    -1, 0, text or "(empty)")
    if tag == COMPACT_ARRAY:
        if not isinstance(value, tuple) or len(value) != 2:
            raise GbcsEncodeError("compact-array needs (type description, values)", name)
        return compact_array_node(name, value[0], value[1])
    return Node(name, "seq", None, [typ], -1, 0, "null" if tag == NULL_DATA else "dont-care")


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
    typ = Node("type", "u8", COMPACT_ARRAY, None, -1, 1, TYPE_NAMES[COMPACT_ARRAY])
    length = sum(len(encode(e)) for e in entries)
    contents = Node("contents", "lv", 0, [_ber_len("length", length)] + entries, -1, 0)
    return Node(name, "seq", None, [typ, type_description_node("type_description", spec),
                                    contents], -1, 0, f"compact-array of {len(entries)}")


def _untagged_node(name: str, spec: TypeSpec, value: Any) -> Node:
    tag = spec[0]
    if tag in FIXED:
        n, kind = FIXED[tag]
        raw = _fixed_raw(tag, value, name)
        return Node(name, kind, raw, None, -1, n, fixed_human(tag, raw))
    if tag in STRINGS:
        leaf, human = _string_leaf(tag, value, name)
        if tag == OCTET_STRING:
            leaf.name, leaf.human = name, human
            return leaf
        return Node(name, "lv", 0, [_ber_len("length", len(leaf.value)), leaf], -1, 0, human)
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
