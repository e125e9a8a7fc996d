"""The ZCL profile-wide commands GBCS uses: read / write / report attributes and their
responses, reporting configuration, attribute discovery and the default response.

Attribute ids are named from the server attribute tables; attribute values are typed by
their ZCL data type, with GBCS money in pence and, in a Metering read response that also
carries Multiplier, Divisor and UnitOfMeasure, summations scaled into units."""

from __future__ import annotations

from decimal import Decimal
from typing import Callable

from gbcs.node import Node
from gbcs.reader import Reader
from gbcs.zcl_layout import command, snake
from gbcs.zcl_tables import (ATTRIBUTES, ENUMS, METERING_SUMMATIONS, MONEY_ATTRIBUTES,
                             UNIT_SYMBOLS)
from gbcs.zcl_types import ANALOG_TYPES, money_text, read_type_id, read_value

METERING = 0x0702
STATUS_NAMES = ENUMS["ZclStatus"]

GLOBAL_NAMES = {
    0x00: "ReadAttributes", 0x01: "ReadAttributesResponse", 0x02: "WriteAttributes",
    0x03: "WriteAttributesUndivided", 0x04: "WriteAttributesResponse",
    0x05: "WriteAttributesNoResponse", 0x06: "ConfigureReporting",
    0x07: "ConfigureReportingResponse", 0x08: "ReadReportingConfiguration",
    0x09: "ReadReportingConfigurationResponse", 0x0A: "ReportAttributes",
    0x0B: "DefaultResponse", 0x0C: "DiscoverAttributes", 0x0D: "DiscoverAttributesResponse",
}
# Commands a client sends about server attributes, and the server's answers and reports:
# only these name attribute ids from the server attribute tables.
_TO_SERVER = frozenset((0x00, 0x02, 0x03, 0x05, 0x06, 0x08, 0x0C))
_FROM_SERVER = frozenset((0x01, 0x04, 0x07, 0x09, 0x0A, 0x0D))


def _u8(r: Reader, name: str, names: dict[int, str] | None = None) -> Node:
    pos = r.pos
    value = r.u8(name)
    return Node(name, "u8", value, None, pos, 1, names.get(value) if names else None)


def _u16(r: Reader, name: str) -> Node:
    pos = r.pos
    return Node(name, "u16le", r.uint(2, name, "little"), None, pos, 2)


def _attribute_id(r: Reader, names: dict[int, tuple[str, int]] | None) -> Node:
    node = _u16(r, "attribute_id")
    if names:
        entry = names.get(node.value)
        if entry is not None:
            node.human = entry[0]
    return node


def _typed(r: Reader, cluster_id: int, attribute: int | None) -> list[Node]:
    data_type = read_type_id(r)
    value = read_value(r, data_type.value)
    if attribute is not None and (cluster_id, attribute) in MONEY_ATTRIBUTES \
            and isinstance(value.value, int):
        value.human = money_text(value.value)
    return [data_type, value]


def _records(r: Reader, name: str, record: Callable[[Reader], list[Node]]) -> Node:
    start = r.pos
    children = []
    while r.pos < r.end:
        at = r.pos
        children.append(Node("record", "seq", None, record(r), at, r.pos - at))
    return Node(name, "seq", None, children, start, r.pos - start)


