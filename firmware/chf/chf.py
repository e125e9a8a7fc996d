"""The Communications Hub Function: a GbcsDevice that is also the HAN's coordinator.

- Its own commands: the core ASN.1 ones (credentials, firmware) through `GbcsDevice`,
  and its DLMS use cases (CCS device log, DBCH sub GHz) through `firmware.chf.cosem`.
- `deliver(data)` is the WAN side: a message for the CHF is processed here; one for a
  device in the device log goes to the injected `route(recipient, data)` (the lab wires
  the HAN tunnel); one for a device not in the log is dropped and logged.
- Device log changes raise CS14 (0x8F12 CHF Device Log Changed, with the new backup) to
  the DCC (the ACB's trust anchor, as the RTDS alerts show) and tell the injected
  `on_device_log_change` (the HAN trust centre follows the whitelist).
- The HAN time source: `zcl_time()` gives the ZCL Time cluster's Time (UTC seconds
  since 2000) and TimeStatus, master and synchronised once the WAN set the time.
- Mains power: `power_lost` / `power_restored` (last gasp, 3-minute rule).
- `han_report(eui, stats)` records what the HAN observes of a device (CCS06 reads it);
  `firmware_transferred` reports an image sent to a HAN device (CCS08).
- What the radio and the routing report become alerts to the DCC: duty cycle action
  (DBCH06), a message discarded by duty cycle management (DBCH10), no sub GHz capacity
  for a device (DBCH11), and a remote party message the hub could not deliver
  (`failed_to_deliver`: 0x8F84, message code 0x00D5).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable

from firmware.chf import cosem, logs
from firmware.chf.cosem import (
    DATA, DEVICE_LOG, GPF_DEVICE_LOG, KEY_ENTRY, OPERATING_CHANNEL, PROFILE_GENERIC,
    RANGE_DESCRIPTOR, RANGE_PARAMETERS, REGISTER_DEVICE, RESTORE_PAN, SUB_GHZ_CONFIGURATION,
    CHANNEL_LOG, ZIGBEE_NETWORK_CONTROL, AccessError, Table, expect, octets,
)
from firmware.chf.device_log import (
    INSTALL_CODE, LINK_KEY, UNKNOWN_TYPE, DeviceLog, DeviceLogError, HanStats, LogEntry,
)
from firmware.chf.power import RESTORATION_THRESHOLD, PowerSupply, WanNotice, WanSink
from firmware.chf.sub_ghz import LOG_COLUMNS, SubGhz, single_band
from firmware.core.credentials import DeviceCredentials, Role, TrustAnchors
from firmware.core.device import EVENT_LOG, ORIGINATOR_COUNTER, GbcsDevice
from firmware.core.hal import Clock, NonVolatileStore
from firmware.core.security import Accepted
from gbcs import asn1, dlms
from gbcs.axdr import (
    ARRAY, BIT_STRING, BOOLEAN, COMPACT_ARRAY, INTEGER, LONG_UNSIGNED, OCTET_STRING,
    STRUCTURE, UNSIGNED, axdr_value, data_node,
)
from gbcs.cosem import datetime_bytes
from gbcs.errors import GbcsDecodeError
from gbcs.message import peek_header
from gbcs.node import Node
from han.cbke.mmo import InstallCodeError, install_code_link_key
from han.crc import crc16_x25

CHF_DEVICE_TYPE = 2
DEVICE_LOG_KEY, GPF_LOG_KEY = "chf/device_log", "chf/gpf_device_log"
JOINING_KEY, JOIN_TIMEOUT_KEY = "chf/joining", "chf/join_timeout"
EXTENDED_PAN_KEY, STATS_KEY, TIME_SYNC_KEY = "chf/extended_pan_id", "chf/han_stats", \
    "chf/time_synchronised"
CS14, DBCH07, DBCH09, CCS08 = 0x0018, 0x0111, 0x0113, 0x0128
DBCH06, DBCH10, DBCH11, FAILURE_TO_DELIVER = 0x0110, 0x0114, 0x0115, 0x00D5
FIRMWARE_TRANSFER_ALERT = 0x8F8A
DEVICE_LOG_CHANGED, CHANNEL_CHANGED, CONFIGURATION_CHANGED = 0x8F12, 0x8F26, 0x8F2A
DUTY_CYCLE_ACTION, DUTY_CYCLE_DISCARD, NO_SUB_GHZ_CAPACITY = 0x8F20, 0x8F2C, 0x8F2D
NOT_DELIVERED = 0x8F84
TIME_MASTER, TIME_SYNCHRONISED = 0x01, 0x02
NEVER = bytes.fromhex("FFFFFFFFFFFFFFFFFF8000FF")
Route = Callable[[bytes, bytes], None]


class ChfError(ValueError):
    """A command the CHF cannot execute at all (not one of its payloads)."""


class Chf(GbcsDevice):
    device_type = CHF_DEVICE_TYPE

    def __init__(self, credentials: DeviceCredentials, anchors: TrustAnchors,
                 store: NonVolatileStore, clock: Clock, *,
                 sub_ghz_configuration: Node | None = None,
                 route: Route | None = None, wan: WanSink | None = None,
                 on_device_log_change: Callable[[list[LogEntry]], None] | None = None,
                 ) -> None:
        super().__init__(credentials, anchors, store, clock)
        self.route = route
        self.faults: set[tuple[int, bytes, int, bool]] = set()
        self.device_log = DeviceLog(store, DEVICE_LOG_KEY, self._device_log_changed)
        self.gpf_device_log = DeviceLog(store, GPF_LOG_KEY)
        self._on_device_log_change = on_device_log_change
        self.sub_ghz = SubGhz(store, sub_ghz_configuration or single_band())
        self.power = PowerSupply(store, lambda e: store.append(EVENT_LOG, e), wan)

    # -- the WAN side -------------------------------------------------------------------

    def deliver(self, data: bytes) -> list[bytes]:
        """A message from the WAN: the CHF's answer, or [] once routed or dropped. It
        routes by the header alone (`peek_header`), as a hub does: the content is for
        the recipient to decode and check."""
        try:
            recipient = peek_header(data).recipient
        except GbcsDecodeError:  # malformed header: the pipeline logs it
            return self.receive(data)
        if recipient == self.eui:
            return self.receive(data)
        if self.device_log.find(recipient) is None and \
                self.gpf_device_log.find(recipient) is None:
            self.store.append(EVENT_LOG, {"at": self.now().isoformat(),
                                          "event": "undeliverable",
                                          "recipient": recipient})
            return []
        if self.route is None:
            raise ChfError("no HAN route wired to deliver to "
                           f"{recipient.hex().upper()}")
        self.route(recipient, data)
        return []

    # -- the command pipeline -----------------------------------------------------------

    def execute(self, accepted: Accepted) -> Node:
        request = next((n for n in accepted.message.tree.walk() if n.name == "dlms"), None)
        if request is None or request.kind != "dlms.access-request":
            raise ChfError(f"{accepted.use_case.title}: the payload is no DLMS "
                           "Access-Request")
        return cosem.execute(self, request, TABLE)

    def log_access_failure(self, spec: Node, err: AccessError) -> None:
        self.store.append(EVENT_LOG, {"at": self.now().isoformat(),
                                      "event": "access_failed", "access": spec.human,
                                      "result": err.result_code, "detail": str(err)})

    # -- alerts -------------------------------------------------------------------------

    def dlms_alert(self, message_code: int, alert_code: int, payload: Node) -> None:
        """A CHF alert to the DCC (the ACB's anchor), invoke id = its counter."""
        dcc = self.anchors.get(Role.ACCESS_CONTROL_BROKER)
        if dcc is None:
            self.store.append(EVENT_LOG, {"at": self.now().isoformat(),
                                          "event": "alert_undeliverable",
                                          "detail": f"0x{alert_code:04X}: no ACB anchor"})
            return
        counter = int(self.store.get(ORIGINATOR_COUNTER, 0)) + 1
        body = dlms.alert_notification(alert_code, datetime_bytes(self.now()), [payload],
                                       invoke_id=counter)
        self.raise_alert(message_code, body, dcc)

    def _device_log_changed(self, entries: list[LogEntry]) -> None:
        self.dlms_alert(CS14, DEVICE_LOG_CHANGED, backup(self, self.device_log))
        if self._on_device_log_change is not None:
            self._on_device_log_change(entries)

    # -- the HAN side -------------------------------------------------------------------

    def han_report(self, eui: bytes, stats: HanStats) -> None:
        """What the HAN observed of a logged device."""
        if self.device_log.find(eui) is None:
            raise DeviceLogError(f"{eui.hex().upper()} is not in the device log")
        saved = dict(self.store.get(STATS_KEY) or {})
        saved[eui.hex()] = {
            "status": stats.status, "rssi": list(stats.rssi), "lqi": list(stats.lqi),
            "last_heard": stats.last_heard.isoformat() if stats.last_heard else None,
            "hops": stats.hops, "failures": stats.transmission_failures,
            "battery": list(stats.battery)}
        self.store.put(STATS_KEY, saved)

    def set_time_synchronised(self, synchronised: bool = True) -> None:
        """The WAN set (or lost) the hub's time."""
        self.store.put(TIME_SYNC_KEY, synchronised)

    def zcl_time(self) -> tuple[int, int]:
        """(Time, TimeStatus) the CHF serves as the HAN's time source."""
        status = TIME_MASTER | (TIME_SYNCHRONISED if self.store.get(TIME_SYNC_KEY) else 0)
        return cosem.unix2000(self.now()), status

    def power_lost(self) -> None:
        """Mains gone: the last gasp follows if it is still gone 3 minutes later."""
        if self.power.lost(self.now()):
            self.clock.schedule(lambda: self.power.confirm_outage(self.now()),
                                "chf outage notice", after=RESTORATION_THRESHOLD)

    def power_restored(self) -> WanNotice | None:
        return self.power.restored(self.now())

    def sub_ghz_channel_changed(self, mask: str, duty_cycle: int, reason: bytes) -> None:
        """The radio moved to another sub GHz channel: log it and raise DBCH07."""
        self.sub_ghz.change_channel(self.now(), mask, duty_cycle, reason)
        self.dlms_alert(DBCH07, CHANNEL_CHANGED, data_node("", [
            data_node("", mask, BIT_STRING), data_node("", reason, OCTET_STRING)],
            STRUCTURE))

    def duty_cycle_action(self, eui: bytes) -> None:
        """The sub GHz radio reached its limited duty cycle and restricted traffic to
        `eui`: DBCH06 (0x8F20)."""
        self.dlms_alert(DBCH06, DUTY_CYCLE_ACTION, data_node("", eui, OCTET_STRING))

    def duty_cycle_discard(self, message: bytes) -> None:
        """Duty cycle management discarded a remote party message: DBCH10 (0x8F2C) names
        it (originator, target, CRA flag, originator counter)."""
        self.dlms_alert(DBCH10, DUTY_CYCLE_DISCARD,
                        data_node("", remote_party_fields(message), OCTET_STRING))

    def sub_ghz_capacity_exhausted(self, eui: bytes) -> None:
        """A device could not be given a sub GHz slot: DBCH11 (0x8F2D) names it."""
        self.dlms_alert(DBCH11, NO_SUB_GHZ_CAPACITY, data_node("", eui, OCTET_STRING))

    def failed_to_deliver(self, message: bytes) -> None:
        """A remote party message the hub could not hand to its device in time (an
        unreachable meter, a GSME that did not collect it before the delivery timeout):
        logged, and 0x8F84 (message code 0x00D5) names it to the DCC."""
        fields = remote_party_fields(message)
        self.store.append(EVENT_LOG, {"at": self.now().isoformat(), "event": "not_delivered",
                                      "message": fields})
        self.dlms_alert(FAILURE_TO_DELIVER, NOT_DELIVERED,
                        data_node("", fields, OCTET_STRING))

    def firmware_transferred(self, eui: bytes, version: bytes, outcome: int) -> None:
        """The HAN finished sending a firmware image to a logged device: CCS08 (0x8F8A,
        signed) tells the DCC the outcome (FirmwareTransferResponseCode)."""
        if self.device_log.find(eui) is None and self.gpf_device_log.find(eui) is None:
            raise DeviceLogError(f"{eui.hex().upper()} is not in a device log")
        dcc = self.anchors.get(Role.ACCESS_CONTROL_BROKER)
        if dcc is None:
            raise ChfError("no ACB trust anchor to send the firmware transfer alert to")
        self.raise_alert(CCS08, asn1.firmware_transfer_alert(
            FIRMWARE_TRANSFER_ALERT, self.now(), eui, version, outcome), dcc)

    def extended_pan_id(self) -> bytes:
        return self.store.get(EXTENDED_PAN_KEY, self.eui)


def remote_party_fields(message: bytes) -> bytes:
    """Business originator and target, CRA flag and originator counter of a GBCS
    message (25 octets, as the hub's remote party message alerts carry them)."""
    try:
        h = peek_header(message)
    except GbcsDecodeError as err:
        raise ChfError(f"not a GBCS message to name in an alert: {err}") from None
    return (h.originator or bytes(8)) + (h.recipient or bytes(8)) + bytes([h.cra or 0]) + \
        (h.originator_counter or 0).to_bytes(8, "big")


# -- the objects' behaviour -------------------------------------------------------------


def _link_key(secret: bytes, kind: int) -> bytes:
    """The link key of an entry: given, or the AES-MMO hash of the install code (its
    CRC-16 appended when the code comes without it)."""
    if kind == LINK_KEY:
        return secret
    try:
        return install_code_link_key(secret)
    except InstallCodeError:
        return install_code_link_key(secret + crc16_x25(secret).to_bytes(2, "little"))


def register_device(chf: Chf, value: Node) -> None:
    expect(value, REGISTER_DEVICE, "register_device")
    eui, device_type, secret, kind = (axdr_value(c) for c in value.children)
    if kind not in (INSTALL_CODE, LINK_KEY):
        raise AccessError(cosem.OTHER_REASON, f"key kind {kind} is neither install code "
                          "nor link key")
    try:
        _link_key(bytes(secret), kind)
        chf.device_log.add(LogEntry(bytes(eui), device_type, bytes(secret), kind))
    except (DeviceLogError, InstallCodeError) as err:
        raise AccessError(cosem.OTHER_REASON, str(err)) from None


def unregister_device(chf: Chf, value: Node) -> None:
    expect(value, OCTET_STRING, "unregister_device")
    try:
        chf.device_log.remove(octets(value))
    except DeviceLogError as err:
        raise AccessError(cosem.OTHER_REASON, str(err)) from None


def backup(chf: Chf, log: DeviceLog) -> Node:
    """backup_PAN: {time of backup, extended PAN id, [{device id, link key}]}."""
    return data_node("", [
        data_node("", datetime_bytes(chf.now()), OCTET_STRING),
        data_node("", chf.extended_pan_id(), OCTET_STRING),
        data_node("", [data_node("", [data_node("", e.eui, OCTET_STRING),
                                      data_node("", _link_key(e.secret, e.secret_kind),
                                                OCTET_STRING)], STRUCTURE)
                       for e in log.entries()], ARRAY)], STRUCTURE)


def restore_pan(chf: Chf, value: Node) -> None:
    """restore_PAN: the predecessor hub's extended PAN id and device log (link keys)."""
    expect(value, RESTORE_PAN, "restore_PAN")
    pan, devices = value.children
    entries = []
    for entry in devices.children:
        expect(entry, KEY_ENTRY, "restore_PAN device")
        eui, key = (octets(c) for c in entry.children)
        if len(key) != 16:
            raise AccessError(cosem.OTHER_REASON, f"{eui.hex().upper()}: a link key is 16 "
                              f"bytes, not {len(key)}")
        known = chf.device_log.find(eui)  # a backup carries no device type
        entries.append(LogEntry(eui, known.device_type if known else UNKNOWN_TYPE, key,
                                LINK_KEY))
    try:
        chf.device_log.restore(entries)
    except DeviceLogError as err:
        raise AccessError(cosem.OTHER_REASON, str(err)) from None
    chf.store.put(EXTENDED_PAN_KEY, octets(pan))


def active_devices(chf: Chf, selection: object) -> Node:
    saved = chf.store.get(STATS_KEY) or {}
    out = []
    for entry in chf.device_log.entries():
        s = saved.get(entry.eui.hex())
        stats = HanStats() if s is None else HanStats(
            s["status"], tuple(s["rssi"]), tuple(s["lqi"]),
            _dt.datetime.fromisoformat(s["last_heard"]) if s["last_heard"] else None,
            s["hops"], s["failures"], tuple(s["battery"]))
        heard = datetime_bytes(stats.last_heard) if stats.last_heard else NEVER
        out.append(data_node("", [
            data_node("", entry.eui, OCTET_STRING), data_node("", stats.status, BIT_STRING),
            *(data_node("", v, INTEGER) for v in stats.rssi),
            *(data_node("", v, UNSIGNED) for v in stats.lqi),
            data_node("", heard, OCTET_STRING), data_node("", stats.hops, UNSIGNED),
            data_node("", stats.transmission_failures, UNSIGNED),
            *(data_node("", v, UNSIGNED) for v in stats.battery)], STRUCTURE))
    return data_node("", out, ARRAY)


def set_joining(chf: Chf, value: Node) -> None:
    expect(value, BOOLEAN, "enable_disable_joining")
    chf.store.put(JOINING_KEY, bool(axdr_value(value)))


def set_join_timeout(chf: Chf, value: Node) -> None:
    expect(value, LONG_UNSIGNED, "join_timeout")
    chf.store.put(JOIN_TIMEOUT_KEY, axdr_value(value))


def set_configuration(chf: Chf, value: Node) -> None:
    chf.sub_ghz.configure(value)
    chf.dlms_alert(DBCH09, CONFIGURATION_CHANGED, chf.sub_ghz.configuration())


def channel_log(chf: Chf, selection: tuple[int, Node] | None) -> Node:
    start = end = None
    if selection is not None:
        selector, params = selection
        if selector != RANGE_DESCRIPTOR:
            raise AccessError(cosem.OTHER_REASON, f"access selector {selector} unsupported")
        expect(params, RANGE_PARAMETERS, "range descriptor")
        start, end = (axdr_value(params.children[i]) for i in (1, 2))
    return data_node("", (LOG_COLUMNS, chf.sub_ghz.log(start, end)), COMPACT_ARRAY)


_LOG, _GPF = (ZIGBEE_NETWORK_CONTROL, DEVICE_LOG), (ZIGBEE_NETWORK_CONTROL, GPF_DEVICE_LOG)
TABLE: Table = {
    ("get", *_LOG, 2): lambda chf, sel: data_node("", bool(chf.store.get(JOINING_KEY)),
                                                  BOOLEAN),
    ("set", *_LOG, 2): set_joining,
    ("get", *_LOG, 3): lambda chf, sel: data_node("", chf.store.get(JOIN_TIMEOUT_KEY, 0),
                                                  LONG_UNSIGNED),
    ("set", *_LOG, 3): set_join_timeout,
    ("get", *_LOG, 4): active_devices,
    ("action", *_LOG, 1): register_device,
    ("action", *_LOG, 2): unregister_device,
    ("action", *_LOG, 4): lambda chf, _: backup(chf, chf.device_log),
    ("action", *_LOG, 5): restore_pan,
    ("action", *_GPF, 4): lambda chf, _: backup(chf, chf.gpf_device_log),
    ("get", DATA, SUB_GHZ_CONFIGURATION, 2): lambda chf, sel: chf.sub_ghz.configuration(),
    ("set", DATA, SUB_GHZ_CONFIGURATION, 2): set_configuration,
    ("get", DATA, OPERATING_CHANNEL, 2): lambda chf, sel: data_node(
        "", chf.sub_ghz.channel(), BIT_STRING),
    ("get", PROFILE_GENERIC, CHANNEL_LOG, 2): channel_log,
    **logs.TABLE,
}
