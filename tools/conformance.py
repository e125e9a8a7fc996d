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
trust anchor (the RTDS cases are written against the first anchors). Commands a device
originates (PCS01 / PCS02 from the PPMID: `firmware.core.security.DEVICE_COMMANDS`)
cannot be re-MAC'd with the RTDS keys (no device private key is given): the replay
makes its own key pair for the originating device, joins it to the recipient with a
Method C join (CS03C, its KA certificate issued here, signed by the supplier and
MAC'd by the ACB as the DCC would send it) and re-MACs the command with the device's
key. A GSME has metered three days of gas before
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
responses (`gbz_diff`; encrypted components compared after decryption); for ASN.1, the
field names and the named codes (`asn1_diff`), with the device state the RTDS answer
assumes arranged (certificates valid at the device's date, a Method A/B join before
its unjoin, SMKI device certificates; `ASN1_CONTENT_UNCHECKED` says where it cannot be).
An ASN.1 ERROR case runs with the board's hardware fault on its message code
(`GbcsDevice.hardware_faults`).

Alert cases: an RTDS folder with alerts and no command (`NA_*`) is a case per alert
(`find_alert_cases`): a fresh device of the originator's kind is brought to raise it by
the stimulus `ALERT_STIMULI` names for its kind and alert code (a channel change, a
top-up at the keypad, a command from a stranger ...), and what it sent is compared
(`alert_diff`: the header, the alert code, the payload's structure).
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
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from firmware.chf.device_log import LINK_KEY, LogEntry
from firmware.core.credentials import DeviceCredentials, Role, TrustAnchor, TrustAnchors
from firmware.core.device import DER_HANDLERS, GbcsDevice
from firmware.core.trust_store import DS as TS_DS, Cell, CellId, subject_key_id
from firmware.core.security import DEVICE_COMMANDS, JOIN_LOG, device_originator
from firmware.core.zse import Fault
from firmware.esme.cosem import FaultKey
from firmware.esme.esme import Esme
from firmware.esme.objects import Variant, build
from firmware.gpf import device_log as gpf_device_log
from firmware.gpf.gpf import Gpf
from firmware.gsme import billing as gsme_billing
from firmware.gsme import clock as gsme_clock
from firmware.gsme.gsme import Gsme
from firmware.ppmid import Ppmid
from gbcs import asn1, crypto, dlms, gbz, zcl
from gbcs.axdr import (
    ARRAY, COMPACT_ARRAY, STRUCTURE, TYPE_NAMES, data_tag,
)
from gbcs.build import build_message, mac_header, message_mac_key
from gbcs.certificates import parse_certificate
from gbcs.der_x509 import HARDWARE_MODULE_NAME
from gbcs.cosem import parse_datetime
from gbcs.errors import GbcsDecodeError, GbcsError
from gbcs.keystore import DS, KA, KeyPair, Keystore
from gbcs.message import DEFAULT_ACB, DecodedMessage, decode
from gbcs.node import Node, encode
from gbcs.usecases import ASN1, DLMS, GBZ, UseCase, by_code, by_id
from tools.lab.ppmid import (
    CERTIFICATE_END, CERTIFICATE_START, DEVICE_HW_TYPE, HARDWARE_MODULE_NAME_OID,
    device_certificate,
)

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
            command: DecodedMessage | None = None,
            asn1_content: bool = False) -> list[Difference]:
    """Where `got` differs from the RTDS's `expected` (module docstring); ASN.1 content
    (`asn1_diff`) only when `asn1_content` (the replay asks for it: the state the RTDS
    answer assumes is arranged there)."""
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
    ae, ag = _asn1(expected), _asn1(got)
    if ae is not None or ag is not None:
        if ae is None or ag is None:
            return out + [Difference("content", "asn1" if ae else "other",
                                     "asn1" if ag else "other")]
        if asn1_content:
            out += asn1_diff(ae, ag, "asn1")
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


# -- ASN.1 comparison -------------------------------------------------------------------


# The RTDS cases whose ASN.1 content is not compared (header only), and why: the state
# their SUCCESS answer assumes needs secrets the test data does not hold.
ASN1_CONTENT_UNCHECKED = {
    "6.15.2_CS02d/SUCCESS": "the certificate is for an RTDS device key pair whose private "
                            "key the key store lacks, so no device can hold it pending",
    "11.3_CS06/IMMEDIATE_SUCCESS": "the manufacturer image hash is a pattern, not the "
                                   "SHA-256 of any image the test data has",
}


# The PPMID's join and unjoin are compared with the state their RTDS responses assume
# arranged: the device a CS04AC unjoins was joined first (`Replay.join_first`).
UNJOIN_AC, JOIN_B, UNJOIN_B = 0x000F, 0x000E, 0x0010
# ASN.1 failure codes the device state gives by itself (no hardware fault to inject): an
# unjoin of a device the fresh device never joined; a certification path to a Root the
# device does not hold (`_foreign_root`).
# A join of a device the log already holds as another type: the RTDS CS03A1 ERROR
# case follows its SUCCESS case on the same device.
STATE_FAILURES = frozenset({"notInDeviceLog", "noTrustAnchor",
                            "incompatibleWithExistingEntry"})


def _clock_to_certificates(device: GbcsDevice, command: DecodedMessage) -> None:
    """The RTDS CS02b/g replacement certificates were issued after RTDS time, and the
    device that answered them held a date they were valid at: run the device's virtual
    clock to the latest certificate's start (the command carries no execution date-time
    that the move could overtake)."""
    tree = _asn1(command)
    if tree is None or any(n.name == "execution_date_time" for n in tree.walk()):
        return
    starts = [parse_certificate(encode(n)).certificate.not_valid_before_utc
              for n in tree.walk() if n.name == "replacement_certificate"]
    if starts and max(starts) > device.now():
        device.clock.run_until(device.clock.now() + (max(starts) - device.now()))


def _state_failure(expected: DecodedMessage) -> bool:
    node = _asn1(expected)
    return node is not None and any(n.human in STATE_FAILURES for n in node.walk())


def _asn1_code(msg: DecodedMessage, name: str) -> bool:
    node = _asn1(msg)
    return node is not None and any(n.human == name for n in node.walk())


NO_TRUST_ANCHOR = "noTrustAnchor"  # in STATE_FAILURES
OTHER_ROOT = bytes.fromhex("90B3D51F3000FFFF")


def _foreign_root(device: GbcsDevice) -> None:
    """The device holds the Root anchor of another PKI, which issued none of the RTDS
    CA certificates: a replacement's certification path leads to no anchor it holds
    (the RTDS ERROR answer noTrustAnchor). The key store holds no Root key, so
    without this the device holds no Root anchor and accepts the path as given."""
    device.trust.put(CellId(Role.ROOT, TS_DS), Cell(OTHER_ROOT,
                                                    crypto.generate_private_key().public_key()))


def _asn1(msg: DecodedMessage) -> Node | None:
    return next((n for n in msg.tree.walk() if n.name == "asn1"), None)


def _coded(node: Node) -> bool:
    """An INTEGER / ENUMERATED whose value has a name: an outcome or kind the response
    states (response codes, statuses), compared by value."""
    return node.kind.startswith("der.int") and node.human is not None and \
        node.human != str(node.value)


def asn1_diff(expected: Node, got: Node, path: str) -> list[Difference]:
    """Where two ASN.1 (DER) payloads differ: field names and nesting, and the values of
    named codes; other values (times, identifiers, certificates) and how many items a
    list holds depend on device state (a list's items are compared with its first)."""
    if expected.name != got.name:
        return [Difference(path, expected.name, got.name)]
    if _coded(expected) or _coded(got):
        if (expected.value, expected.human) != (got.value, got.human):
            return [Difference(path, expected.human or "", got.human or "")]
        return []
    ce, cg = expected.children, got.children
    if not ce or not cg:
        return []
    if len({c.name for c in ce}) == 1 and len({c.name for c in cg}) == 1:  # SEQUENCE OF
        ce, cg = ce[:1], cg[:1]
    if [c.name for c in ce] != [c.name for c in cg]:
        return [Difference(path, ",".join(c.name for c in ce), ",".join(c.name for c in cg))]
    out: list[Difference] = []
    for e, g in zip(ce, cg):
        out += asn1_diff(e, g, f"{path}.{e.name}")
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
    asn1_codes: frozenset[int] = frozenset()  # its own ASN.1 use cases beyond DER_HANDLERS


# The SMKI Device Certificate Policy, as the RTDS device certificates name it.
DEVICE_CERTIFICATE_POLICY = x509.ObjectIdentifier("1.2.826.0.1.1800000.1.2.1.4")


def smki_device_certificate(eui: bytes, public_key: crypto.PublicKey, usage: str,
                            issuer_key: crypto.PrivateKey, serial: int) -> bytes:
    """A Device certificate with the extensions of an SMKI one, in its order (key
    usage, subject key id, hardwareModuleName, policy, authority key id), as a device
    holds from manufacture and CS02e returns."""
    hardware = encode(HARDWARE_MODULE_NAME.build("hardware_module_name", {
        "hw_type": DEVICE_HW_TYPE, "hw_serial_num": eui}))
    ka = usage == "KA"
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "replay CA")]))
            .public_key(public_key).serial_number(serial)
            .not_valid_before(CERTIFICATE_START).not_valid_after(CERTIFICATE_END)
            .add_extension(x509.KeyUsage(not ka, False, False, False, ka, False, False,
                                         False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier(subject_key_id(public_key)),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.OtherName(
                HARDWARE_MODULE_NAME_OID, hardware)]), critical=True)
            .add_extension(x509.CertificatePolicies([x509.PolicyInformation(
                DEVICE_CERTIFICATE_POLICY, None)]), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier(
                subject_key_id(issuer_key.public_key()), None, None), critical=False)
            .sign(issuer_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.DER)


