"""The PPMID: the prepayment meter interface device, a Type 1 HAN device that shows the
consumer the meters' credit, debt, emergency credit and supply state and sends the
consumer's top-ups (UTRNs keyed in), emergency credit activations and enable requests.

How it talks to each meter, as GBCS has it:
- the ESME, joined by Method A (CS03A2 on the PPMID, CS03A1 on the ESME; the HAN's CBKE
  gives both the APS link key): plain ZSE over the HAN. It reads the ESME's Prepayment
  and Metering attributes (every 10 s in the lab) and sends PECS01 ConsumerTopUp, PECS02
  SelectAvailableEmergencyCredit and PECS03 LocalChangeSupply (SupplyOn); the ESME
  answers with ZSE responses (`firmware.core.pecs`).
- the GSME, joined by Method C (CS03C on both, each given the other's SMKI Device KA
  certificate): GBCS. The PPMID sends PCS01 (top-up) and PCS02 (emergency credit) as
  GBZ commands MAC'd with the key agreed from its KA private key and the GSME's KA
  certificate; the CHF queues them for the sleepy GSME, which answers at its next wake
  with the GBZ response, MAC'd the same way back. It reads the gas prepayment state
  from the GPF's mirror in the hub (every 30 minutes in the lab), as the GSME sleeps.

Arm then enable: an armed electricity supply is enabled by the consumer's enable
request (PECS03). `EnablePolicy.ON_TOP_UP` sends it by itself once a top-up or
emergency credit is accepted while the supply is off or armed; `ON_BUTTON` waits for
the consumer's button. A gas valve is enabled only at the GSME (no PPMID command does).

The PPMID is also a GBCS device for the DCC: it executes the core ASN.1 commands
(credentials, join / unjoin, firmware) and nothing else. Firmware rules hold: no clock
but the board's, no radio of its own: the board carries the `HanFrame`s and `GbcsOut`s
it returns, and hands it what arrives (`on_frame`, `on_gbcs`).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from enum import Enum

import zigpy.types as t
from zigpy.zcl.foundation import Direction, GeneralCommand, Status

from firmware.core import firmware_image
from firmware.core.credentials import DeviceCredentials, Role, TrustAnchors
from firmware.core.device import ORIGINATOR_COUNTER, GbcsDevice
from firmware.core.hal import Clock, NonVolatileStore
from firmware.core.pecs import (
    ACCEPTED, CONSUMER_TOP_UP, LOCAL_CHANGE_SUPPLY, METERING, PREPAYMENT,
    SELECT_EMERGENCY_CREDIT, SUPPLY_ON,
)
from firmware.core.security import JOIN_LOG, Accepted
from firmware.core.zse import command_fields, to_seconds
from firmware.ppmid.display import SUPPLY_NAMES, Fuel, Screen
from gbcs import asn1, crypto, gbz, zcl
from gbcs.build import build_message, message_mac_key
from gbcs.certificates import parse_certificate
from gbcs.errors import GbcsError
from gbcs.message import decode
from gbcs.node import Node
from han.zcl.errors import ZclDecodeError
from han.zcl.frame import cluster_command, decode_frame, general_command

PCS01, PCS02 = 0x009B, 0x0090
PREPAYMENT_MODE = 0x0002   # PaymentControlConfiguration bit: prepayment
MIRROR_LAG = _dt.timedelta(minutes=30)   # the GSME syncs the GPF's mirror this often
_REPORTED = {(PREPAYMENT, 0x0001), (PREPAYMENT, 0x0002)}  # what PCS answers carry
ESME_TYPE, GSME_TYPE = 1, 0
IN_HOME_DISPLAY = 0x02  # ZSE OriginatingDevice the PPMID gives (as the RTDS PCS01 does)
UTRN_DIGITS = 20
CRA_RESPONSE = 2
PENDING = "ppmid/pending"   # originator counter -> what the PCS command was
READS = {PREPAYMENT: [0x0000, 0x0001, 0x0002, 0x0003, 0x0005, 0x0031], METERING: [0x0014]}
_ATTRIBUTE_FIELDS = {(PREPAYMENT, 0x0001): "credit", (PREPAYMENT, 0x0002): "emergency_credit",
                     (PREPAYMENT, 0x0003): "credit_status", (PREPAYMENT, 0x0005): "debt",
                     (PREPAYMENT, 0x0031): "low_credit_level"}
_RESULTS = {0x00: "accepted", 0x01: "invalid UTRN", 0x02: "UTRN already used",
            0x03: "error", 0x04: "maximum credit reached", 0x05: "keypad locked",
            0x06: "top-up too large"}


CS09_ALERT = 0x012B          # PPMID Firmware Activation Alert


class PpmidError(ValueError):
    """Something the PPMID cannot do as asked (a bad UTRN entry, no meter joined)."""


class EnablePolicy(str, Enum):
    """When the PPMID asks an armed electricity supply to enable."""

    ON_TOP_UP = "on_top_up"
    ON_BUTTON = "on_button"


@dataclass(frozen=True)
class HanFrame:
    """A ZCL frame for `to`'s Smart Energy endpoint (the ESME, or the hub for the GPF)."""

    to: bytes
    cluster_id: int
    frame: bytes


