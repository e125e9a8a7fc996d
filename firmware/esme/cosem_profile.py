"""Profile generic (class 7) buffers with selective access, and Data protection
(class 30) reads of them: GBCS reads logs and profiles either directly (range or entry
descriptor) or through get_protected_attributes, restricted to a date-time range, and
encrypted for the requester. Timestamps in buffers are seconds from 2000-01-01 UTC."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from firmware.esme.cosem import (
    READ_WRITE_DENIED, SCOPE_OF_ACCESS_VIOLATED, TYPE_UNMATCHED, AccessError, Context,
    CosemObject, FaultKey,
)
from firmware.esme.cosem_types import Compact, Shape, entry_spec
from gbcs import axdr
from gbcs.axdr import octets_of
from gbcs.cosem import parse_datetime
from gbcs.errors import GbcsEncodeError
from gbcs.node import Node, encode

EPOCH = _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)
RANGE_DESCRIPTOR, ENTRY_DESCRIPTOR = 1, 2
CLOCK_OBIS = bytes.fromhex("0000010000FF")


@dataclass(frozen=True)
class Capture:
    """One captured attribute of a profile and its type in the buffer entry;
    `data_index` n > 0 captures the n-th element of a structured attribute."""

    class_id: int
    obis: bytes
    attribute: int
    shape: Shape
    data_index: int = 0


class ProfileGeneric(CosemObject):
    """Class 7: a circular buffer in the store's log, read whole or by range (by the
    first captured value, a timestamp in seconds from 2000) or entry descriptor.
    `capture` reads the capture objects (the clock as seconds); the metering engine may
    instead `append` whole entries it computes."""

    def __init__(self, obis: bytes, name: str, captures: list[Capture], entries: int,
                 capture_period: int = 0,
                 source: Callable[[Context], list[list]] | None = None, **kw: Any) -> None:
        self.captures = captures
        self.entries = entries
        self.source = source  # a log the device keeps elsewhere (e.g. its security log)
        self.spec = entry_spec([c.shape for c in captures])
        types = {2: Compact(self.spec)} | kw.pop("types", {})
        values = {
            3: axdr.array_node("data", [axdr.structure_node("", [
                axdr.data_node("", c.class_id, axdr.LONG_UNSIGNED),
                axdr.data_node("", c.obis, axdr.OCTET_STRING),
                axdr.data_node("", c.attribute, axdr.INTEGER),
                axdr.data_node("", c.data_index, axdr.LONG_UNSIGNED)]) for c in captures]),
            4: axdr.data_node("data", capture_period, axdr.DOUBLE_LONG_UNSIGNED),
            8: axdr.data_node("data", entries, axdr.DOUBLE_LONG_UNSIGNED),
        } | kw.pop("values", {})
        getters = {7: lambda ctx: axdr.data_node("data", len(self.rows(ctx)),
                                                 axdr.DOUBLE_LONG_UNSIGNED)}
        super().__init__(7, obis, name, types=types, values=values, getters=getters, **kw)

    @property
    def log(self) -> str:
        return f"profile/{self.obis.hex()}"

    def rows(self, ctx: Context) -> list[list]:
        """The buffer's entries since the last reset, oldest first."""
        if self.source is not None:
            since = ctx.store.get(f"{self.log}/cleared_at")
            rows = self.source(ctx)
            if since is not None:
                rows = [r for r in rows if r[0] > since]
            return rows[-self.entries:]
        if f"{self.log}/declared" not in ctx.store.keys(self.log):
            return []
        cleared = ctx.store.get(f"{self.log}/cleared", 0)
        return [e.value for e in ctx.store.entries(self.log) if e.seq > cleared]

    def buffer(self, rows: list[list]) -> Node:
        return axdr.compact_array_node("data", self.spec, rows)

    def load(self, ctx: Context, ident: int) -> Node:
        if ident == 2:
            return self.buffer(self.rows(ctx))
        return super().load(ctx, ident)

    def select(self, ctx: Context, ident: int, selector: int, params: Node) -> Node:
        if ident != 2:
            return super().select(ctx, ident, selector, params)
        rows = self.rows(ctx)
        values = axdr.axdr_value(params) if axdr.data_tag(params) == axdr.STRUCTURE else None
        if selector == RANGE_DESCRIPTOR and values and len(values) == 4:
            low, high = _seconds(values[1]), _seconds(values[2])
            return self.buffer([r for r in rows if low <= r[0] <= high])
        if selector == ENTRY_DESCRIPTOR and values and len(values) == 4:
            first, last = values[0], values[1] or len(rows)
            return self.buffer(rows[max(first, 1) - 1:last])
        raise AccessError(SCOPE_OF_ACCESS_VIOLATED, f"{self}: selector {selector} with "
                                                    "these parameters is not supported")

    def between(self, ctx: Context, start: _dt.datetime, end: _dt.datetime) -> Node:
        """The buffer entries captured between two date-times (data protection reads)."""
        low, high = to_seconds(start), to_seconds(end)
        return self.buffer([r for r in self.rows(ctx) if low <= r[0] <= high])

    def reset(self, ctx: Context, params: Node) -> None:
        """Empty the buffer: a circular log keeps its entries, so remember the last one
        cleared and read only the later ones; a buffer the device keeps elsewhere is
        read from after the time it was cleared."""
        if self.source is not None:
            ctx.store.put(f"{self.log}/cleared_at", to_seconds(ctx.now()))
            return
        self._declare(ctx)
        entries = ctx.store.entries(self.log)
        ctx.store.put(f"{self.log}/cleared", entries[-1].seq if entries else 0)

    def capture(self, ctx: Context, params: Node | None = None) -> None:
        self.append(ctx, [self._captured(ctx, c) for c in self.captures])

    def _captured(self, ctx: Context, c: Capture) -> Any:
        if (c.class_id, c.obis) == (8, CLOCK_OBIS):
            return to_seconds(ctx.now())
        value = ctx.lookup(c.class_id, c.obis).load(ctx, c.attribute)
        if c.data_index:
            members = value.children or []
            if c.data_index > len(members):
                raise AccessError(TYPE_UNMATCHED, f"{self}: capture {c} has no element "
                                                  f"{c.data_index}")
            value = members[c.data_index - 1]
        return axdr.axdr_value(value)

    def append(self, ctx: Context, row: list) -> None:
        """Add one entry (values in capture order); AccessError if it does not fit."""
        if self.source is not None:
            raise AccessError(READ_WRITE_DENIED, f"{self}: its entries come from the "
                                                 "device's own log")
        try:
            axdr.compact_array_node("entry", self.spec, [row])  # lays it out or refuses
        except GbcsEncodeError as err:
            raise AccessError(TYPE_UNMATCHED, f"{self}: entry {row!r}: {err}") from None
        self._declare(ctx)
        ctx.store.append(self.log, row)

    def _declare(self, ctx: Context) -> None:
        if f"{self.log}/declared" not in ctx.store.keys(self.log):
            ctx.store.declare_log(self.log, self.entries)
            ctx.store.put(f"{self.log}/declared", True)