def _make_esme(replay: Replay, eui: bytes, senders: set[bytes],
               variant: Variant | None) -> GbcsDevice:
    return Esme(replay.credentials(eui), replay.parties.anchors(senders),
                SqliteStore(), Simulator(RTDS_TIME, keep_trace=False),
                variant or Variant.SINGLE_ELEMENT)


def _warm_gsme(replay: Replay, eui: bytes, senders: set[bytes], sim: Simulator,
               on_sync: Callable[[dict], None] | None = None) -> Gsme:
    """A GSME that has metered `WARM_UP` of gas by RTDS time (so its logs have data),
    then stops its wake cycle: the replay runs its clock to alert times years ahead."""
    meter = Gsme(replay.credentials(eui), replay.parties.anchors(senders),
                 SqliteStore(), sim, VirtualValve(sim), load=GasDayLoad(),
                 time_source=lambda: (sim.now(), True))  # the hub's synchronised time
    if on_sync is not None:     # the hub confirms each sync it took
        meter.on_sync = lambda update: (on_sync(update),
                                        meter.sync_acknowledged(update["marks"]))
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
    gpf = Gpf(replay.credentials(eui), replay.parties.anchors(senders), SqliteStore(), sim)
    _warm_gsme(replay, eui[:-1] + bytes([eui[-1] ^ 0xFF]), senders, sim, gpf.sync)
    return gpf


