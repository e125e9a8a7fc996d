"""Every device-directed SRV the lab's devices execute, end to end: the DUIS template,
signed by its User (XML-DSig), goes through the DCC's HTTP API to the lab's emulated
device over the WAN and the HAN and back. Critical ones go to serviceT, have their
pre-command signed with the User's key and come back to serviceS. The Service Response
is schema-valid, its GBCS decodes and verifies with the lab's keys, and the device
reports success (or the failure the request should get).

One lab for the module (xdist gives each worker its own): a comms hub, a gas meter,
and a single element, a twin element and a polyphase ESME, so that every variant's use
cases have a meter to run on. Requests to the gas meter wait for its 30-minute wake.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import random
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from conftest import REFERENCE, need

from boards.board import DeviceType, load_premises
from firmware.chf.device_log import LogEntry
from firmware.core.credentials import Role
from firmware.core.credentials_ops import hold_pending_key
from firmware.esme.engine.utrn import make_utrn
from gbcs.build import sign_grouping_header
from gbcs.message import decode
from gbcs.usecases import by_id
from tools.headend import duis, mmc, transform, xmldsig
from tools.headend.access import (COMMISSIONED, ED, ES, GS, GT, IS, Device, RequestMatrix,
                                  User)
from tools.headend.http import HEADEND, create_app
from tools.lab.hub import DEVICE_TYPE
from tools.lab.pki import install_code
from tools.lab.ppmid import device_certificate, gas_top_up_key
from tools.lab.premises import Lab

TEMPLATES = REFERENCE / "duis-templates"
SR = f"{{{duis.SR}}}"
START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
STEP = dt.timedelta(seconds=5)
ANSWER_WAIT = dt.timedelta(minutes=40)   # a sleepy gas meter wakes every 30 minutes

# The lab's premises: a comms hub (CHF + GPF), a gas meter, and an ESME of each variant
# (the PPMID and IHD of the default premises are not DCC targets here, and their HAN
# traffic would only slow the run down).
PREMISES = """
name = "srv"

[boards.chf]
type = "CHF"
eui = "02-53-4C-00-00-00-00-01"

[boards.gpf]
type = "GPF"
eui = "02-53-4C-00-00-00-00-02"

[boards.esme]
type = "ESME"
eui = "02-53-4C-00-00-00-00-03"
variant = "single_element"
mpxn = "1200000000010"

[boards.gsme]
type = "GSME"
eui = "02-53-4C-00-00-00-00-04"
mpxn = "1234567890"

[boards.twin]
type = "ESME"
eui = "02-53-4C-00-00-00-00-13"
variant = "twin_element"
mpxn = "1200000000029"