def to_seconds(when: _dt.datetime) -> int:
    return int((when - EPOCH).total_seconds())


def _seconds(value: Any) -> int:
    if isinstance(value, int):
        return value
    when = parse_datetime(value) if isinstance(value, bytes) and len(value) == 12 else None
    return to_seconds(when) if when else 0


class DataProtection(CosemObject):
    """Class 30: get_protected_attributes reads the listed attributes (profile buffers
    restricted to a date-time range) and returns them as GBCS protected data encrypted
    for the requester; `seal(ctx, plaintext)` is the device's encryption."""

    def __init__(self, obis: bytes, name: str, seal: Callable[[Context, bytes], Node],
                 **kw: Any) -> None:
        super().__init__(30, obis, name, **kw)
        self.seal = seal

    def get_protected_attributes(self, ctx: Context, params: Node) -> Node:
        objects, _protection = params.children
        values = []
        for entry in objects.children:
            class_id, obis, ident, _index, restriction = entry.children
            target = ctx.lookup(class_id.value, octets_of(obis) or b"")
            values.append(_restricted(ctx, target, ident.value, restriction))
        plaintext = encode(axdr.structure_node("data", values))
        return self.seal(ctx, plaintext)


def _restricted(ctx: Context, target: CosemObject, ident: int, restriction: Node) -> Node:
    """An attribute's value, a profile buffer cut to {type, {from, to}} when restricted."""
    parts = restriction.children or []
    if isinstance(target, ProfileGeneric) and ident == 2 and len(parts) == 2 \
            and axdr.data_tag(parts[1]) == axdr.STRUCTURE and len(parts[1].children) == 2:
        start, end = (parse_datetime(octets_of(c) or b"") for c in parts[1].children)
        if start is not None and end is not None:
            ctx.check_fault(FaultKey(target.class_id, target.obis, ident))
            return target.between(ctx, start, end)
    return target.get(ctx, ident)