def _make_ppmid(replay: Replay, eui: bytes, senders: set[bytes],
                variant: Variant | None) -> GbcsDevice:
    ds, ka = replay.device_keys(eui)
    return Ppmid(DeviceCredentials(eui, ds, ka), replay.parties.anchors(senders),
                 SqliteStore(), Simulator(RTDS_TIME, keep_trace=False))


def device_types() -> dict[str, DeviceType]:
    """The emulated device kinds; the CHF joins when its firmware is there."""
    types = {
        "ESME": DeviceType("ESME", frozenset({DLMS, ASN1}), _make_esme),
        "GSME": DeviceType("GSME", frozenset({GBZ, ASN1}), _make_gsme,
                           frozenset({gsme_clock.SET_CLOCK})),
        "GPF": DeviceType("GPF", frozenset({GBZ, ASN1}), _make_gpf,
                          frozenset({gpf_device_log.RESTORE})),
        "PPMID": DeviceType("PPMID", frozenset({ASN1}), _make_ppmid),
    }
    chf = _chf_class()
    if chf is None:
        return types

    def make_chf(replay: Replay, eui: bytes, senders: set[bytes],
                 variant: Variant | None) -> GbcsDevice:
        hub = chf(replay.credentials(eui), replay.parties.anchors(senders),
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
    addressed to it that only one type executes, or the device type that sends the
    device-originated commands it sent (a PCS01 originator is a PPMID)."""
    votes: dict[bytes, dict[str, int]] = {}
    for case in cases:
        uc = by_code(case.message.header.message_code) if case.message else None
        if uc is not None and len(uc.devices) == 1:
            tally = votes.setdefault(case.message.header.recipient, {})
            tally[uc.devices[0]] = tally.get(uc.devices[0], 0) + 1
        sender = DEVICE_COMMANDS.get(uc.code) if uc is not None else None
        if sender is not None:
            kind = asn1.DEVICE_TYPES[sender].upper()
            tally = votes.setdefault(case.message.header.originator, {})
            tally[kind] = tally.get(kind, 0) + 1
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
        self._device_ca = crypto.generate_private_key()  # issues joined devices' KA certs
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

    def credentials(self, eui: bytes) -> DeviceCredentials:
        """A device's keys with the SMKI device certificates a manufactured device holds
        (CS02e answers with them), issued by the replay's device CA."""
        ds, ka = self.device_keys(eui)
        serial = int.from_bytes(eui, "big") << 1
        return DeviceCredentials(
            eui, ds, ka,
            smki_device_certificate(eui, ds.public_key(), "DS", self._device_ca, serial),
            smki_device_certificate(eui, ka.public_key(), "KA", self._device_ca, serial + 1))

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
            elif self.parties.keystore.is_device(h.originator) and not (
                    uc is not None and uc.code in DEVICE_COMMANDS):
                results[case.name] = CaseResult(case.name, SKIPPED, reason=(
                    f"{uc.use_case if uc else hex(h.message_code)}: sent over the HAN by "
                    f"device {h.originator.hex().upper()}, not by a remote party"))
            elif (kind not in self.kinds or uc.payload not in self.kinds[kind].payloads
                  or (uc.payload == ASN1 and kind != "CHF" and uc.code not in DER_HANDLERS
                      and uc.code not in self.kinds[kind].asn1_codes)):
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
                from_device = h.message_code in DEVICE_COMMANDS
                if device is None or h.originator_counter <= device.store.highest(
                        h.originator) or not (from_device or device.anchors.by_eui(
                            h.originator)):
                    device = self.kinds[kind].make(self, eui, senders, variant)
                if h.message_code == UNJOIN_AC and not case.error:
                    self.join_first(device, case.message)
                if h.message_code == UNJOIN_B and not case.error:
                    self.join_b_first(device, case.message)
                _clock_to_certificates(device, case.message)
                if from_device and device_originator(device.store, h.originator) is None:
                    failure = self.join_device(device, h.originator,
                                               DEVICE_COMMANDS[h.message_code])
                    if failure:
                        results[case.name] = CaseResult(case.name, FAILED, reason=failure)
                        continue
                results[case.name] = self._run_case(device, case)
        return [results[c.name] for c in cases]

    def run_alerts(self, cases: list[AlertCase]) -> list[CaseResult]:
        """Each alert case on a fresh device of its originator's kind (as `run` found
        the kinds; `run` first)."""
        out = []
        for case in cases:
            try:
                case.message = decode(case.alert, self.parties.keystore, self.parties.acb,
                                      verify=False)
            except GbcsDecodeError as err:
                out.append(CaseResult(case.name, FAILED, reason=f"RTDS alert: {err}"))
                continue
            h = case.message.header
            uc = by_code(h.message_code)
            kind = self.premises.get(h.originator) or (
                uc.devices[0] if uc is not None and len(uc.devices) == 1 else None)
            out.append(_run_alert(self, case, kind))
        return out

    def _run_case(self, device: GbcsDevice, case: Case) -> CaseResult:
        try:
            expected = decode(case.expected, self.parties.keystore, self.parties.acb,
                              verify=False)
        except GbcsDecodeError as err:
            return CaseResult(case.name, FAILED, reason=f"RTDS response: {err}")
        if case.error and _asn1_code(expected, NO_TRUST_ANCHOR):
            _foreign_root(device)
        fault = self._fault(case, expected) if case.error else None
        if case.error and fault is None and _asn1(expected) is not None and \
                not _state_failure(expected):
            fault = case.message.header.message_code  # the storage or clock hardware fails
        if case.message.header.message_code in DEVICE_COMMANDS:
            data = self._device_remac(case, device)
        else:
            data = self.parties.remac(case.command, case.message,
                                      device.credentials.ka.public_key())
        faults = device.hardware_faults if isinstance(fault, int) else \
            getattr(device, "faults", None)
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
        differences = compare(expected, got, case.message,
                              asn1_content=case.name not in ASN1_CONTENT_UNCHECKED)
        if case.alerts:
            differences += self._alerts(device, case, sent[1:])
        unchecked = ASN1_CONTENT_UNCHECKED.get(case.name)
        return CaseResult(case.name, FAILED if differences else PASSED, differences,
                          reason=f"ASN.1 content not compared: {unchecked}" if unchecked
                          else "")

    def join_device(self, device: GbcsDevice, eui: bytes, device_type: int) -> str:
        """Join device `eui` (of GBCS DeviceType `device_type`) to `device` by Method C
        with a KA certificate for the key pair made here, as the supplier's CS03C;
        what went wrong, or "" once joined."""
        _, ka = self.device_keys(eui)
        certificate = device_certificate(eui, ka.public_key(), "KA", self._device_ca,
                                         serial=len(self.keys))
        failure = self._supplier_join(device, 0x00AF, "methodC", eui, device_type,
                                      certificate)
        if failure or device_originator(device.store, eui) is None:
            return failure or f"the CS03C join of {eui.hex().upper()} was not accepted"
        return ""

    def join_first(self, device: GbcsDevice, unjoin: DecodedMessage) -> None:
        """Arrange what a CS04AC SUCCESS response assumes: the device it unjoins is in
        the join log (joined by Method A, as a meter to a PPMID or a PPMID to a meter;
        the RTDS does not say what it is)."""
        node = _asn1(unjoin)
        entity = node.children[0].value if node is not None and node.children else None
        if not isinstance(entity, bytes) or len(entity) != 8:
            return
        if any(e.get("eui") == entity for e in device.store.get(JOIN_LOG) or []):
            return
        if isinstance(device, Ppmid):
            self._supplier_join(device, 0x00AB, "methodAResponder", entity, "esme")
        else:
            self._supplier_join(device, 0x000D, "methodAInitiator", entity, "ppmid")

    def join_b_first(self, device: GbcsDevice, unjoin: DecodedMessage) -> None:
        """Arrange what a CS04B SUCCESS response assumes: the device it unjoins was
        joined by Method B (CS03B), which pairs only a GSME and its GPF."""
        node = _asn1(unjoin)
        entity = node.children[0].value if node is not None and node.children else None
        if not isinstance(entity, bytes) or len(entity) != 8 or any(
                e.get("eui") == entity for e in device.store.get(JOIN_LOG) or []):
            return
        self._supplier_join(device, JOIN_B, "methodB", entity,
                            "gpf" if isinstance(device, Gsme) else "gsme")

    def _supplier_join(self, device: GbcsDevice, code: int, method: str, eui: bytes,
                       device_type: int | str, certificate: bytes | None = None) -> str:
        """Send the supplier's join command `code` to `device` (signed, and MAC'd by the
        ACB, with the supplier's next counter); what went wrong, or ""."""
        supplier = device.anchors.get(Role.SUPPLIER)
        signers = self.parties.keystore.private_keys(supplier.eui, DS) if supplier else []
        if not signers:
            return "no supplier DS private key in the key store to sign the join"
        command = build_message(
            cra=1, originator_counter=device.store.highest(supplier.eui) + 1,
            originator=supplier.eui, recipient=device.eui, message_code=code,
            content=asn1.join_command(code, method, eui, device_type, certificate),
            signer=signers[0] if by_code(code).critical else None,
            mac_keys=(self.parties.keystore.private_keys(self.parties.acb, KA)[0],
                      device.credentials.ka.public_key()))
        return "" if device.receive(command) else "the join command was refused"

    def _device_remac(self, case: Case, device: GbcsDevice) -> bytes:
        """A device-originated command MAC'd again with the originator's key made here
        and the recipient's KA key."""
        h = case.message.header
        _, ka = self.device_keys(h.originator)
        key = message_mac_key(ka, device.credentials.ka.public_key(), cra=h.cra,
                              originator=h.originator, originator_counter=h.originator_counter,
                              recipient=h.recipient)
        return mac_header(case.command[h.signing_start:h.signing_end], key, h.originator,
                          h.invocation_counter or 0)

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
                        for d in compare(alert, match, asn1_content=True)]
        return out


