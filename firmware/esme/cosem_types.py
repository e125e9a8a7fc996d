"""A-XDR type shapes for COSEM attributes: what an attribute holds, checked on every SET.

A shape is declared once per attribute and serves three ends: a SET's data is checked
against it (wrong shape -> type-unmatched), a new meter's value is its default, and a
profile buffer's compact-array type description comes from it. Octet-string, string and
array lengths are values, not shape: GBCS sends 0- to 13-octet MPANs and variable
tables, so only the type tree is checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from gbcs import axdr
from gbcs.axdr import (
    ARRAY,
    BIT_STRING,
    COMPACT_ARRAY,
    FIXED,
    NULL_DATA,
    OCTET_STRING,
    STRUCTURE,
    TYPE_NAMES,
    UTF8_STRING,
    VISIBLE_STRING,
    data_node,
    data_tag,
    type_spec,
)
from gbcs.node import Node

# GBCS writes "never" / "not specified" date-times with every field 0xFF (deviation
# 0x8000 not specified, status 0xFF); the codec shows it as such.
NEVER = bytes.fromhex("FFFFFFFFFFFFFFFFFF8000FF")


@dataclass(frozen=True)
class Simple:
    """A simple type; `size` is the default octet/character/bit count of a new value."""

    tag: int
    size: int = 0


@dataclass(frozen=True)
class Arr:
    """An array of `element`s, any length (a new value has `count` default elements)."""

    element: Shape
    count: int = 0


@dataclass(frozen=True)
class St:
    """A structure of exactly these members."""

    members: tuple[Shape, ...]


@dataclass(frozen=True)
class Compact:
    """A compact-array (profile buffers): its type description is part of the shape."""

    entry: axdr.TypeSpec


@dataclass(frozen=True)
class AnyShape:
    """Whatever the writer sends (a method's optional parameter)."""


Shape = Union[Simple, Arr, St, Compact, AnyShape]
ANY = AnyShape()


def s(*members: Shape) -> St:
    return St(tuple(members))


def os_(size: int = 0) -> Simple:
    return Simple(OCTET_STRING, size)


def vs(size: int = 0) -> Simple:
    return Simple(VISIBLE_STRING, size)


def bs(bits: int) -> Simple:
    return Simple(BIT_STRING, bits)


NULL = Simple(NULL_DATA)
BOOL, ENUM = Simple(axdr.BOOLEAN), Simple(axdr.ENUM)
I8, I16, I32, I64 = (Simple(axdr.INTEGER), Simple(axdr.LONG), Simple(axdr.DOUBLE_LONG),
                     Simple(axdr.LONG64))
U8, U16, U32, U64 = (Simple(axdr.UNSIGNED), Simple(axdr.LONG_UNSIGNED),
                     Simple(axdr.DOUBLE_LONG_UNSIGNED), Simple(axdr.LONG64_UNSIGNED))
UTF8 = Simple(UTF8_STRING)
DT = os_(12)                                  # a COSEM date-time as GBCS sends it
OBIS = os_(6)
SCALER_UNIT = s(I8, ENUM)
DESCRIPTOR = s(U16, OBIS, I8)                 # class id, logical name, attribute index


class ShapeError(ValueError):
    """Data that does not have the declared shape: `path` says where."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


def _type_text(node: Node) -> str:
    tag = data_tag(node)
    return TYPE_NAMES.get(tag, node.kind) if tag is not None else node.kind


def check(node: Node, shape: Shape, path: str = "data") -> None:
    """Raise ShapeError when `node` is not a value of `shape`."""
    if isinstance(shape, AnyShape):
        return
    tag = data_tag(node)
    want = (ARRAY if isinstance(shape, Arr) else STRUCTURE if isinstance(shape, St)
            else COMPACT_ARRAY if isinstance(shape, Compact) else shape.tag)
    if tag != want:
        raise ShapeError(path, f"expected {TYPE_NAMES[want]}, got {_type_text(node)}")
    if isinstance(shape, Arr):
        for i, child in enumerate(node.children):
            check(child, shape.element, f"{path}[{i}]")
    elif isinstance(shape, St):
        if len(node.children) != len(shape.members):
            raise ShapeError(path, f"expected a structure of {len(shape.members)}, got "
                                   f"{len(node.children)} elements")
        for i, (child, member) in enumerate(zip(node.children, shape.members)):
            check(child, member, f"{path}.{i}")
    elif isinstance(shape, Compact):
        got = axdr._spec_of(node.children[0])
        if got != shape.entry:
            raise ShapeError(path, "compact-array type description differs")


def default(shape: Shape, name: str = "data") -> Node:
    """The value a new meter holds for `shape`: zeros, empty or 'never'."""
    if isinstance(shape, Arr):
        return data_node(name, [default(shape.element) for _ in range(shape.count)], ARRAY)
    if isinstance(shape, St):
        return data_node(name, [default(m) for m in shape.members], STRUCTURE)
    if isinstance(shape, Compact):
        return axdr.compact_array_node(name, shape.entry, [])
    if isinstance(shape, AnyShape):
        return data_node(name, None, NULL_DATA)
    tag = shape.tag
    if tag == OCTET_STRING:
        return data_node(name, NEVER if shape.size == 12 else bytes(shape.size), tag)
    if tag in (VISIBLE_STRING, UTF8_STRING):
        return data_node(name, " " * shape.size, tag)
    if tag == BIT_STRING:
        return data_node(name, "0" * shape.size, tag)
    if tag in FIXED:
        n, kind = FIXED[tag]
        return data_node(name, bytes(n) if kind == "bytes" else 0, tag)
    return data_node(name, None, tag)


def entry_spec(members: list[Shape]) -> axdr.TypeSpec:
    """The compact-array type description of a profile entry of these captured values."""
    return type_spec(("structure", [_arg(m) for m in members]))


def _arg(shape: Shape) -> axdr.TypeArg:
    if isinstance(shape, Simple):
        return shape.tag
    if isinstance(shape, St):
        return ("structure", [_arg(m) for m in shape.members])
    if isinstance(shape, Arr):
        return ("array", shape.count, _arg(shape.element))
    raise ShapeError("capture", f"{shape} cannot be captured in a compact-array")
