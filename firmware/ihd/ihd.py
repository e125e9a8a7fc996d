"""An IHD or a CAD: a GBCS Type 2 device, which only reads what the meters publish.

It joins the HAN with the link key of its install code (Type 2 devices hold no
certificates and run no CBKE), finds the meters' Metering servers by Match Descriptor
and tells them apart by MeteringDeviceType (the ESME is electric metering, the GPF in
the comms hub mirrored gas), then reads them: electricity every 10 s, gas every
30 minutes (the GPF's mirror changes only at the GSME's 30-minute syncs). Each
electricity read takes Metering, and Prepayment when the meter is in prepayment mode;
what changes slowly is read less often: prepayment in credit mode, the current price
and the supplier message every minute; the last 12 hours' half-hourly use
(GetProfile), the standing charge, the calendar and the change of tenancy every
30 minutes.
Gas reads take everything each time.

An IHD also takes the Messaging cluster: it shows a DisplayMessage (pushed by a meter
or answering its GetLastMessage), confirms one whose message control asks for it, and
clears on CancelMessage. A CAD serves no display and reads no messages.

A meter's refusal of a figure (NOT_AUTHORIZED: a period before the tenancy start after
a change of tenancy) blanks it and names it in the fuel's `hidden`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from zigpy.zcl.foundation import Direction, GeneralCommand, Status

from firmware.core.hal import Clock, Display, Timer
from firmware.core.zse import to_datetime, to_seconds
from firmware.ihd.screen import Fuel, Message, Screen
from han.radio import Endpoint, JoinStatus, Node
from han.radio.aps_layer import SE_PROFILE, ApsIndication
from han.zcl.errors import ZclDecodeError
from han.zcl.frame import ZclFrame, cluster_command, decode_frame, general_command

PRICE, METERING, MESSAGING = 0x0700, 0x0702, 0x0703
PREPAYMENT, CALENDAR, DEVICE_MANAGEMENT = 0x0705, 0x0707, 0x0708

HISTORY = 24                 # half hours of use asked for with GetProfile
READ_EVERY = {"electricity": timedelta(seconds=10), "gas": timedelta(minutes=30)}
SLOW = 6                     # prepayment (credit mode), price, message: every 6th read
RARE = 180                   # calendar and change of tenancy: every 180th read
FIND_AGAIN = timedelta(seconds=30)       # discovery while no meter answers
LOOK_FOR_MORE = timedelta(minutes=30)    # while one fuel's meter is still missing

# Metering attributes
CURRENT_SUMMATION_DELIVERED, SUPPLY_STATUS = 0x0000, 0x0014
ACTIVE_REGISTER_TIER_DELIVERED = 0x0020
UNIT_OF_MEASURE, MULTIPLIER, DIVISOR, METERING_DEVICE_TYPE = 0x0300, 0x0301, 0x0302, 0x0306
INSTANTANEOUS_DEMAND = 0x0400
CURRENT_DAY_CONSUMPTION_DELIVERED, PREVIOUS_DAY_CONSUMPTION_DELIVERED = 0x0401, 0x0403
PROFILE_DELIVERED = (0x00, 0x04)      # GetProfileResponse: success, fewer than asked
ELECTRIC_METERING, GAS_METERING, MIRRORED_GAS_METERING = 0x00, 0x01, 0x80
KWH, CUBIC_METRES = 0x00, 0x01
# Prepayment attributes
PAYMENT_CONTROL_CONFIGURATION, CREDIT_REMAINING = 0x0000, 0x0001
EMERGENCY_CREDIT_REMAINING, ACCUMULATED_DEBT = 0x0002, 0x0005
CURRENT_DAY_COST_DELIVERED, PREVIOUS_DAY_COST_DELIVERED = 0x051C, 0x051E
PREPAYMENT_MODE = 0x0002
# Price attributes
STANDING_CHARGE = 0x0301
CONVERSION_FACTOR, CONVERSION_FACTOR_TRAILING_DIGIT = 0x0302, 0x0303
CALORIFIC_VALUE, CALORIFIC_VALUE_TRAILING_DIGIT = 0x0304, 0x0306
PRICE_TRAILING_DIGIT = 0x0617
UNITS_PER_PENNY = 1000       # ZSE money on a GB HAN: 1/1000 p
CONFIRMATION_REQUIRED = 0x80  # MessageControl bit 7
MJ_PER_KWH = 3.6

_PROBE = [METERING_DEVICE_TYPE, UNIT_OF_MEASURE, MULTIPLIER, DIVISOR]
_METERING = [CURRENT_SUMMATION_DELIVERED, INSTANTANEOUS_DEMAND,
             CURRENT_DAY_CONSUMPTION_DELIVERED, SUPPLY_STATUS, ACTIVE_REGISTER_TIER_DELIVERED]
_METERING_SLOW = [PREVIOUS_DAY_CONSUMPTION_DELIVERED]
_PREPAYMENT = [PAYMENT_CONTROL_CONFIGURATION, CREDIT_REMAINING, EMERGENCY_CREDIT_REMAINING,
               ACCUMULATED_DEBT, CURRENT_DAY_COST_DELIVERED]
_PREPAYMENT_SLOW = [PREVIOUS_DAY_COST_DELIVERED]
_PRICE = [STANDING_CHARGE, PRICE_TRAILING_DIGIT]
_GAS_PRICE = [CONVERSION_FACTOR, CONVERSION_FACTOR_TRAILING_DIGIT, CALORIFIC_VALUE,
              CALORIFIC_VALUE_TRAILING_DIGIT]
_SUPPLY = {0: "off", 1: "armed", 2: "on"}
_FUEL_OF_TYPE = {ELECTRIC_METERING: "electricity", GAS_METERING: "gas",
                 MIRRORED_GAS_METERING: "gas"}


class Kind(enum.Enum):
    IHD = "IHD"
    CAD = "CAD"


class Type2Device:
    """An IHD or CAD on `node` (its application on `endpoint`), timed by `clock`;
    `link_key` is its install code's. `display` shows the screen's lines after each
    update; `on_event(text)` hears what is worth logging (meters found)."""

    def __init__(self, kind: Kind, node: Node, endpoint: Endpoint, clock: Clock,
                 link_key: bytes, *, display: Display | None = None,
                 on_event: Callable[[str], None] | None = None) -> None:
        self.kind = kind
        self.node, self.endpoint, self.clock = node, endpoint, clock
        self.link_key = bytes(link_key)
        self.display = display
        self.on_event = on_event or (lambda text: None)
        self.screen = Screen()
        self._timers: dict[str, Timer] = {}
        self._cycles = {"electricity": 0, "gas": 0}
        self._scale: dict[tuple[int, int], float] = {}
        self._tsn = 0
        handlers = {METERING: self._on_metering, PREPAYMENT: self._on_prepayment,
                    PRICE: self._on_price, CALENDAR: self._on_calendar,
                    DEVICE_MANAGEMENT: self._on_device_management}
        if kind is Kind.IHD:
            handlers[MESSAGING] = self._on_messaging
        for cluster_id, handler in handlers.items():
            endpoint.client_clusters[cluster_id] = self._guarded(handler)

    # -- joining and finding the meters -------------------------------------------------

    def join(self, on_done: Callable[[JoinStatus], None]) -> None:
        """Join with the install-code link key, then find the meters and read them."""
        self.stop()

        def joined(status: JoinStatus) -> None:
            if status is JoinStatus.SUCCESS:
                self.start()
            on_done(status)
        self.node.join(self.link_key, joined)

    def start(self) -> None:
        """Find the meters (the node has joined)."""
        self._discover()

    def stop(self) -> None:
        for timer in self._timers.values():
            self.clock.cancel(timer)
        self._timers.clear()

    def _later(self, name: str, after: timedelta, callback: Callable[[], None]) -> None:
        old = self._timers.pop(name, None)
        if old is not None:
            self.clock.cancel(old)
        self._timers[name] = self.clock.schedule(callback, f"{self.node.name} {name}",
                                                 after=after)

    def _fuels(self) -> list[Fuel]:
        return [self.screen.electricity, self.screen.gas]

    def _discover(self) -> None:
        if self.node.joined:
            self.node.match_descriptor(SE_PROFILE, [METERING], [], self._matched)
        if self.screen.electricity.source is None:
            self._later("discover", FIND_AGAIN, self._discover)
        elif self.screen.gas.source is None:
            self._later("discover", LOOK_FOR_MORE, self._discover)

    def _matched(self, short: int, endpoints: list[int]) -> None:
        taken = {f.source for f in self._fuels()}
        for endpoint in endpoints:
            if (short, endpoint) not in taken:
                self._read((short, endpoint), METERING, _PROBE)

    def _found(self, source: tuple[int, int], values: dict[int, Any]) -> None:
        fuel_name = _FUEL_OF_TYPE.get(int(values[METERING_DEVICE_TYPE]))
        fuel = getattr(self.screen, fuel_name) if fuel_name else None
        if fuel is None or fuel.source is not None:
            return
        divisor = int(values.get(DIVISOR, 1)) or 1
        self._scale[source] = int(values.get(MULTIPLIER, 1)) / divisor
        gas_volume = int(values.get(UNIT_OF_MEASURE, KWH)) == CUBIC_METRES
        fuel.unit = "m3" if gas_volume else "kWh"
        fuel.kwh_per_unit = None if gas_volume else 1.0
        fuel.source = source
        self.on_event(f"reads {fuel.name} at 0x{source[0]:04X} endpoint {source[1]} every "
                      f"{READ_EVERY[fuel.name].total_seconds():.0f} s")
        self._poll(fuel)

    # -- reading ------------------------------------------------------------------------

    def _poll(self, fuel: Fuel) -> None:
        """One read cycle of a fuel's meter, then the next in READ_EVERY."""
        self._later(fuel.name, READ_EVERY[fuel.name], lambda: self._poll(fuel))
        source = fuel.source
        if source is None or not self.node.joined:
            return
        n = self._cycles[fuel.name]
        self._cycles[fuel.name] = n + 1
        gas = fuel.name == "gas"
        slow, rare = gas or n % SLOW == 0, gas or n % RARE == 0
        self._read(source, METERING, _METERING + (_METERING_SLOW if slow else []))
        if slow or fuel.prepayment:
            self._read(source, PREPAYMENT, _PREPAYMENT + (_PREPAYMENT_SLOW if slow else []))
        if slow:
            self._command(source, PRICE, "get_current_price", command_options=0)
            if self.kind is Kind.IHD and not gas:
                self._command(source, MESSAGING, "get_last_message")
        if rare:
            self._command(source, METERING, "get_profile", interval_channel=0, end_time=0,
                          number_of_periods=HISTORY)
            self._read(source, PRICE, _PRICE + (_GAS_PRICE if gas else []))
            self._command(source, CALENDAR, "get_calendar", earliest_start_time=0,
                          min_issuer_event_id=0, number_of_calendars=1,
                          calendar_type=0, provider_id=0xFFFFFFFF)
            self._command(source, DEVICE_MANAGEMENT, "get_change_of_tenancy")

    def _next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) & 0xFF
        return self._tsn

    def _send(self, source: tuple[int, int], cluster_id: int, frame: ZclFrame) -> None:
        self.node.send_data(source[0], source[1], cluster_id, frame.encode(),
                            source_endpoint=self.endpoint.endpoint)

    def _read(self, source: tuple[int, int], cluster_id: int, attributes: list[int]) -> None:
        self._send(source, cluster_id, general_command(
            GeneralCommand.Read_Attributes, Direction.Client_to_Server, tsn=self._next_tsn(),
            disable_default_response=True, attribute_ids=attributes))

    def _command(self, source: tuple[int, int], cluster_id: int, name: str,
                 **fields: Any) -> None:
        self._send(source, cluster_id, cluster_command(
            cluster_id, name, Direction.Client_to_Server, tsn=self._next_tsn(),
            disable_default_response=True, **fields))

    # -- answers ------------------------------------------------------------------------

    def _guarded(self, handler: Callable[[ApsIndication], bytes | None]
                 ) -> Callable[[ApsIndication], bytes | None]:
        """An answer whose values do not fit what the attribute or command should carry
        (a wrong data type from a faulty or hostile peer) is counted and dropped."""
        def guarded(ind: ApsIndication) -> bytes | None:
            try:
                return handler(ind)
            except (TypeError, ValueError, ArithmeticError):
                self.node.stats["type2_bad_answer"] += 1
                return None
        return guarded

    def _decoded(self, cluster_id: int, ind: ApsIndication) -> ZclFrame | None:
        try:
            return decode_frame(cluster_id, ind.payload)
        except ZclDecodeError:
            self.node.stats["type2_bad_answer"] += 1
            return None

    def _fuel(self, ind: ApsIndication) -> Fuel | None:
        source = (ind.source, ind.source_endpoint)
        return next((f for f in self._fuels() if f.source == source), None)

    def _records(self, frame: ZclFrame, fuel: Fuel | None = None,
                 names: dict[int, str] | None = None) -> dict[int, Any] | None:
        """The values of a Read Attributes Response (None for any other frame); the
        attributes in `names` refused as not authorised are named in `fuel.hidden`."""
        if frame.header.frame_control.is_cluster or \
                frame.header.command_id != GeneralCommand.Read_Attributes_rsp:
            return None
        names = names or {}
        values = {}
        for record in frame.args.status_records:
            name = names.get(record.attrid)
            if record.status == Status.SUCCESS:
                values[record.attrid] = record.value.value
                if name and fuel is not None:
                    fuel.hidden.discard(name)
            elif record.status == Status.NOT_AUTHORIZED and name and fuel is not None:
                fuel.hidden.add(name)
        return values

    def _on_metering(self, ind: ApsIndication) -> bytes | None:
        frame = self._decoded(METERING, ind)
        if frame is None:
            return None
        source = (ind.source, ind.source_endpoint)
        fuel = self._fuel(ind)
        if fuel is None:
            values = self._records(frame)
            if values and METERING_DEVICE_TYPE in values:
                self._found(source, values)
            return None
        if frame.header.frame_control.is_cluster:
            if frame.command.name == "get_profile_response" and \
                    int(frame.args.status) in PROFILE_DELIVERED:
                scale = self._scale.get(source, 1.0)
                fuel.history = [int(v) * scale for v in reversed(frame.args.intervals)]
                fuel.history_end = to_datetime(int(frame.args.end_time))
            return None
        names = {PREVIOUS_DAY_CONSUMPTION_DELIVERED: "yesterday",
                 CURRENT_DAY_CONSUMPTION_DELIVERED: "today"}
        values = self._records(frame, fuel, names)
        if values is None:
            return None
        scale = self._scale.get(source, 1.0)
        fuel.reads += 1
        fuel.updated = self.clock.now()
        if INSTANTANEOUS_DEMAND in values and fuel.unit == "kWh":
            fuel.power_kw = int(values[INSTANTANEOUS_DEMAND]) * scale
        if CURRENT_SUMMATION_DELIVERED in values:
            fuel.total = int(values[CURRENT_SUMMATION_DELIVERED]) * scale
        fuel.today = int(values[CURRENT_DAY_CONSUMPTION_DELIVERED]) * scale \
            if CURRENT_DAY_CONSUMPTION_DELIVERED in values else None
        if PREVIOUS_DAY_CONSUMPTION_DELIVERED in values:
            fuel.yesterday = int(values[PREVIOUS_DAY_CONSUMPTION_DELIVERED]) * scale
        elif "yesterday" in fuel.hidden:
            fuel.yesterday = None
        if SUPPLY_STATUS in values:
            fuel.supply = _SUPPLY.get(int(values[SUPPLY_STATUS]), "?")
        if ACTIVE_REGISTER_TIER_DELIVERED in values:
            fuel.rate = int(values[ACTIVE_REGISTER_TIER_DELIVERED]) or None
        self._show()
        return None

    def _on_prepayment(self, ind: ApsIndication) -> bytes | None:
        frame, fuel = self._decoded(PREPAYMENT, ind), self._fuel(ind)
        if frame is None or fuel is None:
            return None
        values = self._records(frame, fuel, {CURRENT_DAY_COST_DELIVERED: "today's cost",
                                             PREVIOUS_DAY_COST_DELIVERED: "yesterday's cost"})
        if values is None:
            return None

        def pence(attr: int) -> float | None:
            return int(values[attr]) / UNITS_PER_PENNY if attr in values else None
        if PAYMENT_CONTROL_CONFIGURATION in values:
            fuel.prepayment = bool(int(values[PAYMENT_CONTROL_CONFIGURATION])
                                   & PREPAYMENT_MODE)
        fuel.credit_p = pence(CREDIT_REMAINING)
        fuel.emergency_credit_p = pence(EMERGENCY_CREDIT_REMAINING)
        fuel.debt_p = pence(ACCUMULATED_DEBT)
        fuel.today_cost_p = pence(CURRENT_DAY_COST_DELIVERED)
        if PREVIOUS_DAY_COST_DELIVERED in values or "yesterday's cost" in fuel.hidden:
            fuel.yesterday_cost_p = pence(PREVIOUS_DAY_COST_DELIVERED)
        self._show()
        return None

    def _on_price(self, ind: ApsIndication) -> bytes | None:
        frame, fuel = self._decoded(PRICE, ind), self._fuel(ind)
        if frame is None or fuel is None:
            return None
        if frame.header.frame_control.is_cluster:
            if frame.command.name == "publish_price":
                args = frame.args
                digits = int(args.price_trailing_digit_and_price_tier) >> 4
                fuel.price_p_per_kwh = int(args.price) / 10 ** digits
                fuel.rate = int(args.price_trailing_digit_and_price_tier) & 0x0F or fuel.rate
        elif _not_found(frame):
            fuel.price_p_per_kwh = None
        else:
            values = self._records(frame) or {}
            digits = int(values.get(PRICE_TRAILING_DIGIT, 0)) >> 4
            if STANDING_CHARGE in values:
                fuel.standing_charge_p = int(values[STANDING_CHARGE]) / 10 ** digits
            if CONVERSION_FACTOR in values and CALORIFIC_VALUE in values:
                cf = int(values[CONVERSION_FACTOR]) / 10 ** (
                    int(values.get(CONVERSION_FACTOR_TRAILING_DIGIT, 0)) >> 4)
                cv = int(values[CALORIFIC_VALUE]) / 10 ** (
                    int(values.get(CALORIFIC_VALUE_TRAILING_DIGIT, 0)) >> 4)
                fuel.kwh_per_unit = cf * cv / MJ_PER_KWH
        self._show()
        return None

    def _on_messaging(self, ind: ApsIndication) -> bytes | None:
        frame = self._decoded(MESSAGING, ind)
        if frame is None or self._fuel(ind) is None:     # only the meters' messages
            return None
        name = frame.command.name if frame.header.frame_control.is_cluster else None
        message = self.screen.message
        if name in ("display_message", "display_protected_message"):
            args = frame.args
            if message is None or message.id != args.message_id or message.text != \
                    str(args.message):
                message = Message(int(args.message_id), str(args.message), self.clock.now())
            if int(args.message_control) & CONFIRMATION_REQUIRED and not message.confirmed:
                self._command((ind.source, ind.source_endpoint), MESSAGING,
                              "message_confirmation", message_id=message.id,
                              confirmation_time=to_seconds(self.clock.now()))
                message = Message(message.id, message.text, message.received, True)
            self.screen.message = message
        elif name == "cancel_message":
            if message is not None and message.id == frame.args.message_id:
                self.screen.message = None
        elif name == "cancel_all_messages" or _not_found(frame):
            self.screen.message = None
        self._show()
        if name is None or frame.header.frame_control.disable_default_response:
            return None
        return general_command(GeneralCommand.Default_Response, Direction.Client_to_Server,
                               tsn=frame.header.tsn, disable_default_response=True,
                               command_id=frame.header.command_id,
                               status=Status.SUCCESS).encode()

    def _on_calendar(self, ind: ApsIndication) -> bytes | None:
        frame, fuel = self._decoded(CALENDAR, ind), self._fuel(ind)
        if frame is None or fuel is None:
            return None
        if frame.header.frame_control.is_cluster and frame.command.name == "publish_calendar":
            args = frame.args
            label = bytes(args.calendar_name).decode("latin-1") or "calendar"
            fuel.tariff = f"{label}: {int(args.number_of_day_profiles)} day profiles, " \
                          f"{int(args.number_of_seasons)} seasons"
        elif _not_found(frame):
            fuel.tariff = None
        return None

    def _on_device_management(self, ind: ApsIndication) -> bytes | None:
        frame, fuel = self._decoded(DEVICE_MANAGEMENT, ind), self._fuel(ind)
        if frame is None or fuel is None or fuel.name != "electricity":
            return None
        if frame.header.frame_control.is_cluster and \
                frame.command.name == "publish_change_of_tenancy":
            self.screen.tenancy_start = to_datetime(
                int(frame.args.implementation_date_time))
        elif _not_found(frame):
            self.screen.tenancy_start = None
        return None

    def _show(self) -> None:
        if self.display is not None:
            self.display.show(self.screen.lines())


def _not_found(frame: ZclFrame) -> bool:
    return (not frame.header.frame_control.is_cluster
            and frame.header.command_id == GeneralCommand.Default_Response
            and frame.args.status == Status.NOT_FOUND)
