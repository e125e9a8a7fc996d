"""Conformance replay: the RTDS commands fed to emulated devices, their responses
compared with the RTDS responses.

A case is one COMMAND file and the RESPONSE file of the same name. ESME use cases (ECS,
DLMS payloads) run on an `Esme` carrying the command's recipient EUI with keys made
here; other device types are counted as skipped until their firmware exists. Every
command is re-MAC'd for the emulated device with the ACB's KA private key from the key
store (the supplier's signature, which does not cover the MAC, stays). RTDS originator
counters repeat from folder to folder, so each folder runs on a fresh meter of the
variant its case names (SINGLE, TWIN, POLYPHASE) or, when unnamed, the first variant
that has every object the command addresses; commands go in counter order, a fresh
meter taking over when a counter is not above the last one. The alerts a case is
expected to raise later (the folder's `<code>_<case>_ALERT_*` files, e.g. 8F66 for a
future-dated command) are checked after running the meter's virtual clock to their time.

An ERROR case is the SUCCESS command again, answered with hardware-fault at access k:
the board's fault-injection hook marks that attribute (or method) broken for the
command. The comparison is structural, as values depend on meter state: same message
code, CRA flag, form (MAC'd or signed), date-time presence, DLMS result kinds and
codes, and for every data item its A-XDR type tree (array lengths, string lengths and
values may differ; compact-array type descriptions must match; protected data is
compared after decryption).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path

from boards.nvm import SqliteStore
from boards.simulator import Simulator
from cryptography.hazmat.primitives import serialization
from firmware.core.credentials import DeviceCredentials, Role, TrustAnchor, TrustAnchors
from firmware.esme.cosem import FaultKey
from firmware.esme.esme import Esme
from firmware.esme.objects import Variant, build
from gbcs import crypto
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
from gbcs.usecases import by_code

RTDS_TIME = _dt.datetime(2015, 1, 1, tzinfo=_dt.UTC)  # the RTDS responses' date-time
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


def compare(expected: DecodedMessage, got: DecodedMessage) -> list[Difference]:
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


def _notification(msg: DecodedMessage) -> Node | None:
    node = _dlms(msg)
    return node.get("notification_body") if node is not None else None


def _alert_time(msg: DecodedMessage) -> _dt.datetime | None:
    body = _notification(msg)
    stamp = body.get("timestamp") if body is not None else None
    return parse_datetime(stamp.value) if stamp is not None and stamp.value else None


def _alert_key(msg: DecodedMessage) -> tuple:
    body = _notification(msg)
    if body is None:
        return (msg.header.message_code, encode(msg.tree))
    return (msg.header.message_code, *(encode(c) for c in body.children
                                       if c.name != "timestamp"))


def _alert_text(msg: DecodedMessage) -> str:
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


def _why_skipped(uc, message_code: int) -> str:
    if uc is None:
        return f"0x{message_code:04X} is no GBCS use case"
    if "ESME" in uc.devices:
        return f"{uc.use_case}: the emulated ESME executes DLMS payloads, not {uc.payload}"
    return f"{uc.use_case}: no emulated {'/'.join(uc.devices)} yet"


class Replay:
    """Runs cases on emulated devices; keeps each EUI's generated keys."""

    def __init__(self, parties: Parties) -> None:
        self.parties = parties
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

    def run(self, cases: list[Case]) -> list[CaseResult]:
        results: dict[str, CaseResult] = {}
        groups: dict[tuple[str, bytes, Variant], list[Case]] = {}
        for case in cases:
            try:
                case.message = decode(case.command, verify=False)
            except GbcsDecodeError as err:
                results[case.name] = CaseResult(case.name, FAILED, reason=f"command: {err}")
                continue
            uc = by_code(case.message.header.message_code)
            if case.expected is None:
                results[case.name] = CaseResult(case.name, SKIPPED,
                                                reason="no RTDS response to compare with")
            elif uc is None or "ESME" not in uc.devices or uc.payload != "DLMS":
                results[case.name] = CaseResult(case.name, SKIPPED, reason=_why_skipped(
                    uc, case.message.header.message_code))
            else:
                key = (case.folder, case.message.header.recipient,
                       _variant(case, _specs(case.message)))
                groups.setdefault(key, []).append(case)
        for (_, eui, variant), group in groups.items():
            group.sort(key=lambda c: c.message.header.originator_counter)
            senders = {c.message.header.originator for c in group}
            meter: Esme | None = None
            for case in group:
                h = case.message.header
                if meter is None or h.originator_counter <= meter.store.highest(h.originator):
                    meter = self._meter(eui, variant, senders)
                results[case.name] = self._run_case(meter, case)
        return [results[c.name] for c in cases]

    def _meter(self, eui: bytes, variant: Variant, senders: set[bytes]) -> Esme:
        ds, ka = self.device_keys(eui)
        return Esme(DeviceCredentials(eui, ds, ka), self.parties.anchors(senders),
                    SqliteStore(), Simulator(RTDS_TIME, keep_trace=False), variant)

    def _run_case(self, meter: Esme, case: Case) -> CaseResult:
        try:
            expected = decode(case.expected, self.parties.keystore, self.parties.acb,
                              verify=False)
        except GbcsDecodeError as err:
            return CaseResult(case.name, FAILED, reason=f"RTDS response: {err}")
        fault = _fault(case, expected, _specs(case.message)) if case.error else None
        data = self.parties.remac(case.command, case.message, meter.credentials.ka.public_key())
        if fault is not None:
            meter.faults.add(fault)
        try:
            sent = meter.receive(data)
        finally:
            meter.faults.discard(fault)
        if not sent:
            log = (meter.store.entries("security") or meter.store.entries("event"))
            detail = log[-1].value if log else "no response"
            return CaseResult(case.name, FAILED, reason=f"no response: {detail}")
        try:
            got = decode(sent[0], self.decoding, self.parties.acb)
        except GbcsError as err:
            return CaseResult(case.name, FAILED, reason=f"device response: {err}")
        differences = compare(expected, got)
        if case.alerts:
            differences += self._alerts(meter, case, sent[1:])
        return CaseResult(case.name, FAILED if differences else PASSED, differences)

    def _alerts(self, meter: Esme, case: Case, sent: list[bytes]) -> list[Difference]:
        """Run the meter's clock to the last expected alert's time, then match every
        expected alert with one the meter sent (same alert payload: the command's
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
        if due is not None and due > meter.now():
            meter.clock.run_until(meter.clock.now() + (due - meter.now()))
        try:
            got = [decode(raw, self.decoding, self.parties.acb)
                   for raw in sent + meter.take_alerts()]
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
