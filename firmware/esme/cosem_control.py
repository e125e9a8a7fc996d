"""Registers, the supply and auxiliary switches, special days, and the prepayment
objects (credit, charge, account, token gateway): stored values changed by their
methods until the metering engine binds them."""

from __future__ import annotations

from firmware.esme.cosem import (
    OTHER_REASON, TEMPORARY_FAILURE, AccessError, Context, CosemObject, int_value,
)
from firmware.esme.cosem_time import Passive
from firmware.esme.cosem_types import default
from gbcs import axdr
from gbcs.axdr import octets_of
from gbcs.cosem import datetime_bytes
from gbcs.node import Node


class Register(CosemObject):
    """Classes 3, 4 and 5: reset sets the value (and a demand register's averages) to 0."""

    def reset(self, ctx: Context, params: Node) -> None:
        for ident in ((2, 3) if self.class_id == 5 else (2,)):
            if ident not in self.getters:
                self.save(ctx, ident, default(self.shape(ident)))

    def next_period(self, ctx: Context, params: Node) -> None:
        self.save(ctx, 3, self.load(ctx, 2))
        self.save(ctx, 2, default(self.shape(2)))


class DisconnectControl(CosemObject):
    """Class 70: control_state 0 disconnected, 1 connected, 2 ready for reconnection
    (armed); output_state follows the contactor."""

    def remote_disconnect(self, ctx: Context, params: Node) -> None:
        self._state(ctx, False, 0)

    def remote_reconnect(self, ctx: Context, params: Node) -> None:
        """Connect, or in control modes 2, 4 and 6 arm (ready for reconnection: the
        consumer closes the supply with the button)."""
        if int_value(self.load(ctx, 4)) in (2, 4, 6):
            self._state(ctx, False, 2)
        else:
            self._state(ctx, True, 1)

    def _state(self, ctx: Context, closed: bool, control: int) -> None:
        if 2 not in self.getters:
            self.save(ctx, 2, axdr.data_node("data", closed, axdr.BOOLEAN))
        if 3 not in self.getters:
            self.save(ctx, 3, axdr.data_node("data", control, axdr.ENUM))


class SpecialDays(CosemObject):
    """Class 11: entries inserted or deleted by index."""

    def insert(self, ctx: Context, params: Node) -> None:
        index = params.children[0].value
        kept = [e for e in self.load(ctx, 2).children if e.children[0].value != index]
        self.save(ctx, 2, axdr.array_node("data", kept + [params]))

    def delete(self, ctx: Context, params: Node) -> None:
        kept = [e for e in self.load(ctx, 2).children
                if e.children[0].value != int_value(params)]
        self.save(ctx, 2, axdr.array_node("data", kept))


class Credit(CosemObject):
    """Class 112: the credit amount changes only through its methods."""

    def update_amount(self, ctx: Context, params: Node) -> None:
        self._put(ctx, int_value(self.load(ctx, 2)) + int_value(params))

    def set_amount_to_value(self, ctx: Context, params: Node) -> None:
        self._put(ctx, int_value(params))

    def invoke_credit(self, ctx: Context, params: Node) -> None:
        self.save(ctx, 8, axdr.data_node("data", 3, axdr.ENUM))  # 3: in use

    def _put(self, ctx: Context, amount: int) -> None:
        if 2 in self.getters:
            raise AccessError(TEMPORARY_FAILURE, f"{self}: the credit belongs to the engine")
        self.save(ctx, 2, axdr.data_node("data", amount, axdr.DOUBLE_LONG))


class Charge(Passive):
    """Class 113: unit charges activate like other passive values; the remaining amount
    is set or adjusted by method."""

    def update_total_amount_remaining(self, ctx: Context, params: Node) -> None:
        self.save(ctx, 12, axdr.data_node("data", int_value(self.load(ctx, 12)) + int_value(params),
                                          axdr.DOUBLE_LONG))

    def set_total_amount_remaining(self, ctx: Context, params: Node) -> None:
        self.save(ctx, 12, axdr.data_node("data", int_value(params), axdr.DOUBLE_LONG))

    def update_unit_charge(self, ctx: Context, params: Node) -> None:
        self.save(ctx, 6, params)

    def collect(self, ctx: Context, params: Node) -> None:
        self.save(ctx, 10, axdr.data_node("data", datetime_bytes(ctx.now()),
                                          axdr.OCTET_STRING))


class Account(Passive):
    """Class 111: the account's mode and status; the passive account (payment mode)
    activates at its account_activation_time."""

    def activate_account(self, ctx: Context, params: Node) -> None:
        self._status(ctx, 2)

    def close_account(self, ctx: Context, params: Node) -> None:
        self._status(ctx, 3)

    def reset_account(self, ctx: Context, params: Node) -> None:
        self._status(ctx, 1)

    def _status(self, ctx: Context, status: int) -> None:
        mode = self.load(ctx, 2).children[0].value
        self.save(ctx, 2, axdr.structure_node("data", [
            axdr.data_node("", mode, axdr.ENUM), axdr.data_node("", status, axdr.ENUM)]))


class TokenGateway(CosemObject):
    """Class 115: enter(token) records a 20-digit UTRN with its time and status for the
    prepayment engine to apply (token_status 0: accepted for processing)."""

    def enter(self, ctx: Context, params: Node) -> None:
        token = octets_of(params) or b""
        if len(token) != 20 or not token.isdigit():
            raise AccessError(OTHER_REASON, f"{self}: {token!r} is no 20-digit UTRN")
        self.save(ctx, 2, params)
        self.save(ctx, 3, axdr.data_node("data", datetime_bytes(ctx.now()),
                                         axdr.OCTET_STRING))
        self.save(ctx, 6, axdr.structure_node("data", [
            axdr.data_node("", 0, axdr.ENUM), axdr.data_node("", "0" * 8, axdr.BIT_STRING)]))
