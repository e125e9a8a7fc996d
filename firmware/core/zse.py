"""The GBZ command executor the GSME and the GPF share: the components of a decoded GBZ
payload run against ZSE cluster attributes (persisted in the NonVolatileStore) and
command handlers, answered as the RTDS 4.5.0 GBZ responses are:

- a Read Attributes gets a Read Attributes Response with one record per attribute:
  the value with its ZCL data type (from the ZSE attribute table), or a status
  (UNSUPPORTED_ATTRIBUTE, HARDWARE_FAILURE);
- a cluster-specific command gets the frames its handler returns (e.g. PublishSnapshot),
  or a Default Response naming it: SUCCESS, or the status of the `ZclError` it raised
  (NOT_FOUND for a log read with no entry, HARDWARE_FAILURE ...);
- once a component has failed with HARDWARE_FAILURE the rest are not executed: each is
  answered with a Default Response to command 0xFF with status FAILURE, as in every
  RTDS ERROR response;
- Default Responses travel in the opposite direction to the command they answer.

Response components of the clusters a use case reads sensitive data from are encrypted
for the requester (`encrypt`), except Default Responses, which carry no data.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from firmware.core.hal import NonVolatileStore
from gbcs import gbz, zcl
from gbcs.node import Node
from gbcs.zcl_layout import (
    CountField, Layout, NibblesField, RestField, ScalarField, StructField, SwitchField,
    command as command_entry,
)
from gbcs.zcl_tables import ATTRIBUTES
from gbcs.zcl_types import utc_seconds

SUCCESS = 0x00
FAILURE = 0x01
UNSUP_CLUSTER_COMMAND = 0x81
UNSUP_GENERAL_COMMAND = 0x82
UNSUPPORTED_ATTRIBUTE = 0x86
INVALID_VALUE = 0x87
NOT_FOUND = 0x8B
HARDWARE_FAILURE = 0xC0
NOT_EXECUTED = 0xFF  # the command id a Default Response names for a skipped component

READ_ATTRIBUTES = 0x00
EPOCH = _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)


class ZclError(Exception):
    """A command the device refuses, with the ZCL status it answers."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"status 0x{status:02X}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Fault:
    """The board's fault-injection key: an attribute (or a command, `command=True`) of a
    cluster that answers HARDWARE_FAILURE (a failed NVM page, a dead sensor); with
    `component` only when accessed by that component (0-based) of a payload."""

    cluster_id: int
    ident: int
    command: bool = False
    component: int | None = None


@dataclass(frozen=True)
class Request:
    """One cluster-specific command of a GBZ payload, its fields decoded to values."""

    cluster_id: int
    command_id: int
    direction: int
    fields: dict[str, Any]
    from_date_time: _dt.datetime | None = None
    transaction_sequence: int = 0


Handler = Callable[[Request], "list[Node] | None"]


def to_datetime(seconds: int) -> _dt.datetime:
    """A ZCL UTC time (seconds from 2000-01-01) as a datetime."""
    return EPOCH + _dt.timedelta(seconds=seconds)


def to_seconds(when: _dt.datetime) -> int:
    return utc_seconds(when)


# -- field values of decoded commands -----------------------------------------------------


def fields_of(layout: Layout, nodes: list[Node]) -> dict[str, Any]:
    """The field values of a decoded payload, in the form `gbcs.zcl.zcl_command` builds
    from (the inverse of `Layout.build`)."""
    by_name = {n.name: n for n in nodes}
    out: dict[str, Any] = {}
    for f in layout.fields:
        node = by_name.get(f.name)
        if node is not None:
            out[f.name] = _value(f, node, out)
    return out


def _value(f: Any, node: Node, done: dict[str, Any]) -> Any:
    if isinstance(f, ScalarField):
        return node.value if node.children is None else _octets(node)
    if isinstance(f, StructField):
        return fields_of(f.layout, node.children or [])
    if isinstance(f, CountField):
        return [_value(f.item, c, {}) for c in (node.children or [])[1:]]
    if isinstance(f, (RestField, NibblesField)):
        return [_value(f.item, c, {}) for c in node.children or []]
    if isinstance(f, SwitchField):
        layout = f.cases.get(done.get(f.selector))
        if layout is None:
            return node.value if node.children is None else b""
        return fields_of(layout, node.children or [])
    raise TypeError(f"no value for field {f!r}")