@dataclass(frozen=True)
class GbcsOut:
    """A GBCS command for `recipient`, through the CHF."""

    recipient: bytes
    message: bytes


Outgoing = HanFrame | GbcsOut


class Ppmid(GbcsDevice):
    """A PPMID (see module doc). `gas_proxy` is the GPF whose mirror it reads gas from."""

    device_type = 5

    def __init__(self, credentials: DeviceCredentials, anchors: TrustAnchors,
                 store: NonVolatileStore, clock: Clock, *,
                 policy: EnablePolicy = EnablePolicy.ON_BUTTON,
                 gas_proxy: bytes | None = None) -> None:
        super().__init__(credentials, anchors, store, clock)
        self.policy = EnablePolicy(policy)
        self.gas_proxy = gas_proxy
        self.screen = Screen()
        self._tsn = 0
        self._enable_after: set[int] = set()   # tsns of ESME top-ups / EC awaiting enable

    def execute(self, accepted: Accepted) -> Node:
        raise PpmidError(f"{accepted.use_case.title}: a PPMID executes only the "
                         "credentials, join and firmware commands")

    # -- firmware ------------------------------------------------------------------------

    def firmware_received(self, image: bytes, version: bytes) -> bytes:
        """An image from the hub (SRV 11.4, Update PPMID Firmware): a PPMID has no CS06,
        so it activates the image itself and tells its Supplier the outcome and the
        version it now runs (CS09, alert 8F8B). Returns the image's hash."""
        with self.store.transaction():
            digest = firmware_image.store_image(self.store, image, version)
            code, running = firmware_image.activate(self, digest)
            supplier = self.anchors.get(Role.SUPPLIER)
            if supplier is not None:
                self.raise_alert(CS09_ALERT, asn1.firmware_version_alert(
                    self.now(), running,
                    "success" if code == firmware_image.SUCCESS else "failure"), supplier)
        return digest

    # -- the meters it is joined to ------------------------------------------------------

    def meter(self, fuel: Fuel) -> bytes | None:
        """The EUI-64 of the joined meter of `fuel` (None when none is joined)."""
        wanted = ESME_TYPE if fuel is Fuel.ELECTRICITY else GSME_TYPE
        return next((e["eui"] for e in self.store.get(JOIN_LOG) or []
                     if e.get("type") == wanted), None)

    def _gsme_key(self) -> tuple[bytes, crypto.PublicKey]:
        entry = next((e for e in self.store.get(JOIN_LOG) or []
                      if e.get("type") == GSME_TYPE), None)
        if entry is None or not entry.get("certificate"):
            raise PpmidError("no GSME joined by Method C (its KA certificate is needed "
                             "to MAC PCS01 / PCS02)")
        try:
            cert = parse_certificate(entry["certificate"])
        except GbcsError as err:
            raise PpmidError(f"the GSME's join certificate: {err}") from None
        return entry["eui"], cert.public_key

    def _source(self, fuel: Fuel) -> bytes:
        eui = self.meter(Fuel.ELECTRICITY) if fuel is Fuel.ELECTRICITY else self.gas_proxy
        if eui is None:
            raise PpmidError(f"no {fuel.value} meter to read (join it first)")
        return eui

    # -- reading the meters ----------------------------------------------------------------

    def read_requests(self, fuel: Fuel) -> list[HanFrame]:
        """Read Attributes of the Prepayment and Metering clusters of `fuel`'s meter (the
        GPF's mirror for gas)."""
        to = self._source(fuel)
        return [HanFrame(to, cluster, general_command(
            GeneralCommand.Read_Attributes, Direction.Client_to_Server, tsn=self._next_tsn(),
            attribute_ids=[t.uint16_t(a) for a in attributes]).encode())
            for cluster, attributes in READS.items()]

    def on_frame(self, source: bytes, cluster_id: int, data: bytes) -> list[Outgoing]:
        """A ZCL frame from a meter (or the GPF): read responses fill the screen, PECS
        answers tell the consumer; what it sends in turn (an enable, per the policy)."""
        fuel = (Fuel.ELECTRICITY if source == self.meter(Fuel.ELECTRICITY) else
                Fuel.GAS if source == self.gas_proxy else None)
        if fuel is None:
            return []
        try:
            frame = decode_frame(cluster_id, data)
        except ZclDecodeError:
            self.screen.message = f"{fuel.value}: unreadable answer from the meter"
            return []
        header = frame.header
        if header.direction != Direction.Server_to_Client:
            return []
        if header.frame_control.is_general:
            if header.command_id == GeneralCommand.Read_Attributes_rsp:
                self._read(fuel, cluster_id, frame.args.status_records)
            elif header.command_id == GeneralCommand.Default_Response:
                return self._answered(fuel, cluster_id, header.tsn, frame.args.command_id,
                                      frame.args.status)
            return []
        if (cluster_id, header.command_id) == (PREPAYMENT, 0x03):  # ConsumerTopUpResponse
            return self._topped_up(fuel, header.tsn, frame.args.result_type,
                                   frame.args.top_up_value, frame.args.credit_remaining)
        return []

    def _read(self, fuel: Fuel, cluster_id: int, records: list) -> None:
        view = self.screen.view(fuel)
        # The GPF's mirror lags the GSME by up to a sync period: a credit the GSME itself
        # reported (answering PCS01) since then is newer than the mirror's.
        fresher = view.reported_at is not None and \
            self.now() - view.reported_at < MIRROR_LAG
        for record in records:
            if record.status != Status.SUCCESS:
                continue
            if fresher and (cluster_id, record.attrid) in _REPORTED:
                continue
            value = record.value.value
            if (cluster_id, record.attrid) == (METERING, 0x0014):
                view.supply = SUPPLY_NAMES.get(int(value), "?")
            elif (cluster_id, record.attrid) == (PREPAYMENT, 0x0000):
                view.prepayment = bool(int(value) & PREPAYMENT_MODE)
            elif (cluster_id, record.attrid) in _ATTRIBUTE_FIELDS:
                setattr(view, _ATTRIBUTE_FIELDS[(cluster_id, record.attrid)], int(value))
        view.updated = self.now()
        view.reads += 1

    # -- the consumer's actions ------------------------------------------------------------

    def enter_utrn(self, fuel: Fuel, utrn: str) -> list[Outgoing]:
        """The consumer keys in a 20-digit UTRN for `fuel`: PECS01 to the ESME, PCS01 to
        the GSME."""
        code = utrn.replace(" ", "").replace("-", "")
        if len(code) != UTRN_DIGITS or not code.isdigit():
            raise PpmidError(f"a UTRN is {UTRN_DIGITS} digits, not {utrn!r}")
        self.screen.message = f"{fuel.value}: top-up sent"
        if fuel is Fuel.ELECTRICITY:
            tsn = self._next_tsn()
            if self.policy is EnablePolicy.ON_TOP_UP:
                self._enable_after.add(tsn)
            return [HanFrame(self._esme(), PREPAYMENT, cluster_command(
                PREPAYMENT, "consumer_top_up", Direction.Client_to_Server, tsn=tsn,
                originating_device=IN_HOME_DISPLAY, top_up_code=t.LVBytes(code.encode())
            ).encode())]
        return [self._pcs(PCS01, zcl.zcl_command(
            PREPAYMENT, CONSUMER_TOP_UP, 0, originating_device=IN_HOME_DISPLAY,
            top_up_code=code.encode()), "top-up")]

    def select_emergency_credit(self, fuel: Fuel) -> list[Outgoing]:
        """The consumer accepts emergency credit: PECS02 to the ESME, PCS02 to the GSME."""
        now = to_seconds(self.now())
        self.screen.message = f"{fuel.value}: emergency credit requested"
        if fuel is Fuel.ELECTRICITY:
            tsn = self._next_tsn()
            if self.policy is EnablePolicy.ON_TOP_UP:
                self._enable_after.add(tsn)
            return [HanFrame(self._esme(), PREPAYMENT, cluster_command(
                PREPAYMENT, "select_available_emergency_credit", Direction.Client_to_Server,
                tsn=tsn, command_issue_date_time=t.UTCTime(now),
                originating_device=IN_HOME_DISPLAY).encode())]
        return [self._pcs(PCS02, zcl.zcl_command(
            PREPAYMENT, SELECT_EMERGENCY_CREDIT, 0, command_issue_date_time=now,
            originating_device=IN_HOME_DISPLAY), "emergency credit")]

    def press_enable(self, fuel: Fuel) -> list[Outgoing]:
        """The consumer's enable button on the PPMID: PECS03 to the ESME."""
        if fuel is Fuel.GAS:
            raise PpmidError("a gas supply is enabled only at the gas meter")
        self.screen.message = "electricity: enable requested"
        return [self._enable()]

    def _enable(self) -> HanFrame:
        return HanFrame(self._esme(), METERING, cluster_command(
            METERING, "local_change_supply", Direction.Client_to_Server,
            tsn=self._next_tsn(), proposed_supply_status=SUPPLY_ON).encode())

    def _esme(self) -> bytes:
        eui = self.meter(Fuel.ELECTRICITY)
        if eui is None:
            raise PpmidError("no ESME joined to this PPMID")
        return eui

    def _next_tsn(self) -> int:
        self._tsn = (self._tsn + 1) & 0xFF
        return self._tsn

    # -- answers to the consumer's actions -------------------------------------------------

    def _topped_up(self, fuel: Fuel, tsn: int, result: int, value: int,
                   credit: int) -> list[Outgoing]:
        view = self.screen.view(fuel)
        view.credit = int(credit)
        if result != ACCEPTED:
            self._enable_after.discard(tsn)
            self.screen.message = (f"{fuel.value}: top-up refused "
                                   f"({_RESULTS.get(result, f'result {result}')})")
            return []
        self.screen.message = f"{fuel.value}: top-up of £{int(value) / 100_000:,.2f} accepted"
        return self._maybe_enable(tsn)

    def _answered(self, fuel: Fuel, cluster_id: int, tsn: int, command_id: int,
                  status: int) -> list[Outgoing]:
        what = {(PREPAYMENT, SELECT_EMERGENCY_CREDIT): "emergency credit",
                (METERING, LOCAL_CHANGE_SUPPLY): "enable"}.get((cluster_id, command_id))
        if what is None:
            return []
        ok = status == Status.SUCCESS
        self.screen.message = f"{fuel.value}: {what} {'done' if ok else 'refused'}"
        if not ok:
            self._enable_after.discard(tsn)
            return []
        if what == "enable":
            self.screen.view(fuel).supply = "on"
        return self._maybe_enable(tsn)

    def _maybe_enable(self, tsn: int) -> list[Outgoing]:
        """Per the policy, enable the electricity supply the accepted credit armed."""
        if tsn not in self._enable_after:
            return []
        self._enable_after.discard(tsn)
        if self.screen.view(Fuel.ELECTRICITY).supply == "on":
            return []
        return [self._enable()]

    # -- GBCS with the GSME ----------------------------------------------------------------

    def _pcs(self, code: int, frame: Node, what: str) -> GbcsOut:
        """A PCS command to the joined GSME under the PPMID's next originator counter."""
        gsme, key = self._gsme_key()
        with self.store.transaction():
            counter = int(self.store.get(ORIGINATOR_COUNTER, 0)) + 1
            self.store.put(ORIGINATOR_COUNTER, counter)
            pending = dict(self.store.get(PENDING) or {})
            pending[str(counter)] = {"code": code, "what": what}
            self.store.put(PENDING, dict(list(pending.items())[-16:]))
        message = build_message(cra=1, originator_counter=counter, originator=self.eui,
                                recipient=gsme, message_code=code,
                                content=gbz.gbz_payload([gbz.component(PREPAYMENT, frame)]),
                                mac_keys=(self.credentials.ka, key))
        return GbcsOut(gsme, message)

    def on_gbcs(self, data: bytes) -> bool:
        """The GSME's response to a PCS command (through the CHF): checked (from the
        joined GSME, to this PPMID, MAC'd with the agreed key, answering a command it
        sent) and shown. False when it is not one, which changes nothing."""
        try:
            msg = decode(data, verify=False)
            gsme, key = self._gsme_key()
        except (GbcsError, PpmidError):
            return False
        h = msg.header
        pending = dict(self.store.get(PENDING) or {})
        sent = pending.get(str(h.originator_counter))
        if (h.cra != CRA_RESPONSE or h.originator != gsme or h.recipient != self.eui
                or h.mac is None or sent is None or sent["code"] != h.message_code):
            return False
        mac_key = message_mac_key(self.credentials.ka, key, cra=h.cra,
                                  originator=h.originator,
                                  originator_counter=h.originator_counter, recipient=h.recipient)
        aad = crypto.MAC_AAD_PREFIX + data[h.signing_start:h.signing_end]
        if not crypto.mac_valid(mac_key, crypto.iv_for(h.originator), aad, h.mac):
            return False
        del pending[str(h.originator_counter)]
        self.store.put(PENDING, pending)
        self._show_gas(sent["what"], msg.tree)
        return True

    def _show_gas(self, what: str, tree: Node) -> None:
        frame = next((n for n in tree.walk() if n.name == "zcl"), None)
        if frame is None:
            self.screen.message = f"gas: {what}: no answer in the response"
            return
        _, command_id, fields = command_fields(PREPAYMENT, frame)
        if command_id == 0x03 and "result_type" in fields:    # ConsumerTopUpResponse
            view = self.screen.view(Fuel.GAS)
            view.credit, view.reported_at = fields["credit_remaining"], self.now()
            result = fields["result_type"]
            self.screen.message = (
                f"gas: top-up of £{fields['top_up_value'] / 100_000:,.2f} accepted; press "
                "the button on the gas meter if its supply is armed" if result == ACCEPTED
                else f"gas: top-up refused ({_RESULTS.get(result, f'result {result}')})")
            return
        status = next((n.value for n in frame.walk() if n.name == "status"), None)
        self.screen.message = (f"gas: {what} {'done' if status == 0 else 'refused'}"
                               if status is not None else f"gas: {what}: answered")
