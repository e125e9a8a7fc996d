"""Conformance replay: the RTDS commands fed to emulated devices, their responses
compared with the RTDS responses.

A case is one COMMAND file and the RESPONSE file of the same name. Each device kind
(`device_types`: ESME, GSME, GPF, CHF) runs the payload kinds it executes (DLMS for the
ESME, GBZ for the gas devices, both for the CHF, and the ASN.1 use cases every device
shares: firmware.core.device DER_HANDLERS); other cases are counted as skipped, saying
why. A new CHF lists the premises' HAN devices in its device log. The device a case goes to is the use case's one target
device, or, for a use case several kinds execute (GSME or GPF reads), the kind of its
recipient EUI (`eui_kinds`: what the use cases only one kind executes address to it).
Each device carries the command's recipient EUI with keys made here; every command is
re-MAC'd for it with the ACB's KA private key from the key store (the supplier's
signature, which does not cover the MAC, stays). RTDS originator counters repeat from
folder to folder, so each folder runs on fresh devices (an ESME of the variant its case
names (SINGLE, TWIN, POLYPHASE) or, when unnamed, the first variant that has every
object the command addresses); commands go in counter order, a fresh device taking over
when a counter is not above the last one or an earlier case replaced the originator's
trust anchor (the RTDS cases are written against the first anchors). A GSME has metered three days of gas before
RTDS time (so its logs hold entries) and a GPF has mirrored such a GSME. The alerts a
case is expected to raise later (the folder's `<code>_<case>_ALERT_*` files, e.g. 8F66
for a future-dated command) are checked after running the device's virtual clock to
their time.

An ERROR case is the SUCCESS command again, answered with hardware failure: the board's
fault-injection hook marks broken the attribute (or method, or ZCL command) the RTDS
ERROR response fails. The comparison is structural, as values depend on meter state:
same message code, CRA flag, form (MAC'd or signed), date-time presence; for DLMS the
result kinds and codes, and for every data item its A-XDR type tree (array lengths,
string lengths and values may differ; compact-array type descriptions must match;
protected data is compared after decryption); for GBZ, per command component, the
response kind, encryption, statuses, attribute records and the field-name tree of data
responses (`gbz_diff`; encrypted components compared after decryption).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

import importlib
import inspect
import os
from collections.abc import Callable

from boards.nvm import SqliteStore
from boards.peripherals import VirtualValve
from boards.simulator import Simulator
from cryptography.hazmat.primitives import serialization
from firmware.chf.device_log import LINK_KEY, LogEntry
from firmware.core.credentials import DeviceCredentials, Role, TrustAnchor, TrustAnchors
from firmware.core.device import DER_HANDLERS, GbcsDevice
from firmware.core.zse import Fault
from firmware.esme.cosem import FaultKey
from firmware.esme.esme import Esme
from firmware.esme.objects import Variant, build
from firmware.gpf.gpf import Gpf
from firmware.gsme.gsme import Gsme
from gbcs import crypto, gbz
from gbcs.axdr import (
    ARRAY, COMPACT_ARRAY, STRUCTURE, TYPE_NAMES, data_tag,
)
from gbcs.build import mac_header, message_mac_key
from gbcs.certificates import parse_certificate
from gbcs.cosem import parse_datetime
from gbcs.errors import GbcsDecodeError, GbcsError
from gbcs.keystore import DS, KA, KeyPair, Keystore
from gbcs.message import DEFAULT_ACB, DecodedMessage, decode
from gbcs.node import Node, encode
from gbcs.usecases import ASN1, DLMS, GBZ, UseCase, by_code

RTDS_TIME = _dt.datetime(2015, 1, 1, tzinfo=_dt.UTC)  # the RTDS responses' date-time
RTDS_EPOCH = _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)  # ZCL times count from here
WARM_UP = _dt.timedelta(days=3)  # gas meters run this long before the first command
COMMAND, RESPONSE = "_COMMAND_GBCS.HEX", "_RESPONSE_GBCS.HEX"
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
VARIANT_WORDS = (("TWIN", Variant.TWIN_ELEMENT), ("SINGLE", Variant.SINGLE_ELEMENT),
                 ("POLY", Variant.POLYPHASE))


class ConformanceError(Exception):
    """PATH or the key store cannot be used."""


@dataclass(frozen=True)
class Difference:
    path: str
    expected: str
    got: str

    def to_json(self) -> dict:
        return {"path": self.path, "expected": self.expected, "got": self.got}


@dataclass
class Case:
    name: str
    folder: str
    label: str
    command: bytes
    expected: bytes | None
    alerts: list[bytes] = field(default_factory=list)
    message: DecodedMessage | None = None

    @property
    def error(self) -> bool:
        return self.label.endswith("ERROR")


@dataclass
class CaseResult:
    case: str
    status: str
    differences: list[Difference] = field(default_factory=list)
    reason: str = ""

    def to_json(self) -> dict:
        out = {"case": self.case, "status": self.status,
               "differences": [d.to_json() for d in self.differences]}
        if self.reason:
            out["reason"] = self.reason
        return out


def _hex(path: Path) -> bytes:
    return bytes.fromhex("".join(path.read_text().split()))


def find_cases(path: Path) -> list[Case]:
    """Every COMMAND file under `path` with its RESPONSE (None when the RTDS has none)."""
    if not path.exists():
        raise ConformanceError(f"{path}: no such file or folder")
    files = [path] if path.is_file() else sorted(path.rglob("*" + COMMAND))
    alerts = _alert_files(path.parent if path.is_file() else path)
    cases = []
    for file in files:
        if not file.name.endswith(COMMAND):
            continue
        parts = file.name[:-len(COMMAND)].split("_", 2)
        label = parts[2] if len(parts) == 3 else parts[-1]
        response = file.with_name(file.name[:-len(COMMAND)] + RESPONSE)
        try:
            command = _hex(file)
            expected = _hex(response) if response.exists() else None
        except ValueError as err:
            raise ConformanceError(f"{file}: not hex: {err}") from None
        cases.append(Case(f"{file.parent.name}/{label}", file.parent.name, label, command,
                          expected, alerts.get((file.parent, label), [])))
    return cases


def _alert_files(path: Path) -> dict[tuple[Path, str], list[bytes]]:
    """The alerts a case is expected to raise later: files named
    `<UC>_<section>_<alert code>_<case label>_ALERT_<what>_GBCS.HEX`."""
    found: dict[tuple[Path, str], list[bytes]] = {}
    for file in sorted(path.rglob("*_ALERT_*_GBCS.HEX")):
        parts = file.name.split("_", 3)
        if len(parts) < 4 or "_ALERT_" not in "_" + parts[3]:
            continue
        label = ("_" + parts[3]).split("_ALERT_")[0].lstrip("_")
        try:
            found.setdefault((file.parent, label), []).append(_hex(file))
        except ValueError as err:
            raise ConformanceError(f"{file}: not hex: {err}") from None
    return found


# -- the remote parties -------------------------------------------------------------


@dataclass
class Parties:
    keystore: Keystore
    acb: bytes
    roles: dict[bytes, Role]

    @classmethod
    def load(cls, keystore: Keystore, acb: bytes = DEFAULT_ACB) -> Parties:
        roles: dict[bytes, Role] = {}
        for (eui, usage, _pp), pairs in keystore.pairs.items():
            cert = pairs[0].certificate
            if usage != DS or cert is None:
                continue
            parsed = parse_certificate(cert.public_bytes(serialization.Encoding.DER))
            if parsed.kind == "organisation" and parsed.role_name:
                try:
                    roles[eui] = Role(parsed.role_name)
                except ValueError:
                    continue
        if not keystore.private_keys(acb, KA):
            raise ConformanceError(f"the key store has no KA private key for the ACB "
                                   f"{acb.hex().upper()}")
        return cls(keystore, acb, roles)

    def anchors(self, senders: set[bytes]) -> TrustAnchors:
        """One anchor per role: the party of that role that sends to this device, else
        the first in the key store."""
        anchors = TrustAnchors()
        for eui in sorted(self.roles, key=lambda e: (e in senders, e), reverse=True):
            role = self.roles[eui]
            if anchors.get(role) is None:
                ds, ka = (self.keystore.public_keys(eui, u) for u in (DS, KA))
                anchors.set(TrustAnchor(role, eui, ds[0] if ds else None,
                                        ka[0] if ka else None))
        return anchors

    def remac(self, data: bytes, msg: DecodedMessage, device_ka: crypto.PublicKey) -> bytes:
        h = msg.header
        if h.mac is None:
            return data
        key = message_mac_key(self.keystore.private_keys(self.acb, KA)[0], device_ka,
                              cra=h.cra, originator=h.originator,
                              originator_counter=h.originator_counter, recipient=h.recipient)
        return mac_header(data[h.signing_start:h.signing_end], key, h.originator,
                          h.invocation_counter or 0)


# -- structural comparison --------------------------------------------------------------


def _type(node: Node) -> str:
    tag = data_tag(node)
    return TYPE_NAMES.get(tag, node.kind) if tag is not None else node.kind


def _plaintext(node: Node) -> Node | None:
    view = next((n for n in node.walk() if n.name == "plaintext" and n.kind == "view"), None)
    return view.children[0] if view is not None and view.children else None


def shape_diff(expected: Node, got: Node, path: str) -> list[Difference]:
    """Where the A-XDR type trees differ (lengths and values aside)."""
    te, tg = data_tag(expected), data_tag(got)
    if te != tg:
        return [Difference(path, _type(expected), _type(got))]
    if te == COMPACT_ARRAY:
        de, dg = encode(expected.children[0]), encode(got.children[0])
        if de != dg:
            return [Difference(path + ".type_description", expected.children[0].human or "",
                               got.children[0].human or "")]
        return []
    if te == STRUCTURE:
        if len(expected.children) != len(got.children):
            return [Difference(path, f"structure of {len(expected.children)}",
                               f"structure of {len(got.children)}")]
        out = []
        for i, (e, g) in enumerate(zip(expected.children, got.children)):
            out += shape_diff(e, g, f"{path}[{i}]")
        pe, pg = _plaintext(expected), _plaintext(got)
        if pe is not None or pg is not None:
            if pe is None or pg is None:
                out.append(Difference(path + ".plaintext", "decrypted" if pe else "absent",
                                      "decrypted" if pg else "undecrypted"))
            else:
                out += shape_diff(pe, pg, path + ".plaintext")
        return out
    if te == ARRAY:
        out = []
        for i, (e, g) in enumerate(zip(expected.children, got.children)):
            out += shape_diff(e, g, f"{path}[{i}]")
        return out
    return []


def _dlms(msg: DecodedMessage) -> Node | None:
    return next((n for n in msg.tree.walk() if n.name == "dlms"), None)


def compare(expected: DecodedMessage, got: DecodedMessage,
            command: DecodedMessage | None = None) -> list[Difference]:
    he, hg = expected.header, got.header
    out = []
    for what, e, g in (("message_code", f"0x{he.message_code:04X}", f"0x{hg.message_code:04X}"),
                       ("cra_flag", he.cra, hg.cra), ("form", he.form, hg.form),
                       ("date_time", he.date_time is not None, hg.date_time is not None),
                       ("signature", he.signature is not None, hg.signature is not None)):
        if e != g:
            out.append(Difference(f"header.{what}", str(e), str(g)))
    for what, status in (("signature", got.signature), ("mac", got.mac)):
        if status not in ("valid", "absent"):
            out.append(Difference(f"header.{what}", "valid", status))
    ze, zg = _gbz(expected), _gbz(got)
    if ze is not None or zg is not None:
        if ze is None or zg is None:
            return out + [Difference("content", "gbz" if ze else "other",
                                     "gbz" if zg else "other")]
        zc = _gbz(command) if command is not None else None
        if zc is not None and expected.header.cra == 2:
            out += gbz_diff(zc, ze, zg)
        return out
    de, dg = _dlms(expected), _dlms(got)
    if de is None or dg is None:
        if (de is None) != (dg is None):
            out.append(Difference("content", "dlms" if de else "other", "dlms" if dg else "other"))
        return out
    if de.kind != dg.kind:
        return out + [Difference("dlms", de.kind, dg.kind)]
    if de.kind != "dlms.access-response":
        return out
    re_, rg = (d["access_response_specification"].children for d in (de, dg))
    if len(re_) != len(rg):
        return out + [Difference("dlms.results", f"{len(re_)} results", f"{len(rg)} results")]
    for i, (e, g) in enumerate(zip(re_, rg)):
        if e.human != g.human:
            out.append(Difference(f"dlms.result[{i}]", e.human or "", g.human or ""))
    items_e, items_g = (d["access_response_list_of_data"].children for d in (de, dg))
    if len(items_e) != len(items_g):
        return out + [Difference("dlms.data", f"{len(items_e)} items", f"{len(items_g)} items")]
    for i, (e, g) in enumerate(zip(items_e, items_g)):
        out += shape_diff(e, g, f"dlms.data[{i}]")
    return out


# -- GBZ comparison ---------------------------------------------------------------------

DEFAULT_RESPONSE = 0x0B
NOT_FOUND = 0x8B
# Frame-control bits that carry meaning in a response: frame type and direction (the
# RTDS sets "disable default response" on some data responses and not on others).
_FC_MASK = 0x0B


def _gbz(msg: DecodedMessage) -> Node | None:
    return next((n for n in msg.tree.walk() if n.name == "gbz"), None)


def _components(payload: Node) -> list[Node]:
    return [c for c in payload.children if c.name == "component"]


def _frame(comp: Node) -> Node:
    return comp["zcl"]


def _zcl_payload(comp: Node) -> Node | None:
    last = _frame(comp).children[-1]
    if last.name == "encrypted_payload":
        view = next((c for c in last.children if c.name == "decrypted"), None)
        return view.children[0] if view is not None else None
    return last


def _is_default(comp: Node) -> bool:
    fc = _frame(comp)["frame_control"].value
    return fc & 0x03 == 0 and _frame(comp)["command_id"].value == DEFAULT_RESPONSE


def _kind(comp: Node) -> tuple:
    """What a response component is: cluster, frame type and direction, command (the
    direction of a Default Response aside: the RTDS answers commands of one direction
    with Default Responses in either)."""
    fc = _frame(comp)["frame_control"].value
    mask = 0x03 if _is_default(comp) else _FC_MASK
    return comp["cluster_id"].value, fc & mask, _frame(comp)["command_id"].value


def split_responses(commands: list[Node], responses: list[Node]) -> list[list[Node]] | None:
    """The response components of each command component: one each, except a data
    response may run over several frames (e.g. a day profile per day asked), taken while
    more frames remain than commands."""
    out: list[list[Node]] = []
    i = 0
    for n in range(len(commands)):
        if i >= len(responses):
            return None
        group = [responses[i]]
        i += 1
        if not _is_default(group[0]):
            while (i < len(responses) and len(responses) - i > len(commands) - n - 1
                   and _kind(responses[i]) == _kind(group[0])):
                group.append(responses[i])
                i += 1
        out.append(group)
    return out if i == len(responses) else None


def _status(comp: Node) -> int | None:
    payload = _zcl_payload(comp)
    return payload["status"].value if payload is not None and _is_default(comp) else None


def _names(node: Node, depth: int = 0) -> str:
    """The field-name tree of a ZCL payload: names and nesting, not values or lengths
    (a repeated item's shape is its first item's)."""
    if not node.children or depth > 8:
        return node.name
    kids: list[str] = []
    for child in node.children:
        text = _names(child, depth + 1)
        if not kids or kids[-1] != text:
            kids.append(text)
    return f"{node.name}({','.join(kids)})"


def _read_records(comp: Node) -> list[tuple]:
    payload = _zcl_payload(comp)
    out = []
    for record in payload.children if payload is not None else []:
        status = record["status"].value
        dtype = record.get("data_type")
        out.append((record["attribute_id"].value, status,
                    dtype.value if dtype is not None else None))
    return out


def _text(comp: Node) -> str:
    cluster, fc, command = _kind(comp)
    status = _status(comp)
    extra = f" status 0x{status:02X}" if status is not None else ""
    return f"cluster 0x{cluster:04X} fc 0x{fc:02X} command 0x{command:02X}{extra}"


def gbz_diff(command: Node, expected: Node, got: Node) -> list[Difference]:
    """Where two GBZ responses to `command` differ in structure: per command component,
    the response kind (cluster, frame type and direction, command), encryption, Default
    Response statuses, Read Attributes records (attribute, status, data type) and the
    field-name tree of data responses. What depends on meter state is not compared:
    values, how many frames a log read returns, and whether a log read found an entry
    (a data response) or not (NOT_FOUND), as array lengths are not for DLMS."""
    commands = _components(command)
    ge, gg = (split_responses(commands, _components(p)) for p in (expected, got))
    if ge is None or gg is None:
        return [Difference("gbz.components", f"{len(_components(expected))} components",
                           f"{len(_components(got))} components")]
    out: list[Difference] = []
    for i, (e, g) in enumerate(zip(ge, gg)):
        path = f"gbz.component[{i}]"
        de, dg = _is_default(e[0]), _is_default(g[0])
        if de != dg:
            if NOT_FOUND in (_status(e[0]), _status(g[0])):
                continue  # a log read with or without an entry: meter state
            out.append(Difference(path, _text(e[0]), _text(g[0])))
            continue
        if _kind(e[0]) != _kind(g[0]) or _status(e[0]) != _status(g[0]):
            out.append(Difference(path, _text(e[0]), _text(g[0])))
            continue
        ce, cg = (c[0]["extended_header_control"].value & gbz.ENCRYPTED for c in (e, g))
        if ce != cg:
            out.append(Difference(path + ".encrypted", str(bool(ce)), str(bool(cg))))
        pe, pg = _zcl_payload(e[0]), _zcl_payload(g[0])
        if pe is None or pg is None:
            if (pe is None) != (pg is None):
                out.append(Difference(path + ".payload", "decrypted" if pe else "undecrypted",
                                      "decrypted" if pg else "undecrypted"))
            continue
        if pe.name == "read_attributes_response":
            re_, rg = _read_records(e[0]), _read_records(g[0])
            if re_ != rg:
                out.append(Difference(path + ".records", _records_text(re_),
                                      _records_text(rg)))
        elif not de and _names(pe) != _names(pg):
            out.append(Difference(path + ".fields", _names(pe), _names(pg)))
    return out


def _records_text(records: list[tuple]) -> str:
    return ", ".join(f"0x{a:04X}:{s:02X}" + (f"/{t:02X}" if t is not None else "")
                     for a, s, t in records)


def gbz_fault(command: Node, expected: Node) -> Fault | None:
    """The access the RTDS ERROR response fails with hardware failure (0xC0): in the
    component before the trailing "not executed" Default Responses (to 0xFF)."""
    comps = _components(expected)
    trailing = 0
    for comp in reversed(comps):
        if _is_default(comp) and _zcl_payload(comp)["command_id"].value == 0xFF:
            trailing += 1
        else:
            break
    index = len(_components(command)) - trailing - 1
    for comp in comps:
        payload = _zcl_payload(comp)
        if payload is None:
            continue
        cluster = comp["cluster_id"].value
        if _is_default(comp) and payload["status"].value == 0xC0:
            return Fault(cluster, payload["command_id"].value, True, index)
        if payload.name == "read_attributes_response":
            for attribute, status, _ in _read_records(comp):
                if status == 0xC0:
                    return Fault(cluster, attribute, False, index)
    return None


def _notification(msg: DecodedMessage) -> Node | None:
    node = _dlms(msg)
    return node.get("notification_body") if node is not None else None


def _alert_time(msg: DecodedMessage) -> _dt.datetime | None:
    payload = _gbz(msg)
    if payload is not None:
        stamp = payload.get("timestamp")
        return (RTDS_EPOCH + _dt.timedelta(seconds=stamp.value)) if stamp is not None else None
    body = _notification(msg)
    stamp = body.get("timestamp") if body is not None else None
    return parse_datetime(stamp.value) if stamp is not None and stamp.value else None


def _alert_key(msg: DecodedMessage) -> tuple:
    payload = _gbz(msg)
    if payload is not None:
        return (msg.header.message_code, *(encode(c) for c in payload.children
                                           if c.name != "timestamp"))
    body = _notification(msg)
    if body is None:
        return (msg.header.message_code, encode(msg.tree))
    return (msg.header.message_code, *(encode(c) for c in body.children
                                       if c.name != "timestamp"))


def _alert_text(msg: DecodedMessage) -> str:
    payload = _gbz(msg)
    if payload is not None:
        return "; ".join(c.human or c.name for c in payload.children)
    body = _notification(msg)
    return (body.human or "") + ": " + "; ".join(
        c.human or "" for c in (body.children[2:] if body is not None else []))


# -- the replay -----------------------------------------------------------------------


def _specs(msg: DecodedMessage) -> list[Node]:
    request = _dlms(msg)
    if request is None or request.kind != "dlms.access-request":
        return []
    return request["access_request_specification"].children


def _variant(case: Case, specs: list[Node]) -> Variant:
    for word, variant in VARIANT_WORDS:
        if word in case.label:
            return variant
    wanted = {(s.children[0].children[0].value, s.children[0].children[1].value)
              for s in specs}
    for variant in Variant:
        if wanted <= set(_objects(variant)):
            return variant
    return Variant.SINGLE_ELEMENT


_OBJECTS: dict[Variant, set] = {}


def _objects(variant: Variant) -> set:
    if variant not in _OBJECTS:
        _OBJECTS[variant] = set(build(variant, lambda ctx, plain: None))
    return _OBJECTS[variant]


def _fault(case: Case, expected: DecodedMessage, specs: list[Node]) -> FaultKey | None:
    """The access the RTDS ERROR response fails with hardware-fault."""
    response = _dlms(expected)
    if response is None or response.kind != "dlms.access-response":
        return None
    for i, result in enumerate(response["access_response_specification"].children):
        if result.children[0].value == 1 and i < len(specs):
            class_id, obis, ident = (c.value for c in specs[i].children[0].children)
            return FaultKey(class_id, obis, ident, specs[i].kind == "dlms.action")
    return None


class GasDayLoad:
    """A premises' gas draw for the replay's warm-up: a boiler's morning and evening
    peaks over a low base (litres per half hour, deterministic)."""

    PEAKS = {6: 180, 7: 220, 8: 120, 17: 150, 18: 200, 19: 160, 20: 120}

    def volume_litres(self, start: _dt.datetime, end: _dt.datetime) -> int:
        return round(self.PEAKS.get(start.hour, 20) * (end - start).total_seconds() / 1800)


@dataclass(frozen=True)
class DeviceType:
    """An emulated device kind: the payload kinds it executes and how the replay makes
    one (`make(replay, eui, senders, variant)`)."""

    name: str
    payloads: frozenset[str]
    make: Callable[[Replay, bytes, set[bytes], Variant | None], GbcsDevice]


def _make_esme(replay: Replay, eui: bytes, senders: set[bytes],
               variant: Variant | None) -> GbcsDevice:
    ds, ka = replay.device_keys(eui)
    return Esme(DeviceCredentials(eui, ds, ka), replay.parties.anchors(senders),
                SqliteStore(), Simulator(RTDS_TIME, keep_trace=False),
                variant or Variant.SINGLE_ELEMENT)


def _warm_gsme(replay: Replay, eui: bytes, senders: set[bytes], sim: Simulator,
               on_sync: Callable[[dict], None] | None = None) -> Gsme:
    """A GSME that has metered `WARM_UP` of gas by RTDS time (so its logs have data),
    then stops its wake cycle: the replay runs its clock to alert times years ahead."""
    ds, ka = replay.device_keys(eui)
    meter = Gsme(DeviceCredentials(eui, ds, ka), replay.parties.anchors(senders),
                 SqliteStore(), sim, VirtualValve(sim), load=GasDayLoad(), on_sync=on_sync)
    sim.run_until(RTDS_TIME)
    meter.stop_waking()
    return meter


def _make_gsme(replay: Replay, eui: bytes, senders: set[bytes],
               variant: Variant | None) -> GbcsDevice:
    return _warm_gsme(replay, eui, senders,
                      Simulator(RTDS_TIME - WARM_UP, keep_trace=False))


def _make_gpf(replay: Replay, eui: bytes, senders: set[bytes],
              variant: Variant | None) -> GbcsDevice:
    """A GPF whose mirror a GSME has kept in sync through the warm-up."""
    sim = Simulator(RTDS_TIME - WARM_UP, keep_trace=False)
    ds, ka = replay.device_keys(eui)
    gpf = Gpf(DeviceCredentials(eui, ds, ka), replay.parties.anchors(senders), SqliteStore(),
              sim)
    _warm_gsme(replay, eui[:-1] + bytes([eui[-1] ^ 0xFF]), senders, sim, gpf.sync)
    return gpf


def device_types() -> dict[str, DeviceType]:
    """The emulated device kinds; the CHF joins when its firmware is there."""
    types = {
        "ESME": DeviceType("ESME", frozenset({DLMS, ASN1}), _make_esme),
        "GSME": DeviceType("GSME", frozenset({GBZ, ASN1}), _make_gsme),
        "GPF": DeviceType("GPF", frozenset({GBZ, ASN1}), _make_gpf),
    }
    chf = _chf_class()
    if chf is None:
        return types

    def make_chf(replay: Replay, eui: bytes, senders: set[bytes],
                 variant: Variant | None) -> GbcsDevice:
        ds, ka = replay.device_keys(eui)
        hub = chf(DeviceCredentials(eui, ds, ka), replay.parties.anchors(senders),
                  SqliteStore(), Simulator(RTDS_TIME, keep_trace=False))
        _install(hub, replay.premises)
        return hub
    types["CHF"] = DeviceType("CHF", frozenset({DLMS, GBZ, ASN1}), make_chf)
    return types


# The GBCS device types of the HAN devices a CHF's device log lists (the GPF lives in
# the hub itself).
_LOGGED_TYPES = {"ESME": 1, "GSME": 0, "PPMID": 5}


def _install(hub: GbcsDevice, premises: dict[bytes, str]) -> None:
    """List the premises' HAN devices in a new CHF's device log, each with a fresh
    link key, as an installed hub has them."""
    for eui, kind in sorted(premises.items()):
        if kind in _LOGGED_TYPES:
            hub.device_log.add(LogEntry(eui, _LOGGED_TYPES[kind], os.urandom(16), LINK_KEY))


def _chf_class() -> type | None:
    """The CHF firmware class when it is there and takes what every device takes
    (credentials, anchors, store, clock), its other parameters having defaults."""
    for module in ("firmware.chf", "firmware.chf.chf"):
        try:
            chf = getattr(importlib.import_module(module), "Chf", None)
        except ImportError:
            continue
        if chf is None:
            continue
        params = list(inspect.signature(chf).parameters.values())[4:]
        if all(p.default is not p.empty or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
               for p in params):
            return chf
    return None


def eui_kinds(cases: list[Case], kinds: dict[str, DeviceType]) -> dict[bytes, str]:
    """Which kind of device each recipient EUI is: the one device type of the use cases
    addressed to it that only one type executes."""
    votes: dict[bytes, dict[str, int]] = {}
    for case in cases:
        uc = by_code(case.message.header.message_code) if case.message else None
        if uc is not None and len(uc.devices) == 1:
            tally = votes.setdefault(case.message.header.recipient, {})
            tally[uc.devices[0]] = tally.get(uc.devices[0], 0) + 1
    return {eui: max(tally, key=tally.get) for eui, tally in votes.items()}


def _why_skipped(uc: UseCase | None, message_code: int, kind: str | None,
                 kinds: dict[str, DeviceType]) -> str:
    if uc is None:
        return f"0x{message_code:04X} is no GBCS use case"
    if kind is not None and kind in kinds and uc.payload in kinds[kind].payloads:
        return (f"{uc.use_case}: the emulated {kind} does not execute this "
                f"{uc.payload} use case yet")
    if kind is not None and kind in kinds:
        return (f"{uc.use_case}: the emulated {kind} executes "
                f"{'/'.join(sorted(kinds[kind].payloads))} payloads, not {uc.payload}")
    return f"{uc.use_case}: no emulated {'/'.join(uc.devices)} yet"


class Replay:
    """Runs cases on emulated devices; keeps each EUI's generated keys."""

    def __init__(self, parties: Parties) -> None:
        self.premises: dict[bytes, str] = {}  # recipient EUI -> device kind
        self.parties = parties
        self.kinds = device_types()
        self.keys: dict[bytes, tuple[crypto.PrivateKey, crypto.PrivateKey]] = {}
        self.decoding = Keystore()
        for (eui, usage, pp), pairs in parties.keystore.pairs.items():
            if not parties.keystore.is_device(eui):
                for pair in pairs:
                    self.decoding.add(eui, usage, pair, pp)

    def device_keys(self, eui: bytes) -> tuple[crypto.PrivateKey, crypto.PrivateKey]:
        if eui not in self.keys:
            ds, ka = crypto.generate_private_key(), crypto.generate_private_key()
            self.keys[eui] = (ds, ka)
            self.decoding.add(eui, DS, KeyPair(ds.public_key(), ds))
            self.decoding.add(eui, KA, KeyPair(ka.public_key(), ka))
        return self.keys[eui]

    def _kind(self, uc: UseCase, recipient: bytes, by_eui: dict[bytes, str]) -> str | None:
        """The device kind that executes `uc` at `recipient`: the use case's one target,
        or, for a use case several kinds execute (GSME or GPF), the recipient's kind, or
        for a recipient of unknown kind the one emulated kind among them (an ESME for
        ECS46d, which an ESME or an auxiliary proportional controller executes)."""
        if len(uc.devices) == 1:
            return uc.devices[0]
        kind = by_eui.get(recipient)
        if kind in uc.devices:
            return kind
        emulated = [d for d in uc.devices if d in self.kinds]
        return emulated[0] if kind is None and len(emulated) == 1 else None

    def run(self, cases: list[Case]) -> list[CaseResult]:
        results: dict[str, CaseResult] = {}
        groups: dict[tuple[str, bytes, str, Variant | None], list[Case]] = {}
        for case in cases:
            try:
                case.message = decode(case.command, verify=False)
            except GbcsDecodeError as err:
                results[case.name] = CaseResult(case.name, FAILED, reason=f"command: {err}")
        by_eui = eui_kinds([c for c in cases if c.message is not None], self.kinds)
        self.premises = by_eui
        for case in cases:
            if case.message is None:
                continue
            h = case.message.header
            uc = by_code(h.message_code)
            kind = self._kind(uc, h.recipient, by_eui) if uc is not None else None
            if case.expected is None:
                results[case.name] = CaseResult(case.name, SKIPPED,
                                                reason="no RTDS response to compare with")
            elif self.parties.keystore.is_device(h.originator):
                results[case.name] = CaseResult(case.name, SKIPPED, reason=(
                    f"{uc.use_case if uc else hex(h.message_code)}: sent over the HAN by "
                    f"device {h.originator.hex().upper()}, not by a remote party"))
            elif (kind not in self.kinds or uc.payload not in self.kinds[kind].payloads
                  or (uc.payload == ASN1 and kind != "CHF" and uc.code not in DER_HANDLERS)):
                results[case.name] = CaseResult(case.name, SKIPPED, reason=_why_skipped(
                    uc, h.message_code, kind, self.kinds))
            else:
                variant = _variant(case, _specs(case.message)) if kind == "ESME" else None
                groups.setdefault((case.folder, h.recipient, kind, variant), []).append(case)
        for (_, eui, kind, variant), group in groups.items():
            group.sort(key=lambda c: c.message.header.originator_counter)
            senders = {c.message.header.originator for c in group}
            device: GbcsDevice | None = None
            for case in group:
                h = case.message.header
                # RTDS cases are written against the device's first trust anchors: a case
                # whose originator an earlier case replaced, or whose counter an earlier
                # case passed, starts on a fresh device.
                if device is None or h.originator_counter <= device.store.highest(
                        h.originator) or not device.anchors.by_eui(h.originator):
                    device = self.kinds[kind].make(self, eui, senders, variant)
                results[case.name] = self._run_case(device, case)
        return [results[c.name] for c in cases]

    def _run_case(self, device: GbcsDevice, case: Case) -> CaseResult:
        try:
            expected = decode(case.expected, self.parties.keystore, self.parties.acb,
                              verify=False)
        except GbcsDecodeError as err:
            return CaseResult(case.name, FAILED, reason=f"RTDS response: {err}")
        fault = self._fault(case, expected) if case.error else None
        data = self.parties.remac(case.command, case.message,
                                  device.credentials.ka.public_key())
        faults = getattr(device, "faults", None)
        if fault is not None and faults is not None:
            faults.add(fault)
        try:
            sent = device.receive(data)
        finally:
            if fault is not None and faults is not None:
                faults.discard(fault)
        if not sent:
            log = (device.store.entries("security") or device.store.entries("event"))
            detail = log[-1].value if log else "no response"
            return CaseResult(case.name, FAILED, reason=f"no response: {detail}")
        try:
            got = decode(sent[0], self.decoding, self.parties.acb)
        except GbcsError as err:
            return CaseResult(case.name, FAILED, reason=f"device response: {err}")
        differences = compare(expected, got, case.message)
        if case.alerts:
            differences += self._alerts(device, case, sent[1:])
        return CaseResult(case.name, FAILED if differences else PASSED, differences)

    @staticmethod
    def _fault(case: Case, expected: DecodedMessage) -> FaultKey | Fault | None:
        """The board fault that makes the device answer as the RTDS ERROR response does."""
        if _gbz(expected) is not None and _gbz(case.message) is not None:
            return gbz_fault(_gbz(case.message), _gbz(expected))
        return _fault(case, expected, _specs(case.message))

    def _alerts(self, device: GbcsDevice, case: Case, sent: list[bytes]) -> list[Difference]:
        """Run the device's clock to the last expected alert's time, then match every
        expected alert with one the device sent (same alert payload: the command's
        message code and counter and the attribute) and compare their structure."""
        expected = []
        for raw in case.alerts:
            try:
                expected.append(decode(raw, self.parties.keystore, self.parties.acb,
                                       verify=False))
            except GbcsDecodeError as err:
                return [Difference("alerts", "a decodable RTDS alert", str(err))]
        stamps = [_alert_time(m) for m in expected]
        due = max((s for s in stamps if s is not None), default=None)
        if due is not None and due > device.now():
            device.clock.run_until(device.clock.now() + (due - device.now()))
        try:
            got = [decode(raw, self.decoding, self.parties.acb)
                   for raw in sent + device.take_alerts()]
        except GbcsDecodeError as err:
            return [Difference("alerts", "decodable alerts", str(err))]
        out = []
        for i, alert in enumerate(expected):
            key = _alert_key(alert)
            match = next((g for g in got if _alert_key(g) == key), None)
            if match is None:
                out.append(Difference(f"alerts[{i}]", _alert_text(alert), "not raised"))
            else:
                got.remove(match)
                out += [Difference(f"alerts[{i}].{d.path}", d.expected, d.got)
                        for d in compare(alert, match)]
        return out


def run(path: Path, keystore: Path) -> list[CaseResult]:
    """Replay every case under `path` with the remote parties of `keystore`."""
    cases = find_cases(path)
    try:
        parties = Parties.load(Keystore.from_dir(keystore))
    except (OSError, GbcsError, ValueError, ConformanceError) as err:
        raise ConformanceError(f"{keystore}: cannot use the key store: {err}") from None
    return Replay(parties).run(cases)


def summary(results: list[CaseResult]) -> tuple[str, str]:
    """The skipped line and the last line (`N passed, M failed`)."""
    n = {s: sum(r.status == s for r in results) for s in (PASSED, FAILED, SKIPPED)}
    return (f"{n[SKIPPED]} skipped (not executed by the emulated devices yet; --json "
            "says why)",
            f"{n[PASSED]} passed, {n[FAILED]} failed")