[boards.poly]
type = "ESME"
eui = "02-53-4C-00-00-00-00-23"
variant = "polyphase"
mpxn = "1200000000037"
"""
# Which lab device a use case runs on: the first of its device types in this order
# (the gas meter rather than the GPF that mirrors it), and an ESME of its variant.
_DEVICE_ORDER = ("ESME", "GSME", "GPF", "CHF")

# Use cases GBCS defines only for one ESME variant.
_TWIN_ONLY = frozenset(("ECS01c", "ECS01d", "ECS24b"))
_POLY_ONLY = frozenset(("ECS23b", "ECS26k", "ECS29b", "ECS29d", "ECS29f"))

# Fields whose template values mean nothing to the lab: the lab's time, and devices the
# lab knows (8.11 remove: a spare IHD an installer logged in the comms hub).
_NOW_FIELDS = ("CurrentDateTime",)
SPARE_IHD = bytes.fromhex("02534C00000000F6")
# Devices the SMI holds besides the lab's: an IHD to add to the comms hub's log (8.11),
# an HCALCS for the ESME to join (8.7.1).
SMI_ONLY = {"02-53-4C-00-00-00-00-F7": "IHD", "02-53-4C-00-00-00-00-F8": "HCALCS"}
_LAB_YEAR = {"StartDateTime": "2026-01-01T00:00:00.00Z",
             "EndDateTime": "2027-01-01T00:00:00.00Z"}
_FIELDS = {"8.11-CCS02-chf": {"DeviceID": "02-53-4C-00-00-00-00-F6"},
           "8.11-CCS01-chf": {"DeviceID": "02-53-4C-00-00-00-00-F7"},
           "8.7.1-CS03A1-esme": {"OtherDeviceID": "02-53-4C-00-00-00-00-F8"},
           "8.7.2-CS03B-esme": {"OtherDeviceID": "02-53-4C-00-00-00-00-04"},
           "2.2-CS01b-gsme": {"UTRN": lambda api: _gas_utrn(api)},
           # Log reads over the lab's year rather than the template's (2014-2015).
           **{case: _LAB_YEAR for case in ("6.13-CS10b-gsme", "4.4.2-GCS15b-gsme",
                                           "4.6.1-GCS16a-gsme", "4.4.4-GCS15d-gsme")}}


def _gas_utrn(api: LabApi) -> str:
    """A UTRN the Supplier issues for the lab's GSME, counted by the lab's time: 10p, so
    the credit stays below the emergency credit threshold (£1) for GCS06."""
    gsme = api.lab.gsmes[api.boards["gsme"].eui].gsme
    return make_utrn(gas_top_up_key(gsme.credentials.ka), gsme.eui, 10,
                     int(api.lab.sim.now().timestamp()))


@dataclass(frozen=True)
class Case:
    srv: str
    use_case: str            # the one the DCC sends for this request to this device
    template: Path
    board: str               # the lab board it goes to

    @property
    def id(self) -> str:
        return f"{self.srv}-{self.use_case}-{self.board}"


def _device_for(use_case: str, template: Path) -> str | None:
    uc = next(u for u in by_id(use_case) if not u.alert)
    kind = next((d for d in _DEVICE_ORDER if d in uc.devices), None)
    if kind != "ESME":
        return {"GSME": "gsme", "GPF": "gpf", "CHF": "chf"}.get(kind or "")
    if use_case in _POLY_ONLY or "_POLY" in template.name:
        return "poly"
    if use_case in _TWIN_ONLY or "_TWIN" in template.name:
        return "twin"
    return "esme"


_SKIPPED_KINDS = ("ERROR", "URP", "FUTURE_DATED", "DCC_SCHEDULED", "CANCELLATION")


_MATRIX = RequestMatrix.load(REFERENCE / "duis-request-matrix.json") \
    if (REFERENCE / "duis-request-matrix.json").exists() else None


def cases() -> list[Case]:
    """One case per (SRV, use case sent, device) over the templates of every use case
    the DCC transforms."""
    if not TEMPLATES.exists() or _MATRIX is None:
        return []
    found: dict[str, Case] = {}
    for use_case in transform.supported_use_cases():
        uc = next(u for u in by_id(use_case) if not u.alert)
        for srv in uc.srvs:
            for path in sorted(TEMPLATES.glob(f"{use_case}_{srv}_*_REQUEST_DUIS.XML")):
                if any(kind in path.name for kind in _SKIPPED_KINDS):
                    continue
                board = _device_for(use_case, path)
                if board is None:
                    continue
                req = duis.parse_xml(path.read_bytes())
                kind = {"esme": "ESME", "twin": "ESME", "poly": "ESME"}.get(board,
                                                                           board.upper())
                variant = {"twin": "twin", "poly": "polyphase"}.get(board, "")
                sent = transform.choose_use_case(req, Device(b"\0" * 8, kind, "",
                                                             variant=variant))
                if sent is None or not _MATRIX.get(srv).roles:
                    continue  # no use case for this body, or no User may send it
                case = Case(srv, sent, path, board)
                found.setdefault(case.id, case)
    return sorted(found.values(), key=lambda c: (
        tuple(int(p) for p in c.srv.split(".")), c.use_case, c.board))


CASES = cases()


# -- the lab and its API ----------------------------------------------------------------------


class LabApi:
    """The lab, its DCC's HTTP API on a test client, and a DCC User sending through it."""

    def __init__(self, folder: Path) -> None:
        premises_file = folder / "premises.toml"
        premises_file.write_text(PREMISES)
        self.lab = Lab(load_premises(premises_file), start=START)
        self.lab.start()
        end = START + dt.timedelta(minutes=10)
        while not self.lab.ready and self.lab.sim.now() < end:
            self.lab.sim.run_for(STEP)
        assert self.lab.ready, "the lab's HAN did not come up"
        self.boards = {b.name: b for b in self.lab.premises.boards}
        self.dcc = self.lab.wan.dcc
        self.supplier = self.lab.pki.parties[Role.SUPPLIER]
        self.operator = self.lab.pki.parties[Role.NETWORK_OPERATOR]
        for board in self.lab.premises.boards:   # the Supplier exports too (ES), the
            if board.mpxn and board.type.value == "ESME":   # network operator runs gas (GT)
                self.dcc.inventory.register(board.mpxn, ES, self.supplier.eui)
            if board.mpxn and board.type.value == "GSME":
                self.dcc.inventory.register(board.mpxn, GT, self.operator.eui)
        for text, kind in SMI_ONLY.items():
            self.dcc.inventory.add(Device(duis.eui(text), kind, COMMISSIONED))
        self.loop = asyncio.new_event_loop()
        self.client = TestClient(TestServer(create_app(self.dcc, require_signature=True)),
                                 loop=self.loop)
        self.loop.run_until_complete(self.client.start_server())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()
        self.lab.close()

    def party_for(self, srv: str):
        """The lab's party that may send `srv`, and the role it sends it in. The DCC
        tells a User's roles apart by the certificate it signs with; the lab's Supplier
        is the import (IS), gas (GS) and export (ES) supplier at once, its network
        operator the electricity distributor (ED) and gas transporter (GT)."""
        roles = self.dcc.matrix.get(srv).roles
        for role, party in ((IS, self.supplier), (GS, self.supplier), (ED, self.operator),
                            (ES, self.supplier), (GT, self.operator)):
            if role in roles:
                return party, role
        raise AssertionError(f"no lab User may send {srv} ({sorted(roles)})")

    def request(self, case: Case) -> tuple[bytes, object, duis.ServiceRequest]:
        """The case's template from the lab's User to the lab's device, signed."""
        party, role = self.party_for(case.srv)
        self.dcc.add_user(User(party.eui, role))
        user = self.dcc.users[party.eui]
        counter = self.lab.wan.next_counter(user)
        target = self.boards[case.board].eui
        text = case.template.read_text()
        text = re.sub(r"<sr:RequestID>[^<]*</sr:RequestID>",
                      f"<sr:RequestID>{duis.eui_text(party.eui)}:{duis.eui_text(target)}:"
                      f"{counter}</sr:RequestID>", text)
        now = self.lab.sim.now().strftime("%Y-%m-%dT%H:%M:%S.00Z")
        fields = dict.fromkeys(_NOW_FIELDS, now) | {
            name: value(self) if callable(value) else value
            for name, value in _FIELDS.get(case.id, {}).items()}
        for name, value in fields.items():
            text = re.sub(fr"<sr:{name}>[^<]*</sr:{name}>", f"<sr:{name}>{value}</sr:{name}>",
                          text)
        data = xmldsig.sign(text.encode(), party.ds, key_name=duis.eui_text(party.eui))
        return data, party, duis.parse_xml(data)

    def post(self, path: str, body: bytes) -> tuple[int, str]:
        async def go() -> tuple[int, str]:
            reply = await self.client.post(path, data=body,
                                           headers={"Content-Type": "application/xml"})
            return reply.status, await reply.text()
        return self.loop.run_until_complete(go())

    def poll(self, user: bytes, request_id: duis.RequestId) -> dict | None:
        """Run the lab until the device's response to `request_id` can be polled; the
        poll's {"duis", "mmc"}."""
        end = self.lab.sim.now() + ANSWER_WAIT
        box = self.client.app[HEADEND].mailboxes[user]

        async def get() -> dict:
            reply = await self.client.get(f"/api/v1/responses/{duis.eui_text(user)}",
                                          headers={"Accept": "application/json"})
            assert reply.status == 200
            return await reply.json()

        while self.lab.sim.now() < end:
            while any(r.request_id != request_id for r in list(box)[:1]):
                box.popleft()   # alerts and earlier answers: not this case's
            if box:
                return self.loop.run_until_complete(get())
            self.lab.sim.run_for(STEP)
        return None


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> LabApi:
    need(TEMPLATES)
    lab_api = LabApi(tmp_path_factory.mktemp("srv"))
    yield lab_api
    lab_api.close()