# -- alert cases: alerts the RTDS has no command for --------------------------------------


@dataclass
class AlertCase:
    """An RTDS folder's alert that no command triggers (`NA_*`): the device raises it
    from the stimulus that `ALERT_STIMULI` gives its kind and alert code."""

    name: str
    folder: str
    alert: bytes
    message: DecodedMessage | None = None


def find_alert_cases(path: Path) -> list[AlertCase]:
    """The alert files of folders without commands under `path`."""
    if path.is_file():
        return []
    out = []
    for file in sorted(path.rglob("*_ALERT_GBCS.HEX")):
        if any(file.parent.glob("*" + COMMAND)):
            continue  # a command's alert: its case checks it
        label = file.name[:-len("_GBCS.HEX")].split("_NA_", 1)[-1]
        try:
            out.append(AlertCase(f"{file.parent.name}/{label}", file.parent.name, _hex(file)))
        except ValueError as err:
            raise ConformanceError(f"{file}: not hex: {err}") from None
    return out


def alert_code(msg: DecodedMessage) -> int | None:
    """The GBCS alert code a (DLMS, GBZ or ASN.1) alert carries."""
    body = _notification(msg)
    if body is not None and body.get("alert_code") is not None:
        return body["alert_code"].value
    payload = _gbz(msg)
    if payload is not None and payload.get("alert_code") is not None:
        return payload["alert_code"].value
    tree = _asn1(msg)
    node = next((n for n in tree.walk() if n.name == "alert_code"), None) if tree else None
    return node.value if node is not None else None


