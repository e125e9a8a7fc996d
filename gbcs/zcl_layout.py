"""Compiled `gbcs.zcl_tables` layouts: each command's field list becomes a `Layout` that
decodes a payload into nodes and builds the same nodes from field values, so encode and
decode share one declaration (see `gbcs.zcl_tables` for the field forms and hints)."""

from __future__ import annotations

import re
from typing import Any, Callable

from gbcs.alerts import ALERT_CODES
from gbcs.errors import GbcsEncodeError
from gbcs.node import Node
from gbcs.reader import Reader
from gbcs.zcl_tables import COMMANDS, ENUMS
from gbcs.zcl_types import Codec, codec, hhmm_text, money_text, scaled


def snake(name: str) -> str:
    """A ZSE CamelCase name in snake_case (``PublishCO2Value`` -> ``publish_co2_value``)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _sibling(done: list[Node], name: str) -> Node | None:
    for node in done:
        if node.name == name:
            return node
    return None


class ScalarField:
    """A scalar or string field with its hints (enum names, money, trailing digits)."""

    __slots__ = ("name", "optional", "cross", "min_size", "codec", "human", "decode")

    def __init__(self, name: str, token: str, hints: str) -> None:
        self.name = name
        self.codec: Codec = codec(token)
        self.min_size = self.codec.min_size
        self.optional = False
        self.cross: tuple[str, str] | None = None
        self.human: Callable[[int], str] | None = None
        for hint in hints.split():
            if hint == "opt":
                self.optional = True
            elif hint.startswith("enum:"):
                names = ENUMS[hint[5:]]
                self.human = names.get
            elif hint == "money":
                self.human = money_text
            elif hint == "hhmm":
                self.human = hhmm_text
            elif hint == "event":
                self.human = _event_text
            elif "@" in hint:
                how, source = hint.split("@")
                self.cross = (how, source)
            else:
                raise KeyError(f"unknown hint {hint!r} on {name}")
        # decode(r, done) -> Node: a reader specialised for this field
        self.decode = self.codec.reader(name, self.human)

    def build(self, value: Any, values: dict[str, Any]) -> Node:
        node = self.codec.build(self.name, value)
        if self.human is not None and node.children is None and isinstance(node.value, int):
            node.human = self.human(node.value)
        return node


def _event_text(code: int) -> str:
    """A GBCS event code with its meaning (events share the alert code table)."""
    meaning = ALERT_CODES.get(code)
    return f"0x{code:04X} {meaning}" if meaning else f"0x{code:04X}"


def _item(name: str, item: Any) -> ScalarField | StructField:
    """An array element: a scalar token (hints after a space), or a tuple of fields."""
    if isinstance(item, str):
        token, _, hints = item.partition(" ")
        return ScalarField(name, token, hints)
    return StructField(name, Layout(item))


class StructField:
    """A group of fields (an element of a repeated struct)."""

    __slots__ = ("name", "optional", "cross", "min_size", "layout")

    def __init__(self, name: str, layout: Layout) -> None:
        self.name = name
        self.layout = layout
        self.optional = False
        self.cross = None
        self.min_size = max(layout.min_size, 1)

    def decode(self, r: Reader, done: list[Node]) -> Node:
        start = r.pos
        children = self.layout.decode(r)
        return Node(self.name, "seq", None, children, start, r.pos - start)

    def build(self, value: Any, values: dict[str, Any]) -> Node:
        if not isinstance(value, dict):
            raise GbcsEncodeError(f"expected a dict of fields, got {value!r}", self.name)
        return Node(self.name, "seq", None, self.layout.build(value))


class _RepeatedField:
    """Items of one kind, however many the subclass's rule says; never optional."""

    __slots__ = ("name", "optional", "cross", "min_size", "item")

    def __init__(self, name: str, element: str, item: Any) -> None:
        self.name = name
        self.item = _item(element, item)
        self.optional = False
        self.cross = None
        self.min_size = 0