def _code(text: str) -> str:
    root = ET.fromstring(text)
    assert duis.validate(root) is duis.schema_checked()
    return root.find(f"{SR}Header/{SR}ResponseCode").text


def _payload(text: str, path: str) -> bytes:
    found = ET.fromstring(text).find(f"{SR}Body/{SR}ResponseMessage/{path}")
    assert found is not None, text
    return base64.b64decode(found.text)


def _signed_pre_command(request: bytes, signed: bytes, party) -> bytes:
    """The DUIS request returning the signed pre-command (command variant 5), signed."""
    text = request.decode()
    text = re.sub(r"<sr:CommandVariant>4<", "<sr:CommandVariant>5<", text)
    text = re.sub(r"<sr:Body>.*</sr:Body>", "<sr:Body><sr:SignedPreCommand><sr:GBCSPayload>"
                  f"{base64.b64encode(signed).decode()}</sr:GBCSPayload>"
                  "</sr:SignedPreCommand></sr:Body>", text, flags=re.S)
    return xmldsig.sign(text.encode(), party.ds)


def exchange(api: LabApi, case: Case):
    """Send `case` through the API as its User would and return the device's decoded,
    verified response."""
    data, party, req = api.request(case)
    uc = next(u for u in by_id(case.use_case) if not u.alert)
    if _MATRIX.get(case.srv).critical:
        status, text = api.post("/api/v1/serviceT", data)
        assert (status, _code(text)) == (200, "I0"), text
        pre = _payload(text, f"{SR}PreCommand/{SR}GBCSPayload")
        signed = sign_grouping_header(pre, party.ds)
        data = _signed_pre_command(data, signed, party)
    status, text = api.post("/api/v1/serviceS", data)
    assert (status, _code(text)) == (200, "I99"), text
    answer = api.poll(party.eui, req.request_id)
    assert answer is not None, f"no response to {case.id}"
    assert _code(answer["duis"]) == "I0"
    if answer["mmc"] is not None:
        assert mmc.validate(answer["mmc"]) is duis.schema_checked()
    gbcs = _payload(answer["duis"], f"{SR}GBCSPayload")
    lab = api.lab
    msg = decode(gbcs, lab.pki.keystore(), lab.pki.acb.eui)
    assert msg.header.message_code == uc.code
    assert "invalid" not in (msg.mac, msg.signature) and "valid" in (msg.mac, msg.signature)
    return msg