def alert_diff(expected: DecodedMessage, got: DecodedMessage) -> list[Difference]:
    """`compare` plus the alert's own content: same alert code, and the payload after
    the timestamp alike in structure (DLMS: A-XDR type trees; GBZ: field names)."""
    out = compare(expected, got, asn1_content=True)
    ce, cg = alert_code(expected), alert_code(got)
    if ce != cg:
        return out + [Difference("alert_code", f"{ce}", f"{cg}")]
    be, bg = _notification(expected), _notification(got)
    if be is not None and bg is not None:
        pe, pg = be.children[2:], bg.children[2:]
        if len(pe) != len(pg):
            return out + [Difference("alert.payload", f"{len(pe)} items", f"{len(pg)} items")]
        for i, (e, g) in enumerate(zip(pe, pg)):
            out += shape_diff(e, g, f"alert.payload[{i}]")
        return out
    ze, zg = _gbz(expected), _gbz(got)
    if ze is not None and zg is not None:
        ne = [_names(c) for c in ze.children if c.name != "timestamp"]
        ng = [_names(c) for c in zg.children if c.name != "timestamp"]
        if ne != ng:
            out.append(Difference("alert.gbz", "; ".join(ne), "; ".join(ng)))
    return out


Stimulus = Callable[["Replay", GbcsDevice, DecodedMessage], None]


