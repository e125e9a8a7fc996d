"""Mutations of a message: byte-level, and structure-aware through its decoded tree.

Byte-level mutators know nothing of GBCS (flip, insert, delete, splice, truncate,
extend ...). Structure-aware ones pick a field of the decoded `Node` tree by what it is
(a length, a counter, a code, a date, a nested payload, any other value) and either patch
its bytes where they are (lengths: the encoder would recompute them) or edit the tree and
re-encode it, so every other length stays consistent and the edit reaches deep decoders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from random import Random
from typing import Callable, Sequence

from gbcs.errors import GbcsError
from gbcs.node import Node, ber_length_bytes, encode
from gbcs.usecases import USE_CASES

INTERESTING_BYTES = (0x00, 0x01, 0x02, 0x08, 0x09, 0x0C, 0x7F, 0x80, 0x81, 0x82, 0x84, 0xDD,
                     0xDF, 0xE0, 0xFE, 0xFF)

# -- byte level -----------------------------------------------------------------------------


def _pos(data: bytes, rng: Random, end: bool = False) -> int:
    return rng.randrange(len(data) + 1) if end else rng.randrange(len(data))


def _noise(rng: Random, n: int) -> bytes:
    return bytes(rng.choice(INTERESTING_BYTES) if rng.random() < 0.3 else rng.randrange(256)
                 for _ in range(n))


def flip(data: bytes, rng: Random, pool: Sequence[bytes]) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        out[_pos(data, rng)] ^= 1 << rng.randrange(8)
    return bytes(out)


def set_byte(data: bytes, rng: Random, pool: Sequence[bytes]) -> bytes:
    at = _pos(data, rng)
    return data[:at] + bytes((rng.choice(INTERESTING_BYTES),)) + data[at + 1:]


def arithmetic(data: bytes, rng: Random, pool: Sequence[bytes]) -> bytes:
    at = _pos(data, rng)
    width = min(rng.choice((1, 2, 4, 8)), len(data) - at)
    value = int.from_bytes(data[at:at + width], "big") + rng.choice((-2, -1, 1, 2, 16, -16))
    return data[:at] + (value % (1 << 8 * width)).to_bytes(width, "big") + data[at + width:]


def insert(data: bytes, rng: Random, pool: Sequence[bytes]) -> bytes:
    at = _pos(data, rng, end=True)
    return data[:at] + _noise(rng, rng.choice((1, 1, 2, 4, 8, 16))) + data[at:]


def delete(data: bytes, rng: Random, pool: Sequence[bytes]) -> bytes:
    at = _pos(data, rng)
    return data[:at] + data[at + rng.choice((1, 1, 2, 4, 8, 16)):]


def duplicate(data: bytes, rng: Random, pool: Sequence[bytes]) -> bytes:
    at = _pos(data, rng)
    end = min(len(data), at + rng.randint(1, 32))
    return data[:end] + data[at:end] + data[end:]


def splice(data: bytes, rng: Random, pool: Sequence[bytes]) -> bytes:
    other = rng.choice(pool) if pool else data
    return data[:_pos(data, rng, end=True)] + other[_pos(other, rng, end=True):]


def truncate(data: bytes, rng: Random, pool: Sequence[bytes]) -> bytes:
    return data[:_pos(data, rng)]


def extend(data: bytes, rng: Random, pool: Sequence[bytes]) -> bytes:
    if data and rng.random() < 0.5:
        return data + data[_pos(data, rng):]
    return data + _noise(rng, rng.choice((1, 2, 12, 64, 300)))


BYTE_MUTATORS = (flip, set_byte, arithmetic, insert, delete, duplicate, splice, truncate,
                 extend)


def byte_level(data: bytes, rng: Random, pool: Sequence[bytes]) -> bytes:
    """One byte-level mutation (an empty input can only grow)."""
    if not data:
        return extend(data, rng, pool)
    return rng.choice(BYTE_MUTATORS)(data, rng, pool)


# -- structure aware ------------------------------------------------------------------------

_COUNTER = re.compile(r"counter|sequence|invoke_id|index|block_number")
_DATE = re.compile(r"date|time|valid|not_before|not_after")
_CODE = re.compile(r"code|cra|tag|_id$|^id$|type|choice|result|status|control|command|"
                   r"cluster|attribute|method|profile|role|version|usage|algorithm|flag")
_LENGTHS = (0, 1, 2, 0x7F, 0x80, 0x81, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF,
            0xFFFFFFFF)
_MESSAGE_CODES = sorted(USE_CASES)
# COSEM date-times (12 bytes) at and past the edges of every field.
_DATES = (bytes(12), b"\xFF" * 12,
          bytes.fromhex("FFFFFFFFFFFFFFFFFF800000"), bytes.fromhex("07EA0D01FF000000FF000000"),
          bytes.fromhex("07EA0120FF000000FF000000"), bytes.fromhex("07EA0101FF183C3CFF000000"),
          bytes.fromhex("07EA0101FF000000FF7FFFFF"), bytes.fromhex("07EA02FEFF000000FF800000"),
          bytes.fromhex("07EAFD01FF000000FF000000"), bytes.fromhex("0000000000000000FF000000"))

@dataclass(slots=True)
class Subject:
    """A message to mutate: its bytes, its decoded tree (edited in place), maybe another
    message's tree to borrow values and subtrees from, and how the tree is written
    (a target may need more than `encode`, e.g. to write decrypted views back)."""

    raw: bytes
    tree: Node
    donor: Node | None = None
    encoder: Callable[[Node], bytes] = encode

    def write(self) -> bytes:
        return self.encoder(self.tree)


Struct = Callable[[Subject, Random], "bytes | None"]


def structural(subject: Subject, rng: Random) -> bytes | None:
    """One field-level mutation of the subject's message, or None when the chosen field
    is absent or the edit cannot be encoded."""
    for _ in range(3):
        mutator = rng.choice(STRUCT_MUTATORS)
        try:
            out = mutator(subject, rng)
        except (GbcsError, ValueError, TypeError, OverflowError, IndexError, RecursionError):
            out = None  # an edit the model cannot carry: try another
        if out is not None and out != subject.raw:
            return out
    return None


def _int_leaves(tree: Node) -> list[Node]:
    return [n for n in tree.walk()
            if n.children is None and isinstance(n.value, int) and not isinstance(n.value, bool)
            and n.kind != "ber_len"]


def _width(node: Node) -> int:
    """Value bits a leaf kind can hold (u16 -> 16, i8le -> 8; else the value's own)."""
    match = re.search(r"(\d+)", node.kind)
    return int(match.group(1)) if match and node.kind[0] in "ui" else max(
        8, int(node.value).bit_length() + 1)


def _int_candidates(node: Node, rng: Random, donor: Node | None) -> list[int]:
    v, bits = int(node.value), _width(node)
    top = 1 << bits
    signed = node.kind.startswith("i")
    values = [0, 1, v - 1, v + 1, top - 1, top - 2, top >> 1, (top >> 1) - 1,
              v ^ (1 << rng.randrange(bits)), rng.randrange(top)]
    if signed:
        values += [-1, -(top >> 1)]
    if donor is not None:
        values += [n.value for n in _int_leaves(donor) if n.name == node.name]
    return [x for x in values if x != v and (-(top >> 1) <= x < top >> 1 if signed
                                             else 0 <= x < top)]


def _set_int(subject: Subject, rng: Random, pattern: re.Pattern | None) -> bytes | None:
    leaves = [n for n in _int_leaves(subject.tree) if pattern is None or pattern.search(n.name)]
    if not leaves:
        return None
    node = rng.choice(leaves)
    if node.name == "message_code" and rng.random() < 0.5:
        node.value = rng.choice(_MESSAGE_CODES)  # another real code: a use-case mismatch
    else:
        node.value = rng.choice(_int_candidates(node, rng, subject.donor))
    return subject.write()


def counters(subject: Subject, rng: Random) -> bytes | None:
    """Originator and invocation counters, transaction and block numbers."""
    return _set_int(subject, rng, _COUNTER)


def codes(subject: Subject, rng: Random) -> bytes | None:
    """Message codes, CRA flags, tags, choices, cluster, command and attribute ids."""
    return _set_int(subject, rng, _CODE)


def numbers(subject: Subject, rng: Random) -> bytes | None:
    """Any other integer field, at and past the edges of its type."""
    return _set_int(subject, rng, None)


def dates(subject: Subject, rng: Random) -> bytes | None:
    """Date-times: absent, present, wildcards, out-of-range fields, wrong lengths."""
    nodes = [n for n in subject.tree.walk() if n.children is None and _DATE.search(n.name)]
    if not nodes:
        return None
    node = rng.choice(nodes)
    if isinstance(node.value, (bytes, bytearray)):
        node.value = rng.choice(_DATES + (b"", bytes(11), _DATES[0] + b"\x00",
                                          _noise(rng, len(node.value) or 12)))
        if node.kind == "ber_octets":
            node.size = 0  # minimal length form for the new value
    elif isinstance(node.value, int) and not isinstance(node.value, bool):
        node.value = rng.choice(_int_candidates(node, rng, subject.donor))
    else:
        return None
    return subject.write()


def octets(subject: Subject, rng: Random) -> bytes | None:
    """Byte-string values (system titles, signatures, MACs, keys): resized or noise."""
    nodes = [n for n in subject.tree.walk() if n.children is None
             and isinstance(n.value, (bytes, bytearray))]
    if not nodes:
        return None
    node = rng.choice(nodes)
    value = bytes(node.value)
    choice = rng.randrange(4)
    if choice == 0:
        node.value = value[:rng.randrange(len(value))] if value else b"\x00"
    elif choice == 1:
        node.value = value + _noise(rng, rng.choice((1, 8, 64)))
    elif choice == 2:
        node.value = _noise(rng, len(value))
    else:
        node.value = b""
    if node.kind == "ber_octets":
        node.size = 0
    return subject.write()


def lengths(subject: Subject, rng: Random) -> bytes | None:
    """A length or count field patched in place to a wrong value or BER form (the tree
    cannot carry it: its encoder recomputes lengths)."""
    raw = subject.raw
    nodes = [n for n in subject.tree.walk()
             if n.kind != "seq" and 0 <= n.offset and n.offset + n.size <= len(raw)]
    for _ in range(8):
        if not nodes:
            return None
        node = rng.choice(nodes)
        span = _length_span(node)
        # Only where the node's bytes are where it says (views may count from their own
        # start): checked for the one node picked, as encoding is not free.
        if span is not None and raw[node.offset:node.offset + node.size] == encode(node):
            break
    else:
        return None
    start, end, actual = span
    value = max(0, rng.choice(_LENGTHS + (actual - 1, actual + 1, actual * 2,
                                          rng.randrange(256))))
    form = rng.randrange(4)
    if form == 0:  # minimal BER
        new = ber_length_bytes(value) if value < 1 << 32 else b"\x84\xFF\xFF\xFF\xFF"
    elif form == 1:  # long form, maybe not minimal
        new = ber_length_bytes(min(value, (1 << 32) - 1), rng.randint(2, 5))
    elif form == 2:  # indefinite or oversized length-of-length
        new = bytes((rng.choice((0x80, 0x85, 0x88, 0xFF)),))
    else:  # the field's own width (fixed-size lengths and counts)
        new = (value % (1 << 8 * (end - start))).to_bytes(end - start, "big")
    return raw[:start] + new + raw[end:]


def _length_span(node: Node) -> tuple[int, int, int] | None:
    """(start, end, current value) of the bytes that hold the node's length or count."""
    children = node.children
    if node.kind in ("lv", "count"):
        if not children or not isinstance(node.value, int) or \
                not 0 <= node.value < len(children):
            return None
        field = children[node.value]
        if field.offset < node.offset or not field.size:
            return None
        return field.offset, field.offset + field.size, int(field.value or 0)
    if node.kind == "ber_octets" and isinstance(node.value, (bytes, bytearray)):
        head = node.size - len(node.value)
        return (node.offset, node.offset + head, len(node.value)) if head >= 1 else None
    if node.kind == "view":
        return None
    if children is None:
        if not isinstance(node.value, (bytes, bytearray)):
            return None
        head = node.size - len(node.value)
    else:
        first = next((c for c in children if c.kind != "view" and c.offset >= 0), None)
        head = (first.offset if first is not None else node.offset + node.size) - node.offset
    if head < 2:  # a tag, then the length or count
        return None
    return node.offset + 1, node.offset + head, node.size - head


def nested(subject: Subject, rng: Random) -> bytes | None:
    """Nested structures and payloads: an element dropped, repeated or swapped, or a
    subtree replaced by the same-named one of another message (a payload of another use
    case, another component, another certificate)."""
    parents = [n for n in subject.tree.walk() if n.children and n.kind != "view"]
    if not parents:
        return None
    parent = rng.choice(parents)
    first = parent.value + 1 if parent.kind in ("lv", "count") and \
        isinstance(parent.value, int) else 0
    body = parent.children[first:]
    if not body:
        return None
    donor = subject.donor
    action = rng.randrange(4 if donor is not None else 3)
    at = first + rng.randrange(len(body))
    kids = parent.children
    if action == 0:
        del kids[at]
    elif action == 1:
        kids.insert(at, kids[at])
    elif action == 2:
        other = first + rng.randrange(len(body))
        kids[at], kids[other] = kids[other], kids[at]
    else:
        same = [n for n in donor.walk() if n.name == kids[at].name]
        if not same:
            return None
        kids[at] = rng.choice(same)
    return subject.write()


STRUCT_MUTATORS: tuple[Struct, ...] = (lengths, lengths, counters, codes, codes, dates, nested,
                                       nested, octets, numbers)