def _case(template: str, board: str) -> Case:
    path = TEMPLATES / template
    req = duis.parse_xml(path.read_bytes())
    return Case(req.srv, template.split("_")[0], path, board)


# What a case needs the device to be in first, set up through the DCC as a User would:
# enabling and arming need credit (credit mode), arming a disabled supply.
_CREDIT_MODE = "ECS02_1.6_IMMEDIATE_SINGLE_SUCCESS_REQUEST_DUIS.XML"
_GAS_TOP_UP = "CS01b_2.2_SUCCESS_REQUEST_DUIS.XML"
_BEFORE = {
    "7.3-ECS44-esme": (_CREDIT_MODE, "ECS43_7.2_SUCCESS_REQUEST_DUIS.XML"),
    "7.1-ECS42-esme": (_CREDIT_MODE,),
    # The gas meter's logs and configuration hold what the Supplier set or a top-up did.
    "4.4.5-GCS15e-gsme": (_GAS_TOP_UP,),
    "6.13-CS10a-gsme": (_GAS_TOP_UP,),
    "4.4.2-GCS15b-gsme": ("GCS02_1.6_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML",),
    # a Debt3 set (GCS04) then repaid from a top-up: the Debt3 repayment log has entries
    "4.4.4-GCS15d-gsme": ("GCS04_2.3_SUCCESS_REQUEST_DUIS.XML", _GAS_TOP_UP),
    "6.2.3-GCS21k-gsme": ("GCS25_6.8_SUCCESS_REQUEST_DUIS.XML",),
    # the network data log holds what a GCS31 run sampled
    "4.10-GCS18-gsme": ("GCS31_14.1_SUCCESS_REQUEST_DUIS.XML",),
}