def _octets(node: Node) -> bytes:
    """A length-prefixed string's bytes."""
    value = next((c for c in node.children if c.name == "value"), None)
    return value.value if value is not None else b""


def command_fields(cluster_id: int, frame: Node) -> tuple[int, int, dict[str, Any]]:
    """(direction, command id, field values) of a decoded cluster-specific ``zcl`` node."""
    fc = frame["frame_control"].value
    direction = 1 if fc & zcl.SERVER_TO_CLIENT else 0
    command_id = frame["command_id"].value
    entry = command_entry(cluster_id, direction, command_id)
    payload = _payload(frame)
    if entry is None or payload is None:
        return direction, command_id, {}
    return direction, command_id, fields_of(entry.layout, payload.children or [])


def _payload(frame: Node) -> Node | None:
    last = frame.children[-1]
    if last.name == "encrypted_payload":
        view = next((c for c in last.children if c.name == "decrypted"), None)
        return view.children[0] if view is not None else None
    return last


# -- attributes ---------------------------------------------------------------------------


class Attributes:
    """The ZSE attributes a device serves: stored ones persist in the NonVolatileStore
    under `prefix`, computed ones are read from the device's state when asked. The data
    type of each comes from the ZSE attribute table, so a response never drifts from it.
    """

    def __init__(self, store: NonVolatileStore, prefix: str,
                 defaults: dict[tuple[int, int], Any],
                 computed: dict[tuple[int, int], Callable[[], Any]] | None = None) -> None:
        self.store = store
        self.prefix = prefix
        self.defaults = dict(defaults)
        self.computed = dict(computed or {})
        for cluster_id, attribute in list(self.defaults) + list(self.computed):
            if attribute not in ATTRIBUTES.get(cluster_id, {}):
                raise KeyError(f"0x{cluster_id:04X}/0x{attribute:04X} is no ZSE attribute")

    def _key(self, cluster_id: int, attribute: int) -> str:
        return f"{self.prefix}/{cluster_id:04x}/{attribute:04x}"

    def supported(self, cluster_id: int, attribute: int) -> bool:
        return (cluster_id, attribute) in self.defaults or (cluster_id, attribute) in self.computed

    def get(self, cluster_id: int, attribute: int) -> Any:
        key = (cluster_id, attribute)
        if key in self.computed:
            return self.computed[key]()
        if key not in self.defaults:
            raise ZclError(UNSUPPORTED_ATTRIBUTE, f"0x{cluster_id:04X}/0x{attribute:04X}")
        return self.store.get(self._key(cluster_id, attribute), self.defaults[key])

    def set(self, cluster_id: int, attribute: int, value: Any) -> None:
        if (cluster_id, attribute) not in self.defaults:
            raise ZclError(UNSUPPORTED_ATTRIBUTE, f"0x{cluster_id:04X}/0x{attribute:04X} "
                           "is not a stored attribute")
        self.store.put(self._key(cluster_id, attribute), value)

    def data_type(self, cluster_id: int, attribute: int) -> int:
        return ATTRIBUTES[cluster_id][attribute][1]

    def stored(self) -> dict[str, Any]:
        """Every stored attribute as ``"cccc/aaaa" -> value`` (what a mirror copies)."""
        return {f"{c:04x}/{a:04x}": self.get(c, a) for c, a in self.defaults}

    def load(self, values: dict[str, Any]) -> None:
        """Take over stored attribute values (from `stored` of another device)."""
        for key, value in values.items():
            c, a = (int(x, 16) for x in key.split("/"))
            if (c, a) in self.defaults:
                self.set(c, a, value)


# -- the executor -------------------------------------------------------------------------