def _logged_device(replay: Replay, hub: GbcsDevice, alert: DecodedMessage) -> None:
    hub.device_log.add(LogEntry(bytes.fromhex("00DB1234567890F0"), 6, os.urandom(16),
                                LINK_KEY))


def _alert_eui(alert: DecodedMessage) -> bytes:
    """The device an alert names in its payload (an octet-string EUI-64)."""
    body = _notification(alert)
    node = next((n for n in body.children[2:] if isinstance(n.value, bytes)
                 and len(n.value) == 8), None) if body is not None else None
    return node.value if node is not None else bytes(8)


def _discarded(replay: Replay, hub: GbcsDevice, alert: DecodedMessage) -> None:
    """Duty cycle management drops the remote party command the alert names."""
    fields = next(n for n in _notification(alert).walk()
                  if any(c.name == "business_target_id" for c in n.children or ()))
    target = fields["business_target_id"]
    command = build_message(
        cra=fields["cra_flag"].value, originator_counter=fields["originator_counter"].value,
        originator=fields["business_originator_id"].value, recipient=target.value,
        message_code=0x0013, content=asn1.read_device_join_details_command())
    hub.duty_cycle_discard(command)


def _unauthorised(replay: Replay, meter: GbcsDevice, alert: DecodedMessage) -> None:
    """A read MAC'd by the ACB but from an originator the meter has no anchor for (an
    ECS17b register read to an ESME, GCS13a to a GSME)."""
    if isinstance(meter, Esme):
        code = by_id("ECS17b")[0].code
        read = dlms.get_request([(3, bytes.fromhex("0100010800FF"), 2)], invoke_id=1)
    else:
        code = by_id("GCS13a")[0].code
        read = gbz.gbz_payload([gbz.component(0x0702, zcl.zcl_read_attributes(0x0702, [0]))])
    meter.receive(build_message(
        cra=1, originator_counter=1, originator=bytes.fromhex("90B3D51F3001FFFF"),
        recipient=meter.eui, message_code=code, content=read,
        mac_keys=(replay.parties.keystore.private_keys(replay.parties.acb, KA)[0],
                  meter.credentials.ka.public_key())))