# Gas meter reads the lab cannot yet make find something, so the meter rightly answers
# NOT_FOUND (the exchange must still verify end to end, refused the typed ZCL way):
# GCS20r, the event configurations
# (the meter holds none until GCS20 sets some, and 0x81FF asks for a group); GCS21b's
# Calendar reads (nothing publishes a gas calendar until the DCC transforms GCS01a).
_GSME_NOT_YET = frozenset(("GCS20r", "GCS21b"))
_ZCL_NOT_FOUND, _ZCL_UNSUP_COMMAND = 0x8B, 0x81


# Log reads of several entries (offsets 0, 1, ...) of a meter that has kept only a few:
# per cluster the newest are found, the older offsets NOT_FOUND (as in the RTDS response).
_LOG_READS_FOUND_NEWEST = frozenset(("4.4.2-GCS15b-gsme", "4.6.1-GCS16a-gsme"))


def _found_per_cluster(msg) -> dict[int, list[bool]]:
    """Per cluster, in order, whether each component found an entry (False: NOT_FOUND)."""
    found: dict[int, list[bool]] = {}
    for comp in (n for n in msg.tree.walk() if n.name == "component"):
        default = next((n for n in comp.walk() if n.name == "default_response"), None)
        if default is not None:
            assert default.get("status").value == _ZCL_NOT_FOUND, default
        found.setdefault(comp.get("cluster_id").value, []).append(default is None)
    return found


def _zcl_refusals(msg) -> set[int]:
    return {n.get("status").value for n in msg.tree.walk()
            if n.name == "default_response" and n.get("status") is not None
            and n.get("status").value != 0}


def _log_spare_ihd(api: LabApi) -> None:
    """An installer logs a spare IHD in the comms hub (as CCS01 would)."""
    api.lab.hub.chf.device_log.add(LogEntry(SPARE_IHD, DEVICE_TYPE[DeviceType.IHD],
                                            install_code(random.Random(6))))


def _pending_ds_certificate(api: LabApi) -> None:
    """CS02d: the ESME holds a DS key pair pending, as CS02c leaves one (here the pair it
    signs with, so the lab's key store stays right), and the request carries the
    certificate a device CA issued for it."""
    eui = api.boards["esme"].eui
    key = api.lab.pki.devices[eui].ds
    hold_pending_key(api.lab.esmes[eui].store, "DS", key)
    der = device_certificate(eui, key.public_key(), "DS", api.operator.ds, serial=0x02D)
    _FIELDS["6.15.2-CS02d-esme"] = {"DeviceCertificate": base64.b64encode(der).decode()}


def _a_gas_day(api: LabApi) -> None:
    """The lab runs through the next midnight: the gas meter takes its daily snapshot."""
    now = api.lab.sim.now()
    api.lab.sim.run_until(dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(),
                                              now.tzinfo) + dt.timedelta(minutes=1))


def _garbled_to_gas_meter(api: LabApi) -> None:
    """A message that is no GBCS command reaches the gas meter: it discards it and logs
    it in its security log (which CS10b reads)."""
    assert api.lab.gsmes[api.boards["gsme"].eui].gsme.receive(b"\xDD\x00garbled") == []


_SETUP = {"8.11-CCS02-chf": _log_spare_ihd, "6.13-CS10b-gsme": _garbled_to_gas_meter,
          "4.6.1-GCS16a-gsme": _a_gas_day,
          "6.15.2-CS02d-esme": _pending_ds_certificate}


# Requests the DCC refuses with a DUIS error (code, HTTP status), nothing sent: a twin
# element meter's two import MPANs (the DCC sets a single one only).
_REFUSED = {"6.20.1-ECS39a-twin": ("E11", 422)}


# What a device rightly refuses in the lab (none at present): (response, field, value).
_DEVICE_REFUSES: dict[str, tuple[str, str, int]] = {}