class RestField(_RepeatedField):
    """Items repeated to the end of the payload."""

    __slots__ = ()

    def decode(self, r: Reader, done: list[Node]) -> Node:
        start = r.pos
        item = self.item
        children: list[Node] = []
        while r.pos < r.end:
            at = r.pos
            children.append(item.decode(r, children))
            if r.pos == at:
                raise r.fail(f"{item.name} takes no bytes", self.name)
        return Node(self.name, "seq", None, children, start, r.pos - start)

    def build(self, value: Any, values: dict[str, Any]) -> Node:
        return Node(self.name, "seq", None, _build_items(self.item, value, values, self.name))


def _build_items(item: ScalarField | StructField, value: Any, values: dict[str, Any],
                 name: str) -> list[Node]:
    if not isinstance(value, (list, tuple)):
        raise GbcsEncodeError(f"expected a list, got {value!r}", name)
    return [item.build(v, values) for v in value]


class CountField:
    """A count, then that many items; encoding recomputes the count."""

    __slots__ = ("name", "optional", "cross", "min_size", "count", "item")

    def __init__(self, name: str, count_name: str, count_type: str, element: str,
                 item: Any) -> None:
        self.name = name
        self.count = ScalarField(count_name, count_type, "")
        self.item = _item(element, item)
        self.optional = False
        self.cross = None
        self.min_size = self.count.min_size

    def decode(self, r: Reader, done: list[Node]) -> Node:
        start = r.pos
        count = self.count.decode(r, done)
        if count.value * self.item.min_size > r.end - r.pos:
            raise r.fail(f"{count.value} {self.item.name} entries cannot fit in "
                         f"{r.end - r.pos} bytes", self.name)
        children = [count]
        item = self.item
        for _ in range(count.value):
            children.append(item.decode(r, children))
        return Node(self.name, "count", 0, children, start, r.pos - start)

    def build(self, value: Any, values: dict[str, Any]) -> Node:
        return Node(self.name, "count", 0, [self.count.build(0, values)]
                    + _build_items(self.item, value, values, self.name))


class NibblesField(_RepeatedField):
    """As many items as the lower nibble of an earlier field (block thresholds)."""

    __slots__ = ("source",)

    def __init__(self, name: str, source: str, element: str, item: Any) -> None:
        super().__init__(name, element, item)
        self.source = source

    def decode(self, r: Reader, done: list[Node]) -> Node:
        start = r.pos
        source = _sibling(done, self.source)
        count = source.value & 0x0F if source is not None else 0
        item = self.item
        children: list[Node] = []
        for _ in range(count):
            children.append(item.decode(r, children))
        return Node(self.name, "seq", None, children, start, r.pos - start)

    def build(self, value: Any, values: dict[str, Any]) -> Node:
        items = _build_items(self.item, value, values, self.name)
        if len(items) > 0x0F:
            raise GbcsEncodeError("at most 15 entries", self.name)
        return Node(self.name, "seq", None, items)


class SwitchField:
    """Fields chosen by the value of an earlier field; other values: the rest as bytes."""

    __slots__ = ("name", "optional", "cross", "min_size", "selector", "cases")

    def __init__(self, name: str, selector: str, cases: dict[int, tuple]) -> None:
        self.name = name
        self.selector = selector
        self.cases = {value: Layout(fields) for value, fields in cases.items()}
        self.optional = False
        self.cross = None
        self.min_size = 0

    def decode(self, r: Reader, done: list[Node]) -> Node:
        start = r.pos
        selector = _sibling(done, self.selector)
        layout = self.cases.get(selector.value) if selector is not None else None
        if layout is None:
            if r.pos >= r.end:
                return Node(self.name, "seq", None, [], start, 0)
            return codec("bytes").read(r, self.name)
        children = layout.decode(r)
        return Node(self.name, "seq", None, children, start, r.pos - start)

    def build(self, value: Any, values: dict[str, Any]) -> Node:
        layout = self.cases.get(values.get(self.selector))
        if layout is None:
            if value is None or value == b"":
                return Node(self.name, "seq", None, [])
            return codec("bytes").build(self.name, value)
        if value is not None and not isinstance(value, dict):
            raise GbcsEncodeError(f"expected a dict of fields, got {value!r}", self.name)
        return Node(self.name, "seq", None, layout.build(value or {}))