def _transferred(replay: Replay, hub: GbcsDevice, alert: DecodedMessage) -> None:
    """A firmware image sent to a device of the hub's log."""
    logged = hub.device_log.entries()
    eui = logged[0].eui if logged else bytes.fromhex("00DB1234567890F0")
    if not logged:
        hub.device_log.add(LogEntry(eui, 1, os.urandom(16), LINK_KEY))
    hub.firmware_transferred(eui, bytes(4), 0)


def _outage(replay: Replay, meter: GbcsDevice, alert: DecodedMessage) -> None:
    """The mains lost for as long as the alert's interruption to restoration (at least
    the 3 minutes 8F36 needs), in the meter's virtual time."""
    body = _notification(alert)
    start, end = (parse_datetime(n.value) for n in body.children[2:4])
    meter.engine.power_fail()
    meter.clock.run_until(meter.clock.now() + max(end - start, _dt.timedelta(minutes=3)))
    meter.engine.power_restore()


# (device kind, alert code) -> how the device is brought to raise it.
ALERT_STIMULI: dict[tuple[str, int], Stimulus] = {
    ("CHF", 0x8F12): _logged_device,
    ("CHF", 0x8F20): lambda r, hub, a: hub.duty_cycle_action(_alert_eui(a)),
    ("CHF", 0x8F26): lambda r, hub, a: hub.sub_ghz_channel_changed(
        "1" * 3 + "0" * 29, 100, b"\x09\x01\x00"),
    ("CHF", 0x8F2C): _discarded,
    ("CHF", 0x8F2D): lambda r, hub, a: hub.sub_ghz_capacity_exhausted(_alert_eui(a)),
    ("CHF", 0x8F8A): _transferred,
    ("ESME", 0x810E): lambda r, meter, a: meter.engine.top_up(1000, local=True),
    ("ESME", 0x8F36): _outage,
    ("ESME", 0x8F30): _unauthorised,
    ("ESME", 0x8F72): lambda r, meter, a: meter.firmware_received(
        bytes(range(256)) * 64, bytes.fromhex("01000100")),
    ("ESME", 0x81A0): lambda r, meter, a: meter.integrity_issue(
        _notification(a)["payload"].children[0].value),  # the warning code's field
    ("GSME", 0x8F0A): lambda r, meter, a: gsme_billing.end_of_period(meter),
    ("GSME", 0x8F30): _unauthorised,
    ("GSME", 0x810E): lambda r, meter, a: meter.top_up(1000, b"local keypad"),
    ("GSME", 0x8F72): lambda r, meter, a: meter.firmware_received(
        bytes(range(256)) * 64, bytes.fromhex("01000100")),
    ("PPMID", 0x8F8B): lambda r, ppmid, a: ppmid.firmware_received(
        bytes(range(256)) * 64, bytes.fromhex("01000100")),
    ("GSME", 0x81A0): lambda r, meter, a: meter.integrity_issue(
        next(n for n in _gbz(a).children if n.name == "integrity_issue_warning").value),
}