@dataclass
class ZseServer:
    """Executes GBZ command payloads against `attributes` and `handlers`, keyed
    (cluster id, direction, command id). `faults` is the board's fault-injection hook."""

    attributes: Attributes
    handlers: dict[tuple[int, int, int], Handler]
    faults: set[Fault] = field(default_factory=set)
    executed: list[Request] = field(default_factory=list)  # the last payload's successes
    _index: int = 0  # the component being executed

    def execute(self, payload: Node, *, encrypt: Callable[[bytes], bytes] | None = None,
                encrypted_clusters: Iterable[int] = ()) -> Node:
        """The GBZ response payload to the GBZ command `payload` (a decoded ``gbz`` node)."""
        sensitive = frozenset(encrypted_clusters)
        self.executed = []
        out: list[Node] = []
        aborted = False
        comps = [c for c in payload.children if c.name == "component"]
        for index, comp in enumerate(comps):
            cluster_id = comp["cluster_id"].value
            frame = comp["zcl"]
            if aborted:
                out.append(gbz.component(cluster_id, self._default(cluster_id, frame,
                                                                   NOT_EXECUTED, FAILURE)))
                continue
            self._index = index
            frames, aborted = self._run(cluster_id, frame, _from_date_time(comp))
            for f in frames:
                seal = encrypt if cluster_id in sensitive and not _is_default(f) else None
                out.append(gbz.component(cluster_id, f, encrypt=seal))
        return gbz.gbz_payload(out)

    def _run(self, cluster_id: int, frame: Node,
             from_date_time: _dt.datetime | None) -> tuple[list[Node], bool]:
        fc = frame["frame_control"].value
        command_id = frame["command_id"].value
        if fc & zcl.FRAME_TYPE_MASK != zcl.CLUSTER_SPECIFIC:
            if command_id != READ_ATTRIBUTES:
                return [self._default(cluster_id, frame, command_id,
                                      UNSUP_GENERAL_COMMAND)], False
            return self._read(cluster_id, frame)
        direction, command_id, fields = command_fields(cluster_id, frame)
        handler = self.handlers.get((cluster_id, direction, command_id))
        if handler is None:
            return [self._default(cluster_id, frame, command_id, UNSUP_CLUSTER_COMMAND)], False
        if self._faulty(cluster_id, command_id, True):
            return [self._default(cluster_id, frame, command_id, HARDWARE_FAILURE)], True
        request = Request(cluster_id, command_id, direction, fields, from_date_time,
                          frame["transaction_sequence"].value)
        try:
            frames = handler(request)
        except ZclError as err:
            return ([self._default(cluster_id, frame, command_id, err.status)],
                    err.status == HARDWARE_FAILURE)
        self.executed.append(request)
        if frames is None:
            return [self._default(cluster_id, frame, command_id, SUCCESS)], False
        return frames, False

    def _read(self, cluster_id: int, frame: Node) -> tuple[list[Node], bool]:
        records: list[tuple] = []
        failed = False
        for node in _payload(frame).children or []:
            attribute = node.value
            if self._faulty(cluster_id, attribute, False):
                records.append((attribute, HARDWARE_FAILURE))
                failed = True
                continue
            try:
                value = self.attributes.get(cluster_id, attribute)
            except ZclError as err:
                records.append((attribute, err.status))
                failed = failed or err.status == HARDWARE_FAILURE
                continue
            records.append((attribute, SUCCESS,
                            self.attributes.data_type(cluster_id, attribute), value))
        response = zcl.zcl_read_attributes_response(
            cluster_id, records, transaction_sequence=frame["transaction_sequence"].value,
            disable_default_response=False)
        return [response], failed

    def _faulty(self, cluster_id: int, ident: int, command: bool) -> bool:
        return (Fault(cluster_id, ident, command) in self.faults
                or Fault(cluster_id, ident, command, self._index) in self.faults)

    @staticmethod
    def _default(cluster_id: int, frame: Node, command_id: int, status: int) -> Node:
        fc = frame["frame_control"].value
        direction = 0 if fc & zcl.SERVER_TO_CLIENT else 1
        return zcl.zcl_default_response(cluster_id, command_id, status, direction,
                                        transaction_sequence=frame["transaction_sequence"].value)


def _is_default(frame: Node) -> bool:
    fc = frame["frame_control"].value
    return fc & zcl.FRAME_TYPE_MASK == 0 and frame["command_id"].value == 0x0B


def _from_date_time(comp: Node) -> _dt.datetime | None:
    node = comp.get("from_date_time")
    return to_datetime(node.value) if node is not None else None


def response(cluster_id: int, command_id: int, direction: int, request: Request,
             **fields: Any) -> Node:
    """A cluster-specific response frame answering `request` (its transaction sequence,
    default responses disabled, as the RTDS data responses have them)."""
    return zcl.zcl_command(cluster_id, command_id, direction,
                           transaction_sequence=request.transaction_sequence,
                           disable_default_response=True, **fields)
