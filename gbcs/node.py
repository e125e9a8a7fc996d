"""The decoded tree: one `Node` per field, each knowing its byte range.

Every decoder in `gbcs` builds its output from these nodes, and `encode` turns any such
tree back into bytes with one generic walk, so decode and encode cannot drift apart:

- leaves carry a value and a `kind` that says how it is written
  (``u8`` .. ``u64`` and ``i8`` .. ``i64`` big-endian, the same with ``le`` for ZCL,
  ``bytes``, ``text``, ``ber_len``, and ``ber_octets``: a BER length and the bytes it
  counts, in one leaf, as GBCS headers carry system titles, dates and signatures);
- ``seq`` nodes are their children's bytes in order;
- ``lv`` nodes hold a length at child ``value`` (an index) that is recomputed from the
  children after it, so an edited tree re-encodes with consistent lengths;
- ``count`` nodes likewise hold an element count at child ``value``;
- ``view`` nodes are shown but never written (a decrypted plaintext, a derived value);
- registered composite kinds (`composite_kind`) write a prefix computed from their
  encoded children, e.g. an A-XDR structure's tag and count or a DER tag and length, so
  one node stands for what would otherwise take three.

The JSON form (`Node.to_json` / `Node.from_json`) is what ``smetslab decode --json``
prints and ``smetslab encode`` reads.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from gbcs.errors import GbcsEncodeError


class Node:
    """A named field of a decoded message."""

    __slots__ = ("name", "kind", "value", "children", "offset", "size", "human")

    def __init__(
        self,
        name: str,
        kind: str,
        value: Any = None,
        children: list[Node] | None = None,
        offset: int = -1,
        size: int = 0,
        human: str | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.value = value
        self.children = children
        self.offset = offset
        self.size = size
        self.human = human

    def __repr__(self) -> str:
        if self.children is None:
            return f"Node({self.name!r}, {self.kind}, {self.value!r})"
        return f"Node({self.name!r}, {self.kind}, {len(self.children)} children)"

    # -- navigation -------------------------------------------------------------------

    def get(self, name: str) -> Node | None:
        """The first child called `name`, or None."""
        for child in self.children or ():
            if child.name == name:
                return child
        return None

    def __getitem__(self, path: str) -> Node:
        """A descendant by dotted path of child names (``a.b.c``); KeyError if absent."""
        node = self
        for part in path.split("."):
            found = node.get(part)
            if found is None:
                raise KeyError(f"{path}: no child {part!r} under {node.name!r}")
            node = found
        return node

    def walk(self) -> Iterator[Node]:
        """This node and every descendant, depth first (a node's children are read once
        the node has been visited, so a visit may still edit them). With a stack, not
        nested generators: a walk costs the same at any depth."""
        stack = [self]
        pop, push = stack.pop, stack.extend
        while stack:
            node = pop()
            yield node
            children = node.children
            if children:
                push(reversed(children))

    # -- JSON ---------------------------------------------------------------------------

    def to_json(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "offset": self.offset,
                               "size": self.size}
        value = self.value
        if isinstance(value, (bytes, bytearray)):
            value = value.hex().upper()
        if value is not None:
            out["value"] = value
        if self.human is not None:
            out["human"] = self.human
        if self.children is not None:
            out["children"] = [c.to_json() for c in self.children]
        return out

    @classmethod
    def from_json(cls, obj: dict, path: str = "") -> Node:
        """Rebuild a node from its JSON form; GbcsEncodeError names the bad field."""
        try:
            name, kind = obj["name"], obj["kind"]
        except (KeyError, TypeError) as exc:
            raise GbcsEncodeError(f"node without name or kind: {exc}", path) from None
        here = f"{path}.{name}" if path else name
        value = obj.get("value")
        if kind in _WRITERS and _VALUE_TYPES.get(kind) is bytes and isinstance(value, str):
            try:
                value = bytes.fromhex(value)
            except ValueError:
                raise GbcsEncodeError(f"not hex: {value!r}", here) from None
        children = obj.get("children")
        if children is not None:
            children = [cls.from_json(c, here) for c in children]
        return cls(name, kind, value, children, obj.get("offset", -1), obj.get("size", 0),
                   obj.get("human"))


# -- leaf kinds ---------------------------------------------------------------------------

_WRITERS: dict[str, Callable[[Node], bytes]] = {}
_VALUE_TYPES: dict[str, type] = {}


def leaf_kind(kind: str, value_type: type, writer: Callable[[Node], bytes]) -> None:
    """Register how a leaf kind is written (decoders in other modules may add kinds)."""
    _WRITERS[kind] = writer
    _VALUE_TYPES[kind] = value_type


def _int_writer(nbytes: int, signed: bool, byteorder: str) -> Callable[[Node], bytes]:
    def write(node: Node) -> bytes:
        try:
            return int(node.value).to_bytes(nbytes, byteorder, signed=signed)
        except (OverflowError, TypeError, ValueError):
            raise GbcsEncodeError(
                f"{node.value!r} does not fit {node.kind}", node.name) from None
    return write


for _n in range(1, 9):
    leaf_kind(f"u{8 * _n}", int, _int_writer(_n, False, "big"))
    leaf_kind(f"i{8 * _n}", int, _int_writer(_n, True, "big"))
    leaf_kind(f"u{8 * _n}le", int, _int_writer(_n, False, "little"))
    leaf_kind(f"i{8 * _n}le", int, _int_writer(_n, True, "little"))


def _write_bytes(node: Node) -> bytes:
    if not isinstance(node.value, (bytes, bytearray)):
        raise GbcsEncodeError(f"expected bytes, got {type(node.value).__name__}", node.name)
    return bytes(node.value)


def _write_text(node: Node) -> bytes:
    try:
        return str(node.value).encode("latin-1")
    except UnicodeEncodeError:
        raise GbcsEncodeError("text is not Latin-1", node.name) from None


def ber_length_bytes(length: int, width: int = 0) -> bytes:
    """A BER length: short form below 128, else 0x8n + n bytes (at least `width` bytes
    in all, so a decoded non-minimal form is written back as it came)."""
    if length < 0:
        raise GbcsEncodeError(f"negative length {length}")
    if length < 0x80 and width <= 1:
        return bytes((length,))
    n = max((length.bit_length() + 7) // 8, width - 1, 1)
    if n > 4:
        raise GbcsEncodeError(f"length {length} too large for BER")
    return bytes((0x80 | n,)) + length.to_bytes(n, "big")


def _write_ber_len(node: Node) -> bytes:
    return ber_length_bytes(int(node.value), node.size)


def _write_ber_octets(node: Node) -> bytes:
    value = _write_bytes(node)
    width = node.size - len(value) if node.size > len(value) else 0
    return ber_length_bytes(len(value), width) + value


leaf_kind("bytes", bytes, _write_bytes)
leaf_kind("ber_octets", bytes, _write_ber_octets)
leaf_kind("text", str, _write_text)
leaf_kind("ber_len", int, _write_ber_len)


# Composite kinds: prefix(node, body, count) -> the bytes written before the body
# (count = children that are written, i.e. not views).
_PREFIXES: dict[str, Callable[[Node, bytes, int], bytes]] = {}


def composite_kind(kind: str, prefix: Callable[[Node, bytes, int], bytes]) -> None:
    """Register a composite kind whose header is computed from its encoded children."""
    _PREFIXES[kind] = prefix


# -- encoding -----------------------------------------------------------------------------


def encode(node: Node) -> bytes:
    """The bytes a tree stands for; lengths and counts are recomputed from content."""
    out = bytearray()
    _encode_into(node, out)
    return bytes(out)


def _encode_into(node: Node, out: bytearray) -> None:
    kind = node.kind
    writer = _WRITERS.get(kind)
    if writer is not None:
        out += writer(node)
        return
    if kind == "view":
        return
    children = node.children
    if children is None:
        raise GbcsEncodeError(f"unknown leaf kind {kind!r}", node.name)
    if kind == "seq":
        for child in children:
            _encode_into(child, out)
        return
    prefix = _PREFIXES.get(kind)
    if prefix is not None:
        body = bytearray()
        written = 0
        for child in children:
            if child.kind != "view":
                written += 1
                _encode_into(child, body)
        out += prefix(node, bytes(body), written)
        out += body
        return
    if kind not in ("lv", "count"):
        raise GbcsEncodeError(f"unknown kind {kind!r}", node.name)
    at = node.value
    if not isinstance(at, int) or not 0 <= at < len(children):
        raise GbcsEncodeError(f"{kind} node without a valid length index", node.name)
    for child in children[:at]:
        _encode_into(child, out)
    body = bytearray()
    for child in children[at + 1:]:
        _encode_into(child, body)
    length_node = children[at]
    if kind == "lv":
        length_node.value = len(body)
    else:
        length_node.value = sum(1 for c in children[at + 1:] if c.kind != "view")
    _encode_into(length_node, out)
    out += body


# -- rendering ----------------------------------------------------------------------------


def render_lines(node: Node, depth: int = 0) -> Iterator[tuple[int, Node]]:
    """(depth, node) pairs in display order, for text and rich renderers."""
    yield depth, node
    for child in node.children or ():
        yield from render_lines(child, depth + 1)


def display_value(node: Node) -> str:
    """The value as a lab engineer reads it: human form if any, else hex or number."""
    if node.human is not None:
        return node.human
    value = node.value
    if isinstance(value, (bytes, bytearray)):
        return value.hex().upper() if value else "(empty)"
    if value is None or node.children is not None:
        return ""
    return str(value)
