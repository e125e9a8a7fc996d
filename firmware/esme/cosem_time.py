"""Time in the ESME's objects: the clock (class 8), activation of passive values at
their date-time in virtual time with GBCS's future-dated alert, and script tables
(class 9) that act on other objects."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from firmware.esme.cosem import (
    OTHER_REASON, AccessError, Context, CosemObject, int_value,
)
from firmware.esme.cosem_profile import to_seconds
from gbcs import axdr, dlms
from gbcs.axdr import octets_of
from gbcs.cosem import datetime_bytes, parse_datetime
from gbcs.node import Node


class Clock(CosemObject):
    """Class 8: the device time is the board clock plus an offset the device keeps, so
    adjusting it (`Context.adjust_clock`) never touches the board."""

    def load(self, ctx: Context, ident: int) -> Node:
        if ident == 2:
            return axdr.data_node("data", datetime_bytes(ctx.now()), axdr.OCTET_STRING)
        return super().load(ctx, ident)

    def written(self, ctx: Context, ident: int, value: Node) -> None:
        if ident == 2:
            self._adjust(ctx, octets_of(value) or b"")

    def _adjust(self, ctx: Context, raw: bytes) -> None:
        when = parse_datetime(raw) if len(raw) == 12 else None
        if when is None:
            raise AccessError(OTHER_REASON, f"{self}: {raw.hex()} is no date-time")
        ctx.adjust_clock(when)

    def preset_adjusting_time(self, ctx: Context, params: Node) -> None:
        ctx.store.put("clock/preset", [octets_of(c) for c in params.children])

    def adjust_to_preset_time(self, ctx: Context, params: Node) -> None:
        preset = ctx.store.get("clock/preset")
        if not preset:
            raise AccessError(OTHER_REASON, f"{self}: no preset time to adjust to")
        start, end = (parse_datetime(v) for v in preset[1:])
        now = ctx.now()
        if (start and now < start) or (end and now > end):
            raise AccessError(OTHER_REASON, f"{self}: now is outside the preset validity")
        if preset[0][:9] == b"\xff" * 9:
            # No preset time (GBCS ECS70): take the time from the clock base, the time
            # source the board's clock follows.
            ctx.adjust_clock(ctx.board_now())
        else:
            self._adjust(ctx, preset[0])
        ctx.store.delete("clock/preset")

    def shift_time(self, ctx: Context, params: Node) -> None:
        ctx.adjust_clock(ctx.now() + timedelta(seconds=int_value(params)))


Ref = tuple[int, bytes, int]  # class id, logical name, attribute


class Passive(CosemObject):
    """Objects with passive values that become active at an activation date-time
    (classes 20, 113, 9000, and the payment mode's account): setting the time arms a
    timer in virtual time; when it fires the passive values are copied over the active
    ones (this object's own pairs, and `copies` from other objects: a GBCS extended data
    object activates passive calendars and special days) and, for a future-dated
    command, GBCS's alert 0x8F66 names the command and the activation attribute."""

    FUTURE_DATED_ALERT = 0x00CC
    SUCCESS_ALERT = 0x8F66
    PAIRS = {20: ((6, 2), (7, 3), (8, 4), (9, 5)), 113: ((6, 5),), 9000: ((4, 2), (5, 3))}
    TIME = {20: 10, 113: 7, 9000: 6, 111: 13}

    def __init__(self, class_id: int, obis: bytes, name: str, *,
                 copies: tuple[tuple[Ref, Ref], ...] = (), **kw: Any) -> None:
        super().__init__(class_id, obis, name, **kw)
        self.on_activate: list[Callable[[Context], None]] = []  # told after each activation
        self.copies = tuple((self.class_id, self.obis, p, self.class_id, self.obis, a)
                            for p, a in self.PAIRS.get(class_id, ())) + tuple(
            (*src, *dst) for src, dst in copies)
        self.time_attribute = self.TIME[class_id]

    def written(self, ctx: Context, ident: int, value: Node) -> None:
        if ident != self.time_attribute:
            return
        raw = octets_of(value) or b""
        ctx.store.delete(self.pending_key)  # a new time replaces (or cancels) the last
        if raw[:9] == b"\xff" * 9:
            return  # "never": the passive values wait
        when = parse_datetime(raw) if len(raw) == 12 else None
        if when is None or when <= ctx.now():
            self.activate(ctx)  # "now" (all zero) or past: at once, no alert
            return
        inv = ctx.invocation
        ctx.store.put(self.pending_key, {
            "at": raw, "code": inv.message_code if inv else 0,
            "counter": inv.originator_counter if inv else 0,
            "to": inv.originator.eui if inv else b""})
        self.arm(ctx, raw)

    @property
    def pending_key(self) -> str:
        return f"activation/{self.class_id}/{self.obis.hex()}"

    def arm(self, ctx: Context, raw: bytes) -> None:
        """Set the timer for a pending activation at `raw` (a COSEM date-time)."""
        when = parse_datetime(raw) or ctx.now()
        ctx.at(when, lambda: self._due(ctx, raw), f"activate {self}")

    def _due(self, ctx: Context, raw: bytes) -> None:
        pending = ctx.store.get(self.pending_key)
        if pending is None or pending["at"] != raw:
            return  # cancelled or re-timed since the timer was set
        ctx.store.delete(self.pending_key)
        self.activate(ctx)
        recipient = next((a for a in ctx.anchors.anchors.values()
                          if a.eui == pending["to"]), None)
        if recipient is None or not pending["code"]:
            return
        body = (pending["code"].to_bytes(2, "big") + pending["counter"].to_bytes(8, "big")
                + self.class_id.to_bytes(2, "big") + self.obis
                + bytes((self.time_attribute,)))
        payload = axdr.data_node("payload", body, axdr.OCTET_STRING)
        ctx.raise_alert(self.FUTURE_DATED_ALERT, dlms.alert_notification(
            self.SUCCESS_ALERT, raw, [payload], invoke_id=pending["counter"]), recipient)

    def activate(self, ctx: Context) -> None:
        """Copy the passive values over the active ones."""
        for class_id, obis, ident, to_class, to_obis, to_ident in self.copies:
            value = ctx.lookup(class_id, obis).load(ctx, ident)
            ctx.lookup(to_class, to_obis).save(ctx, to_ident, value)
        for listener in self.on_activate:
            listener(ctx)

    def activate_passive_calendar(self, ctx: Context, params: Node) -> None:
        self.activate(ctx)

    def activate_passive_unit_charge(self, ctx: Context, params: Node) -> None:
        self.activate(ctx)


class ScriptTable(CosemObject):
    """Class 9: execute(script id) runs the script's actions (write attribute 1, execute
    method 2) on the device's objects."""

    def execute(self, ctx: Context, params: Node) -> None:
        script = int_value(params)
        for entry in self.load(ctx, 2).children:
            ident, actions = entry.children
            if ident.value != script:
                continue
            for action in actions.children:
                service, class_id, obis, index, value = action.children
                target = ctx.lookup(class_id.value, octets_of(obis) or b"")
                if service.value == 1:
                    target.set(ctx, index.value, value)
                else:
                    target.action(ctx, index.value, value)
            return
        raise AccessError(OTHER_REASON, f"{self}: no script {script}")


class RequestTable(ScriptTable):
    """A script table whose selectors are requests to a controller the table drives
    (auxiliary load control switches and proportional controllers, firmware image
    activation): a declared script runs its actions, any other selector is queued in the
    store's log for the controller, with its time and the command that asked."""

    def execute(self, ctx: Context, params: Node) -> None:
        selector = int_value(params)
        if any(e.children[0].value == selector for e in self.load(ctx, 2).children):
            super().execute(ctx, params)
            return
        log = f"requests/{self.obis.hex()}"
        if log not in ctx.store.keys(log):
            ctx.store.declare_log(log, 100)
            ctx.store.put(log, True)
        inv = ctx.invocation
        ctx.store.append(log, {"selector": selector, "at": to_seconds(ctx.now()),
                               "message_code": inv.message_code if inv else None})


def script(ident: int, *actions: tuple[int, int, bytes, int, Node]) -> Node:
    """A script table entry: (service 1 write / 2 execute, class, OBIS, index, data)."""
    return axdr.structure_node("", [
        axdr.data_node("", ident, axdr.LONG_UNSIGNED),
        axdr.array_node("", [axdr.structure_node("", [
            axdr.data_node("", service, axdr.ENUM),
            axdr.data_node("", class_id, axdr.LONG_UNSIGNED),
            axdr.data_node("", obis, axdr.OCTET_STRING),
            axdr.data_node("", index, axdr.INTEGER), value])
            for service, class_id, obis, index, value in actions])])