# Alerts about a HAN-connected auxiliary load controller (HCALCS: ECS100-102, ECS200),
# a device the lab does not emulate.
AUXILIARY_LOAD_CONTROL_ALERTS = frozenset({0x8F85, 0x8F86, 0x8F87, 0x8F88})


def _run_alert(replay: Replay, case: AlertCase, kind: str | None) -> CaseResult:
    msg = case.message
    code = alert_code(msg)
    if code in AUXILIARY_LOAD_CONTROL_ALERTS:
        return CaseResult(case.name, SKIPPED, reason=(
            f"0x{code:04X} comes from an auxiliary load controller, which is not emulated"))
    stimulus = ALERT_STIMULI.get((kind, code)) if kind is not None else None
    if stimulus is None:
        what = f"0x{code:04X}" if code is not None else "the alert"
        return CaseResult(case.name, SKIPPED, reason=(
            f"no stimulus for {what} on the emulated {kind} yet" if kind is not None else
            f"{what} from {msg.header.originator.hex().upper()}: no command case under "
            "the path says what kind of device that is"))
    device = replay.kinds[kind].make(replay, msg.header.originator, {msg.header.recipient},
                                     None)
    device.take_alerts()
    stimulus(replay, device, msg)
    try:
        sent = [decode(raw, replay.decoding, replay.parties.acb) for raw in device.take_alerts()]
    except GbcsError as err:
        return CaseResult(case.name, FAILED, reason=f"device alert: {err}")
    match = next((g for g in sent if g.header.message_code == msg.header.message_code
                  and alert_code(g) == code), None)
    if match is None:
        return CaseResult(case.name, FAILED, [Difference(
            "alert", f"0x{msg.header.message_code:04X}", "not raised")])
    differences = alert_diff(msg, match)
    return CaseResult(case.name, FAILED if differences else PASSED, differences)


def run(path: Path, keystore: Path) -> list[CaseResult]:
    """Replay every case under `path` with the remote parties of `keystore`, then the
    alert cases."""
    cases = find_cases(path)
    try:
        parties = Parties.load(Keystore.from_dir(keystore))
    except (OSError, GbcsError, ValueError, ConformanceError) as err:
        raise ConformanceError(f"{keystore}: cannot use the key store: {err}") from None
    replay = Replay(parties)
    return replay.run(cases) + replay.run_alerts(find_alert_cases(path))


def summary(results: list[CaseResult]) -> tuple[str, str]:
    """The skipped line and the last line (`N passed, M failed`)."""
    n = {s: sum(r.status == s for r in results) for s in (PASSED, FAILED, SKIPPED)}
    return (f"{n[SKIPPED]} skipped (not executed by the emulated devices yet; --json "
            "says why)",
            f"{n[PASSED]} passed, {n[FAILED]} failed")