# ASN.1 responses carry their outcome as a code mmc.succeeded does not read: the
# node that holds it and the device's success value.
_ASN1_SUCCESS = {"6.15.2-CS02d-esme": ("update_device_certificate_response_code", 0)}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_srv_end_to_end(api: LabApi, case: Case):
    if case.id in _REFUSED:
        code, http = _REFUSED[case.id]
        sent = api.lab.wan.trace.count
        status, text = api.post("/api/v1/serviceS", api.request(case)[0])
        assert (status, _code(text)) == (http, code)
        assert api.lab.wan.trace.count == sent
        return
    if case.id in _SETUP:
        _SETUP[case.id](api)
    for template in _BEFORE.get(case.id, ()):
        first = _case(template, case.board)
        assert mmc.succeeded(exchange(api, first)), f"{case.id}: {first.id} failed"
    msg = exchange(api, case)
    if case.id in _DEVICE_REFUSES:
        name, field, value = _DEVICE_REFUSES[case.id]
        answers = [n.get(field).value for n in msg.tree.walk() if n.name == name]
        assert answers == [value] and not mmc.succeeded(msg)
        return
    if case.id in _LOG_READS_FOUND_NEWEST:
        found = _found_per_cluster(msg)
        assert found and all(f[0] and f == sorted(f, reverse=True)
                             for f in found.values()), found
        return
    if case.use_case in _GSME_NOT_YET and not mmc.succeeded(msg):
        assert _zcl_refusals(msg) <= {_ZCL_NOT_FOUND, _ZCL_UNSUP_COMMAND}, case.id
        return
    assert mmc.succeeded(msg), f"{case.id}: the device reports a failure"
    if case.id in _ASN1_SUCCESS:
        name, value = _ASN1_SUCCESS[case.id]
        assert [n.value for n in msg.tree.walk() if n.name == name] == [value], case.id


def test_every_supported_srv_of_a_lab_device_has_a_case():
    """Nothing the DCC transforms for the lab's device types is left out: every SRV with
    a use case for them (and a template, and a User who may send it) has a case."""
    need(TEMPLATES)
    wanted = set()
    for use_case in transform.supported_use_cases():
        uc = next(u for u in by_id(use_case) if not u.alert)
        if set(_DEVICE_ORDER) & set(uc.devices):
            wanted |= {srv for srv in uc.srvs if _MATRIX.get(srv).roles and any(
                TEMPLATES.glob(f"{use_case}_{srv}_*_REQUEST_DUIS.XML"))}
    assert wanted - {c.srv for c in CASES} == set()


def test_smetslab_send_signs_and_sends_critical_and_non_critical_requests(
        api: LabApi, capsys, monkeypatch):
    """`smetslab send` (tools.debug.client) against the lab's API: a non-critical read and
    a critical disable (pre-command signed with the User's key), answers as trees with
    the response's GBCS decoded and verified."""
    import threading

    from tools.debug import client

    url = str(api.client.server.make_url("/"))
    supplier = duis.eui_text(api.supplier.eui)
    esme = duis.eui_text(api.boards["esme"].eui)
    api.dcc.add_user(User(api.supplier.eui, IS))
    codes: list[int] = []

    def run_client() -> None:
        for srv, fields in (("4.1.1", {}), ("7.2", {"body": "DisableSupply"})):
            counter = api.lab.wan.next_counter(api.dcc.users[api.supplier.eui]) + 10
            codes.append(client.send(url, srv, fields, client.Target(supplier, esme, counter),
                                     wait_s=60, keys=api.lab.pki.keystore()))

    async def drive() -> None:
        worker = threading.Thread(target=run_client)
        worker.start()
        while worker.is_alive():
            api.lab.sim.run_for(STEP)
            await asyncio.sleep(0.01)
        worker.join()

    api.loop.run_until_complete(drive())
    out = capsys.readouterr().out
    assert codes == [0, 0], out
    assert "ResponseCode: I99" in out and "PreCommand" in out
    assert "GBCS: ECS17b" in out and "GBCS: ECS43" in out and "signature valid" in out
    monkeypatch.delenv(client.KEYS_ENV, raising=False)
    with pytest.raises(client.ClientError, match="no key store"):
        client.send(url, "4.1.1", {}, client.Target(supplier, esme, 1))