def decode_global(r: Reader, cluster_id: int, direction: int, command_id: int) -> Node | None:
    """A profile-wide command's payload to the end of `r`, or None for a command id this
    codec does not know (the caller keeps it as bytes)."""
    names = ATTRIBUTES.get(cluster_id) if (
        (command_id in _TO_SERVER and direction == 0)
        or (command_id in _FROM_SERVER and direction == 1)) else None
    start = r.pos
    if command_id == 0x00:
        children = []
        while r.pos < r.end:
            children.append(_attribute_id(r, names))
        return Node("read_attributes", "seq", None, children, start, r.pos - start)
    if command_id == 0x01:
        def read_response(r: Reader) -> list[Node]:
            attribute = _attribute_id(r, names)
            status = _u8(r, "status", STATUS_NAMES)
            if status.value != 0:
                return [attribute, status]
            return [attribute, status] + _typed(r, cluster_id, attribute.value)
        node = _records(r, "read_attributes_response", read_response)
        if cluster_id == METERING and names:
            _scale_summations(node)
        return node
    if command_id in (0x02, 0x03, 0x05, 0x0A):
        def write(r: Reader) -> list[Node]:
            attribute = _attribute_id(r, names)
            return [attribute] + _typed(r, cluster_id, attribute.value)
        return _records(r, snake(GLOBAL_NAMES[command_id]), write)
    if command_id in (0x04, 0x07):
        def status_record(r: Reader) -> list[Node]:
            status = _u8(r, "status", STATUS_NAMES)
            if status.value == 0 and r.pos >= r.end:
                return [status]
            out = [status]
            if command_id == 0x07:
                out.append(_u8(r, "direction"))
            out.append(_attribute_id(r, names))
            return out
        return _records(r, snake(GLOBAL_NAMES[command_id]), status_record)
    if command_id == 0x06:
        return _records(r, "configure_reporting",
                        lambda r: _reporting_record(r, names, cluster_id))
    if command_id == 0x08:
        return _records(r, "read_reporting_configuration",
                        lambda r: [_u8(r, "direction"), _attribute_id(r, names)])
    if command_id == 0x09:
        def config(r: Reader) -> list[Node]:
            status = _u8(r, "status", STATUS_NAMES)
            if status.value != 0:
                return [status, _u8(r, "direction"), _attribute_id(r, names)]
            return [status] + _reporting_record(r, names, cluster_id)
        return _records(r, "read_reporting_configuration_response", config)
    if command_id == 0x0B:
        command_node = _u8(r, "command_id")
        answered = command(cluster_id, 1 - direction, command_node.value)
        command_node.human = answered.name if answered is not None else None
        status = _u8(r, "status", STATUS_NAMES)
        return Node("default_response", "seq", None, [command_node, status], start, 2)
    if command_id == 0x0C:
        children = [_u16(r, "start_attribute_id"), _u8(r, "maximum_attribute_identifiers")]
        return Node("discover_attributes", "seq", None, children, start, 3)
    if command_id == 0x0D:
        complete = _u8(r, "discovery_complete")
        records = _records(r, "attributes",
                           lambda r: [_attribute_id(r, names), read_type_id(r)])
        return Node("discover_attributes_response", "seq", None, [complete, records], start,
                    r.pos - start)
    return None


def _reporting_record(r: Reader, names: dict | None, cluster_id: int) -> list[Node]:
    direction = _u8(r, "direction")
    attribute = _attribute_id(r, names)
    if direction.value != 0:
        return [direction, attribute, _u16(r, "timeout_period")]
    data_type = read_type_id(r)
    out = [direction, attribute, data_type, _u16(r, "minimum_reporting_interval"),
           _u16(r, "maximum_reporting_interval")]
    if data_type.value in ANALOG_TYPES:
        out.append(read_value(r, data_type.value, "reportable_change"))
    return out


def _scale_summations(response: Node) -> None:
    """Metering summations as Multiplier x value / Divisor in UnitOfMeasure, when the
    same response carries the formatting attributes."""
    values: dict[int, Node] = {}
    for record in response.children or ():
        children = record.children
        if len(children) == 4 and children[1].value == 0:
            values[children[0].value] = children[3]
    multiplier, divisor, unit = values.get(0x0301), values.get(0x0302), values.get(0x0300)
    # Only integer formatting attributes scale: a mistyped Multiplier or Divisor (no
    # data, a key, a float) leaves the summations unscaled rather than misread.
    if not (multiplier is not None and divisor is not None
            and type(multiplier.value) is int and type(divisor.value) is int
            and divisor.value):
        return
    symbol = UNIT_SYMBOLS.get(unit.value, "") if unit is not None else ""
    for attribute, node in values.items():
        if attribute in METERING_SUMMATIONS and isinstance(node.value, int):
            amount = Decimal(node.value * multiplier.value) / Decimal(divisor.value)
            node.human = f"{amount} {symbol}".rstrip()