Field = ScalarField | StructField | RestField | CountField | NibblesField | SwitchField


def _field(spec: tuple) -> Field:
    name, kind = spec[0], spec[1]
    if kind == "rest":
        return RestField(name, spec[2], spec[3])
    if kind == "count":
        return CountField(name, spec[2], spec[3], spec[4], spec[5])
    if kind == "nibbles":
        return NibblesField(name, spec[2], spec[3], spec[4])
    if kind == "switch":
        return SwitchField(name, spec[2], spec[3])
    return ScalarField(name, kind, spec[2] if len(spec) > 2 else "")


class Layout:
    """An ordered list of fields that decodes to, and builds, a list of nodes."""

    __slots__ = ("fields", "names", "cross", "min_size", "nibbles")

    def __init__(self, specs: tuple) -> None:
        self.fields = [_field(spec) for spec in specs]
        self.names = frozenset(f.name for f in self.fields)
        self.cross = [f for f in self.fields if f.cross]
        self.nibbles = [f for f in self.fields if isinstance(f, NibblesField)]
        self.min_size = sum(f.min_size for f in self.fields if not f.optional)

    def decode(self, r: Reader) -> list[Node]:
        done: list[Node] = []
        for field in self.fields:
            if field.optional and r.pos >= r.end:
                break
            done.append(field.decode(r, done))
        if self.cross:
            _apply_cross(self.cross, done)
        return done

    def build(self, values: dict[str, Any]) -> list[Node]:
        unknown = set(values) - self.names
        if unknown:
            raise GbcsEncodeError(f"unknown fields {sorted(unknown)}")
        out: list[Node] = []
        for i, field in enumerate(self.fields):
            if field.name in values:
                out.append(field.build(values[field.name], values))
            elif field.optional:
                later = [f.name for f in self.fields[i:] if f.name in values]
                if later:
                    raise GbcsEncodeError(f"optional field {field.name} missing before "
                                          f"{later}", field.name)
                break
            elif isinstance(field, SwitchField):
                out.append(field.build(None, values))
            else:
                raise GbcsEncodeError("missing field", field.name)
        for field in self.nibbles:
            source = _sibling(out, field.source)
            items = _sibling(out, field.name)
            if source is not None and items is not None and isinstance(source.value, int):
                source.value = (source.value & 0xF0) | len(items.children or ())
        if self.cross:
            _apply_cross(self.cross, out)
        return out


def _apply_cross(fields: list[Field], done: list[Node]) -> None:
    """Human forms that depend on a sibling: trailing digits in its upper nibble."""
    for field in fields:
        node = _sibling(done, field.name)
        how, source_name = field.cross
        source = _sibling(done, source_name)
        if node is None or source is None or not isinstance(node.value, int) \
                or not isinstance(source.value, int):
            continue
        digits = (source.value >> 4) & 0x0F
        node.human = money_text(node.value, digits) if how == "money" else scaled(node.value,
                                                                                   digits)


class Command:
    """A compiled cluster-specific command."""

    __slots__ = ("name", "node_name", "layout")

    def __init__(self, name: str, fields: tuple) -> None:
        self.name = name
        self.node_name = snake(name)
        self.layout = Layout(fields)


_COMMANDS: dict[tuple[int, int, int], Command] = {
    key: Command(name, fields) for key, (name, fields) in COMMANDS.items()}


def command(cluster_id: int, direction: int, command_id: int) -> Command | None:
    """The compiled table entry of a cluster-specific command, or None."""
    return _COMMANDS.get((cluster_id, direction, command_id))


def commands() -> dict[tuple[int, int, int], Command]:
    """Every compiled cluster-specific command, keyed (cluster, direction, command id)."""
    return dict(_COMMANDS)
