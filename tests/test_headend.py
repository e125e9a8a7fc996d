"""The DCC head end: DUIS parsing and responses, access control, transforms against the
RTDS, and the Dcc flow (send, sign, hold, match, alerts)."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import KEYSTORE, REFERENCE, RTDS, need

from gbcs import crypto
from gbcs import keystore as keystores
from gbcs.axdr import data_node
from gbcs.build import build_message
from gbcs.content import CRA_ALERT, CRA_RESPONSE
from gbcs.dlms import access_response, alert_notification
from gbcs.message import DEFAULT_ACB, decode
from gbcs.usecases import by_id
from tools.headend import access, duis, mmc, transform
from tools.headend.access import (COMMISSIONED, DECOMMISSIONED, GS, IS, AnomalyDetector,
                                  Device, Inventory, RequestMatrix, Threshold, User)
from tools.headend.dcc import Accepted, Dcc, DccKeys, Quarantined

TEMPLATES = REFERENCE / "duis-templates"
UTC = dt.timezone.utc
USER = bytes.fromhex("90B3D51F30010000")
ESME = bytes.fromhex("00DB1234567890A0")
MPAN = "1234567890123"


def templates() -> list[Path]:
    return sorted(TEMPLATES.glob("*_REQUEST_DUIS.XML")) if TEMPLATES.exists() else []


def template(name: str) -> bytes:
    return (need(TEMPLATES) / name).read_bytes()


# -- DUIS ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", templates(), ids=lambda p: p.name[:-len("_REQUEST_DUIS.XML")])
def test_every_template_parses_and_its_json_form_is_the_same_request(path):
    data = path.read_bytes()
    req = duis.parse_xml(data)
    assert req.schema_checked == duis.schema_checked()
    assert req.srv.startswith(req.service_reference)
    assert req.body.name and req.request_id.counter >= 0
    as_json = json.dumps(duis.xml_to_json(data))
    assert duis.parse(as_json) == req


def test_schema_is_found_in_shared():
    need(REFERENCE / "duis-schema")
    assert duis.schema_checked()


def test_request_fields():
    req = duis.parse_xml(template("ECS17b_4.1.1_DSP_FUTURE_DATED_REQUEST_DUIS.XML"))
    assert req.request_id == duis.RequestId(USER, ESME, 1000)
    assert str(req.request_id) == "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000"
    assert (req.command_variant, req.srv, req.service) == (1, "4.1.1",
                                                           "ReadInstantaneousImportRegisters")
    assert req.execution_datetime == dt.datetime(2015, 1, 15, 9, tzinfo=UTC)
    top_up = duis.parse_xml(template("CS01a_2.2_SUCCESS_REQUEST_DUIS.XML"))
    assert top_up.body.value("UTRN") == "73946144332040217315"


@pytest.mark.parametrize("mangle, path", [
    (lambda x: x.replace(b"73946144332040217315", b"7394"), "Request/Body/TopUpDevice/UTRN"),
    (lambda x: x.replace(b"<sr:CommandVariant>1<", b"<sr:CommandVariant>9<"),
     "Request/Header/CommandVariant"),
    (lambda x: x.replace(b":12884901888<", b":x<"), "Request/Header/RequestID"),
])
def test_bad_requests_are_typed_errors_naming_the_element(mangle, path):
    bad = mangle(template("CS01a_2.2_SUCCESS_REQUEST_DUIS.XML"))
    with pytest.raises(duis.DuisError) as info:
        duis.parse_xml(bad)
    assert info.value.code is None and info.value.http_status == 400
    assert info.value.path == path


@pytest.mark.parametrize("data", [b"", b"<sr:Request", b"{\"Request\": 3}", b"[1]",
                                  b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", b"<a/>"])
def test_garbage_is_a_duis_error_never_a_traceback(data):
    with pytest.raises(duis.DuisError):
        duis.parse(data)


def test_without_the_schema_only_structure_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv(duis.SCHEMA_ENV, str(tmp_path))
    assert not duis.schema_checked()
    data = template("CS01a_2.2_SUCCESS_REQUEST_DUIS.XML")
    req = duis.parse_xml(data.replace(b"73946144332040217315", b"7394"))
    assert req.schema_checked is False and req.body.value("UTRN") == "7394"
    with pytest.raises(duis.DuisError) as info:
        duis.parse_xml(data.replace(b"<sr:ServiceReferenceVariant>2.2<",
                                    b"<sr:ServiceReferenceVariant>4.1.1<"))
    assert info.value.path == "Request/Header/ServiceReferenceVariant"
    body = data.index(b"<sr:Body>")
    with pytest.raises(duis.DuisError) as info:
        duis.parse_xml(data[:body] + data[data.index(b"</sr:Body>") + 10:])
    assert info.value.path == "Request"


def test_service_responses_are_schema_valid():
    need(REFERENCE / "duis-schema")
    rid = duis.RequestId(USER, ESME, 7)
    when = dt.datetime(2026, 1, 1, 12, 30, tzinfo=UTC)
    for resp in (duis.ServiceResponse("I99", when, rid, None, "4.1", "4.1.1"),
                 duis.ServiceResponse("I0", when, rid, rid, "4.1", "4.1.1", gbcs_payload=b"\xdd"),
                 duis.ServiceResponse("I0", when, rid, None, "7.2", "7.2", pre_command=b"\xdf"),
                 duis.ServiceResponse("E5", when, rid, None, "7.2", "7.2"),
                 duis.ServiceResponse("I0", when, None, rid, gbcs_payload=b"\x01",
                                      alert_code=0x8F66)):
        assert duis.validate_response(resp.to_xml())
    broken = duis.ServiceResponse("E999", when, rid, None, "7.2", "7.2").to_xml()
    with pytest.raises(duis.DuisError):
        duis.validate_response(broken)


# -- access -------------------------------------------------------------------------------


@pytest.fixture
def matrix() -> RequestMatrix:
    return RequestMatrix.load(need(REFERENCE / "duis-request-matrix.json"))


def test_matrix_roles(matrix):
    assert matrix.check_role("4.1.1", IS).critical is False
    assert matrix.check_role("7.2", IS).critical is True
    with pytest.raises(duis.DuisError) as info:
        matrix.check_role("7.2", "OU")
    assert info.value.code == "E2"
    with pytest.raises(duis.DuisError) as info:
        matrix.check_role("99.9", IS)
    assert info.value.code == "E11"


def test_inventory_persists_and_checks_status_and_registration(tmp_path, matrix):
    db = access.connect(tmp_path / "dcc.sqlite")
    inv = Inventory(db)
    inv.add(Device(ESME, "ESME", access.INSTALLED_NOT_COMMISSIONED, MPAN))
    inv.register(MPAN, IS, USER)
    supplier, other = User(USER, IS), User(bytes(8), IS)
    read = matrix.get("4.1.1")
    with pytest.raises(duis.DuisError) as info:
        inv.authorise(supplier, ESME, read)
    assert info.value.code == "E5"
    inv.set_status(ESME, COMMISSIONED)
    again = Inventory(access.connect(tmp_path / "dcc.sqlite"))
    assert again.authorise(supplier, ESME, read).status == COMMISSIONED
    with pytest.raises(duis.DuisError) as info:
        again.authorise(other, ESME, read)
    assert info.value.code == "E4"
    with pytest.raises(duis.DuisError) as info:
        again.authorise(supplier, bytes(8), read)
    assert info.value.code == "E19"
    with pytest.raises(duis.DuisError) as info:
        again.authorise(supplier, ESME, read, device_types=("GSME",))
    assert info.value.code == "E11"


def test_anomaly_threshold_window():
    det = AnomalyDetector({"4.1.1": Threshold(2, dt.timedelta(minutes=10))})
    t0 = dt.datetime(2026, 1, 1, tzinfo=UTC)
    assert [det.over(USER, "4.1.1", t0 + dt.timedelta(minutes=i)) for i in range(3)] == \
        [False, False, True]
    assert det.over(USER, "4.1.1", t0 + dt.timedelta(minutes=11)) is False
    assert det.over(USER, "7.2", t0) is False


# -- transforms against the RTDS ----------------------------------------------------------


def _rtds_pairs() -> list[tuple[Path, str, Path]]:
    """(template, use case, RTDS command) for every template whose use case we transform
    and whose RTDS folder has the command of the same name."""
    pairs = []
    for path in templates():
        stem = path.name[:-len("_REQUEST_DUIS.XML")]
        label, srv = stem.split("_")[:2]
        ucs = by_id(label)
        if not ucs or ucs[0].use_case not in transform.supported_use_cases():
            continue
        command = RTDS / f"{srv}_{label}" / f"{stem}_COMMAND_GBCS.HEX"
        if command.exists():
            pairs.append((path, ucs[0].use_case, command))
    return pairs


@pytest.fixture(scope="module")
def rtds_keys() -> keystores.Keystore:
    return keystores.load(need(KEYSTORE))


def _hex(path: Path) -> bytes:
    return bytes.fromhex(path.read_text().strip())


# The devices RTDS commands name besides their recipient, as the SMI would hold them
# (joins and the CHF device log carry their type).
RTDS_DEVICES = {bytes.fromhex(eui): Device(bytes.fromhex(eui), kind, COMMISSIONED)
                for eui, kind in (("00DB1234567890A0", "ESME"), ("00DB12345678909A", "HCALCS"),
                                  ("00DB12345678909C", "GPF"))}

# The DCC's time in the RTDS commands (GSME commands carry it as their issuer event id).
RTDS_NOW = dt.datetime(2015, 1, 1, tzinfo=UTC)


def _shape(node) -> list:
    """A decoded tree as (name, kind) pairs, values left out."""
    return [(n.name, n.kind) for n in node.walk() if n.kind != "view"]


@pytest.mark.parametrize("tpl, use_case, command", _rtds_pairs(),
                         ids=lambda v: v.name[:-len("_REQUEST_DUIS.XML")]
                         if isinstance(v, Path) and v.suffix == ".XML" else "")
def test_transform_matches_rtds_command(tpl, use_case, command, rtds_keys):
    req = duis.parse_xml(tpl.read_bytes())
    uc = by_id(use_case)[0]
    variant = "twin" if "_TWIN" in tpl.name else ""
    device = Device(req.request_id.target, uc.devices[0], COMMISSIONED, variant=variant)
    want = _hex(command)
    want_msg = decode(want, verify=False)
    acb_counter = want_msg.header.originator_counter if transform.via_acb(use_case, device) \
        else None
    if "_URP_" in tpl.name:  # reads for an unknown remote party: not transformed yet
        with pytest.raises(duis.DuisError) as info:
            transform.transform(req, device, use_case, acb=DEFAULT_ACB, acb_counter=acb_counter)
        assert info.value.code == "E11"
        return
    cmd = transform.transform(req, device, use_case, acb=DEFAULT_ACB, acb_counter=acb_counter,
                              now=RTDS_NOW, inventory=RTDS_DEVICES.get)
    assert cmd.message_code == want_msg.header.message_code
    acb_ka = rtds_keys.private_keys(DEFAULT_ACB, keystores.KA)[0]
    device_ka = rtds_keys.public_keys(device.eui, keystores.KA)[0]
    if cmd.critical:
        pre = command.with_name(command.name.replace("_COMMAND_", "_PRECOMMAND_"))
        assert cmd.apdu == _hex(pre)  # byte for byte
        user_ds = rtds_keys.private_keys(cmd.originator, keystores.DS)[0]
        ours = decode(cmd.mac(cmd.sign_with(user_ds), acb_ka, device_ka), rtds_keys)
        assert (ours.signature, ours.mac) == ("valid", "valid")
        assert _shape(ours.tree) == _shape(want_msg.tree)
    else:
        got = cmd.mac(cmd.apdu, acb_ka, device_ka)
        if tpl.name in RTDS_OTHER_REQUEST:
            assert _shape(decode(got, rtds_keys).tree) == _shape(want_msg.tree)
        else:
            assert got == want  # byte for byte, MAC included
        assert decode(got, rtds_keys).mac == "valid"


# Templates whose RTDS command was made from another request: the ECS25a command
# configures alerts 810D, 810E, 81C4 and 81C5 where the template names 810D, 810E and
# the polyphase 81B7 (which a single phase meter leaves out): same objects, other bits.
RTDS_OTHER_REQUEST = frozenset(("ECS25a_6.22_SUCCESS_REQUEST_DUIS.XML",))


# Use cases with no RTDS command to check against: checked end to end on the lab's
# devices instead (tests/test_headend_srv.py).
NO_RTDS_COMMAND = frozenset(("GCS39", "ECS29b", "ECS35e", "ECS10", "ECS16", "ECS39a",
                             "ECS21c", "ECS34", "ECS25a2", "ECS61d", "ECS25r2", "ECS30a"))


def test_rtds_pairs_cover_the_supported_use_cases():
    need(RTDS)
    covered = {uc for _, uc, _ in _rtds_pairs()}
    assert covered == set(transform.supported_use_cases()) - NO_RTDS_COMMAND


def test_unsupported_requests_are_e11_never_a_crash():
    req = duis.parse_xml(template("GCS09_3.2_SUCCESS_REQUEST_DUIS.XML"))
    gsme = Device(req.request_id.target, "GSME", COMMISSIONED)
    with pytest.raises(duis.DuisError) as info:
        transform.transform(req, gsme)
    assert info.value.code == "E11"
    assert "4.1.1" in transform.supported_srvs()


# -- the Dcc ------------------------------------------------------------------------------


class FixedClock:
    def __init__(self, now: dt.datetime) -> None:
        self.t = now

    def now(self) -> dt.datetime:
        return self.t


@pytest.fixture
def lab(tmp_path, rtds_keys, matrix):
    """A Dcc with the RTDS key store: the supplier 90B3D51F30010000 registered for an
    ESME; the WAN collects what is sent, delivery what Users receive."""
    sent, delivered = [], []
    keys = DccKeys(
        acb=DEFAULT_ACB, acb_ka=rtds_keys.private_keys(DEFAULT_ACB, keystores.KA)[0],
        device_ka=lambda eui: next(iter(rtds_keys.public_keys(eui, keystores.KA)), None),
        user_ds=lambda eui: next(iter(rtds_keys.public_keys(eui, keystores.DS)), None))
    clock = FixedClock(dt.datetime(2015, 1, 1, tzinfo=UTC))
    dcc = Dcc(db_path=tmp_path / "dcc.sqlite", keys=keys, clock=clock, matrix=matrix,
              wan=lambda rcpt, msg: sent.append((rcpt, msg)),
              deliver=lambda user, resp: delivered.append((user, resp)),
              anomaly=AnomalyDetector({"7.4": Threshold(1, dt.timedelta(hours=1))}))
    dcc.inventory.add(Device(ESME, "ESME", COMMISSIONED, MPAN))
    dcc.inventory.register(MPAN, IS, USER)
    user = User(USER, IS)
    dcc.add_user(user)
    return dcc, user, sent, delivered, clock


def test_non_critical_request_is_sent_macd_and_its_response_matched(lab, rtds_keys):
    dcc, user, sent, delivered, _ = lab
    result = dcc.submit(template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"), user)
    assert isinstance(result, Accepted) and result.response.code == "I99"
    assert duis.validate_response(result.response.to_xml()) is duis.schema_checked()
    (rcpt, msg), = sent
    assert rcpt == ESME and decode(msg, rtds_keys).mac == "valid"
    content = access_response([data_node("", 42, "double-long-unsigned")], [("get", 0)], 1000)
    response = build_message(cra=CRA_RESPONSE, originator_counter=1000, originator=ESME,
                             recipient=USER, message_code=0x0027, content=content)
    answer = dcc.receive(response)
    assert answer is not None and answer.code == "I0" and answer.request_id.counter == 1000
    assert delivered == [(USER, answer)]
    assert duis.validate_response(answer.to_xml()) is duis.schema_checked()
    assert dcc.receive(response) is None  # answered once


def test_replayed_counter_and_wrong_user_are_refused_and_logged(lab):
    dcc, user, sent, _, _ = lab
    req = template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML")
    assert isinstance(dcc.submit(req, user), Accepted)
    replay = dcc.submit(req, user)
    assert isinstance(replay, duis.DuisError) and replay.code == "E1"
    gas = User(USER, GS)
    wrong = dcc.submit(req.replace(b":1000<", b":1001<"), gas)
    assert isinstance(wrong, duis.DuisError) and wrong.code == "E1"
    assert len(sent) == 1
    failed = dcc.log.failed_authentications()
    assert [e.code for e in failed] == ["E1", "E1"]


def test_role_status_and_format_errors(lab):
    dcc, user, sent, _, _ = lab
    other = User(bytes.fromhex("90B3D51F30030000"), "OU")
    dcc.add_user(other)
    ou_req = template("ECS43_7.2_SUCCESS_REQUEST_DUIS.XML").replace(
        b"90-B3-D5-1F-30-01-00-00", b"90-B3-D5-1F-30-03-00-00")
    assert dcc.submit(ou_req, other).code == "E2"
    dcc.inventory.set_status(ESME, DECOMMISSIONED)
    assert dcc.submit(template("ECS45_7.4_SUCCESS_REQUEST_DUIS.XML"), user).code == "E5"
    bad = dcc.submit(b"<not-duis/>", user)
    assert bad.code is None and bad.http_status == 400
    wrong_cv = template("ECS43_7.2_SUCCESS_REQUEST_DUIS.XML").replace(
        b"<sr:CommandVariant>4<", b"<sr:CommandVariant>1<")
    dcc.inventory.set_status(ESME, COMMISSIONED)
    assert dcc.submit(wrong_cv, user).code == "E12"
    assert sent == []
    assert {e.code for e in dcc.log.entries(failed_only=True)} >= {"E2", "E5", "E12",
                                                                    "HTTP 400"}


def test_critical_request_returns_pre_command_then_sends_the_signed_one(lab, rtds_keys):
    dcc, user, sent, _, _ = lab
    result = dcc.submit(template("ECS43_7.2_SUCCESS_REQUEST_DUIS.XML"), user)
    assert result.awaiting_signature and result.response.pre_command == result.data
    assert sent == []
    key = rtds_keys.private_keys(USER, keystores.DS)[0]
    wrong_key = crypto.generate_private_key()
    forged = transform.Command(by_id("ECS43")[0], USER, ESME, 0, result.data)
    assert dcc.signed(forged.sign_with(wrong_key), user).code == "E1"
    accepted = dcc.signed(forged.sign_with(key), user)
    assert isinstance(accepted, Accepted) and accepted.response.code == "I99"
    (rcpt, msg), = sent
    checked = decode(msg, rtds_keys)
    assert (checked.signature, checked.mac) == ("valid", "valid")
    assert dcc.signed(forged.sign_with(key), user).code == "E12"  # only once


def test_future_dated_request_is_held_until_its_time(lab):
    dcc, user, sent, _, clock = lab
    result = dcc.submit(template("ECS17b_4.1.1_DSP_FUTURE_DATED_REQUEST_DUIS.XML"), user)
    assert result.held_until == dt.datetime(2015, 1, 15, 9, tzinfo=UTC) and sent == []
    assert dcc.tick() == 0
    clock.t = dt.datetime(2015, 1, 15, 9, tzinfo=UTC)
    assert dcc.tick() == 1 and len(sent) == 1 and dcc.held() == []


def test_anomalous_requests_are_quarantined_until_released(lab):
    dcc, user, sent, _, _ = lab
    first = template("ECS45_7.4_SUCCESS_REQUEST_DUIS.XML")
    assert isinstance(dcc.submit(first, user), Accepted)
    second = dcc.submit(first.replace(b":1000<", b":1001<"), user)
    assert isinstance(second, Quarantined) and len(sent) == 1
    assert isinstance(dcc.release(str(second.request_id)), Accepted) and len(sent) == 2


def test_alerts_go_to_the_registered_supplier(lab):
    dcc, _, _, delivered, _ = lab
    content = alert_notification(0x8F01, bytes(9) + b"\x80\x00\xff", [], 5)
    alert = build_message(cra=CRA_ALERT, originator_counter=5, originator=ESME,
                          recipient=bytes.fromhex("90B3D51F30000007"), message_code=0x1001,
                          content=content)
    routed = dcc.receive(alert)
    assert routed is not None and delivered == [(USER, routed)]
    assert routed.alert_code == 0x8F01
    assert duis.validate_response(routed.to_xml()) is duis.schema_checked()
    assert dcc.receive(b"\x00garbage") is None


def test_dcc_scheduled_read_runs_daily_until_deleted(lab, rtds_keys):
    dcc, user, sent, _, clock = lab
    created = dcc.non_device(template("ECS21a_5.1._DCC_SCHEDULED_REQUEST_DUIS.XML"), user)
    assert created.code == "I0" and created.schedule_id is not None
    assert duis.validate_response(created.to_xml()) is duis.schema_checked()
    assert dcc.tick() == 0 and sent == []
    clock.t = dt.datetime(2015, 1, 2, 0, 0, 1, tzinfo=UTC)
    assert dcc.tick() == 1 and dcc.tick() == 0
    (rcpt, msg), = sent
    checked = decode(msg, rtds_keys)
    assert rcpt == ESME and checked.mac == "valid" and checked.use_case.use_case == "ECS21a"
    assert checked.header.originator == DEFAULT_ACB
    period = [n.value for n in checked.tree.walk() if n.kind.endswith("octet-string")
              and isinstance(n.value, bytes) and len(n.value) == 12]
    assert period[:2] == [transform.cosem_datetime(dt.datetime(2015, 1, 1, tzinfo=UTC)),
                          transform.cosem_datetime(dt.datetime(2015, 1, 2, tzinfo=UTC))]
    delete = template("5.3_DELETE_SCHEDULE_REQUEST_DUIS.XML").replace(
        b">123<", f">{created.schedule_id}<".encode())
    rid = duis.parse_xml(delete).request_id
    delete = delete.replace(f":{rid.counter}<".encode(), b":5000<")
    assert dcc.non_device(delete, user).code == "I99"
    clock.t = dt.datetime(2015, 1, 3, 0, 0, 1, tzinfo=UTC)
    assert dcc.tick() == 0
    assert dcc.submit(template("ECS21a_5.1._DCC_SCHEDULED_REQUEST_DUIS.XML"), user).code == "E13"


# -- sequenced requests, the quarantine alert, the SMI requests ---------------------------

def _counter(xml: bytes, counter: int) -> bytes:
    """The request with its RequestID counter replaced."""
    rid = duis.parse_xml(xml).request_id
    return xml.replace(f"{duis.eui_text(rid.target)}:{rid.counter}<".encode(),
                       f"{duis.eui_text(rid.target)}:{counter}<".encode())


def _after(xml: bytes, preceding: str) -> bytes:
    return xml.replace(b"</sr:RequestID>", b"</sr:RequestID><sr:PrecedingServiceRequest"
                       b"ID>" + preceding.encode() + b"</sr:PrecedingServiceRequestID>", 1)


def _read_response(counter: int, result: int = 0) -> bytes:
    data = data_node("", 42, "double-long-unsigned") if result == 0 else \
        data_node("", None, "null-data")
    content = access_response([data], [("get", result)], counter)
    return build_message(cra=CRA_RESPONSE, originator_counter=counter, originator=ESME,
                         recipient=USER, message_code=0x0027, content=content)


def test_sequenced_request_waits_for_its_preceding_request(lab):
    dcc, user, sent, _, _ = lab
    first = dcc.submit(template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"), user)
    second_xml = _after(_counter(template("ECS45_7.4_SUCCESS_REQUEST_DUIS.XML"), 1001),
                        str(first.request_id))
    second = dcc.submit(second_xml, user)
    assert isinstance(second, Accepted) and second.response.code == "I99"
    assert second.data is None and len(sent) == 1             # held behind the first
    dcc.receive(_read_response(1000))
    assert len(sent) == 2                                      # released by its response
    assert decode(sent[1][1], verify=False).header.originator_counter == 1001
    unknown = dcc.submit(_after(_counter(template("ECS45_7.4_SUCCESS_REQUEST_DUIS.XML"),
                                         1002), f"{duis.eui_text(USER)}:"
                                f"{duis.eui_text(ESME)}:77"), user)
    assert unknown.code is None and unknown.path == "Request/Header/PrecedingServiceRequestID"


def test_a_failed_request_breaks_its_sequence(lab):
    dcc, user, sent, _, _ = lab
    first = dcc.submit(template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"), user)
    waiting = _after(_counter(template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"), 1001),
                     str(first.request_id))
    assert isinstance(dcc.submit(waiting, user), Accepted) and len(sent) == 1
    dcc.receive(_read_response(1000, result=3))                # read-write-denied
    assert len(sent) == 1                                      # the second is dropped
    assert any(e.direction == "cancelled" for e in dcc.log.entries())
    later = dcc.submit(_after(_counter(template("ECS45_7.4_SUCCESS_REQUEST_DUIS.XML"), 1002),
                              str(first.request_id)), user)
    assert later.code is None and "failed" in later.message


def test_quarantine_raises_the_dcc_alert_to_the_user(lab):
    dcc, user, _, delivered, _ = lab
    first = template("ECS45_7.4_SUCCESS_REQUEST_DUIS.XML")
    dcc.submit(first, user)
    quarantined = dcc.submit(_counter(first, 1001), user)
    assert isinstance(quarantined, Quarantined)
    (to, alert), = delivered
    assert to == USER and alert.dcc_alert_code == "AD1"
    xml = alert.to_xml()
    assert duis.validate_response(xml) is duis.schema_checked()
    assert f"<sr:RequestID>{quarantined.request_id}</sr:RequestID>" in xml


CHF = bytes.fromhex("00DB123456789FFF")
NEW_ESME = bytes.fromhex("00DB1234567890B1")


def _smi(dcc, user, name: str, counter: int, *swaps: tuple[bytes, bytes]):
    xml = _counter(template(name), counter)
    for old, new in swaps:
        xml = xml.replace(old, new)
    response = dcc.non_device(xml, user)
    if not isinstance(response, duis.DuisError):
        assert duis.validate_response(response.to_xml()) is duis.schema_checked()
    return response


def test_smi_prenotify_read_update_decommission_and_comms_hub_status(lab):
    dcc, user, _, _, _ = lab
    a0 = b"00-DB-12-34-56-78-90-A0"
    new = duis.eui_text(NEW_ESME).encode()
    # pre-notifying a device the SMI already holds as Commissioned is refused
    assert _smi(dcc, user, "12.2_DEVICE_PRE_NOTIFICATION_REQUEST_DUIS.XML", 2000).code == "E5"
    ok = _smi(dcc, user, "12.2_DEVICE_PRE_NOTIFICATION_REQUEST_DUIS.XML", 2001, (a0, new))
    assert ok.code == "I99"
    device = dcc.inventory.device(NEW_ESME)
    assert (device.status, device.device_type) == (access.PENDING, "ESME")
    assert dcc.inventory.details(NEW_ESME)["manufacturer"] == "AB01"
    read = _smi(dcc, user, "8.2_READ_INVENTORY_REQUEST_DUIS.XML", 2002,
                (b"00-DB-12-34-56-78-90-A2", new))
    assert read.code == "I0" and "<sr:DeviceStatus>Pending</sr:DeviceStatus>" in read.to_xml()
    update = template("8.4_UPDATE_INVENTORY_REQUEST_DUIS.XML").replace(
        b"<sr:DeleteDevice/>", b"<sr:UpdateDeviceStatusExceptCH>InstalledNotCommissioned"
        b"</sr:UpdateDeviceStatusExceptCH>").replace(a0, new)
    dcc_update = dcc.non_device(_counter(update, 2003), user)
    assert dcc_update.code == "I99"
    assert dcc.inventory.device(NEW_ESME).status == access.INSTALLED_NOT_COMMISSIONED
    # only a Pending device may be deleted
    assert _smi(dcc, user, "8.4_UPDATE_INVENTORY_REQUEST_DUIS.XML", 2004,
                (a0, new)).code == "E5"
    assert dcc.inventory.device(NEW_ESME) is not None
    # the comms hub: install success with SM WAN commissions it
    dcc.inventory.add(Device(CHF, "CHF", access.INSTALLED_NOT_COMMISSIONED))
    dcc.inventory.add(Device(ESME, "ESME", COMMISSIONED, MPAN, chf=CHF))
    hub = _smi(dcc, user, "8.14.1_COMMUNICATIONS_HUB_STATUS_UPDATE_INSTALL_SUCCESS_REQUEST_DUIS"
               ".XML", 2005, (b"00-DB-12-34-56-78-90-A2", duis.eui_text(CHF).encode()))
    assert hub.code == "I99" and dcc.inventory.device(CHF).status == COMMISSIONED
    by_mpxn = template("8.2_READ_INVENTORY_REQUEST_DUIS.XML").replace(
        b"<sr:DeviceID>00-DB-12-34-56-78-90-A2</sr:DeviceID>", f"<sr:MPxN>{MPAN}</sr:MPxN>"
        .encode())
    listed = dcc.non_device(_counter(by_mpxn, 2006), user).to_xml()
    assert listed.count("<sr:Device>") == 2 and "<sr:DeviceType>CHF</sr:DeviceType>" in listed
    # decommission: the registered supplier only, then the device takes no commands
    stranger = User(bytes.fromhex("90B3D51F30090000"), IS)
    dcc.add_user(stranger)
    other = template("8.3_DECOMMISSION_DEVICE_REQUEST_DUIS.XML").replace(
        b"90-B3-D5-1F-30-01-00-00", b"90-B3-D5-1F-30-09-00-00")
    assert dcc.non_device(other, stranger).code == "E4"
    assert _smi(dcc, user, "8.3_DECOMMISSION_DEVICE_REQUEST_DUIS.XML", 2007).code == "I99"
    assert dcc.inventory.device(ESME).status == DECOMMISSIONED
    assert dcc.submit(_counter(template("ECS45_7.4_SUCCESS_REQUEST_DUIS.XML"), 2008),
                      user).code == "E5"
    unknown = _smi(dcc, user, "8.3_DECOMMISSION_DEVICE_REQUEST_DUIS.XML", 2009,
                   (a0, b"00-DB-12-34-56-78-90-EE"))
    assert unknown.code == "E19"


# -- device responses in the MMC form ------------------------------------------------------

def _rtds_responses() -> list[Path]:
    return sorted(p for p in RTDS.glob("*/*_RESPONSE_GBCS.HEX")
                  if not p.parent.name.startswith("NA_")) if RTDS.exists() else []


@pytest.mark.parametrize("path", _rtds_responses(), ids=lambda p: p.name[:-len("_GBCS.HEX")])
def test_every_rtds_response_has_a_schema_valid_mmc_form(path, rtds_keys):
    srv = path.parent.name.split("_")[0]
    sr = ".".join(srv.split(".")[:2])
    root = mmc.gbcs_response(_hex(path), srv=srv, service_reference=sr, keys=rtds_keys)
    text = ET.tostring(root, encoding="unicode")
    assert mmc.validate(text) is duis.schema_checked()
    ra = f"{{{duis.RA}}}"
    assert root.find(f"{ra}Header/{ra}ServiceReferenceVariant").text == srv
    message = root.find(f"{ra}Body/{ra}ResponseMessage")
    assert message.find(f"{ra}SMETSData") is not None or message.find(f"{ra}GBCSData") is not None


def _mmc(name: str, rtds_keys, srv: str, keys=True) -> ET.Element:
    folder, = [p for p in RTDS.iterdir() if (p / name).exists()]
    return mmc.gbcs_response(_hex(folder / name), srv=srv, service_reference=srv[:3],
                             keys=rtds_keys if keys else None)


def test_mmc_values_for_reads_top_up_supply_state_and_profiles(rtds_keys):
    need(RTDS)
    ra = f"{{{duis.RA}}}"
    smets = f"{ra}Body/{ra}ResponseMessage/{ra}SMETSData/"
    twin = _mmc("ECS17b_4.1.1_TWIN_SUCCESS_RESPONSE_GBCS.HEX", rtds_keys, "4.1.1")
    elec = twin.find(smets + f"{ra}ReadInstantaneousImportRegistersRsp/{ra}Electricity")
    assert [e.tag.split("}")[1] for e in elec] == [
        "ActiveImportRegister", "ReactiveImportRegister", "SecondaryActiveImportRegister"]
    top_up = _mmc("CS01a_2.2_SUCCESS_RESPONSE_GBCS.HEX", rtds_keys, "2.2")
    assert top_up.find(smets + f"{ra}TopUpDeviceRsp").get("MessageSuccess") == "true"
    state = _mmc("ECS45_7.4_SUCCESS_RESPONSE_GBCS.HEX", rtds_keys, "7.4")
    assert state.find(smets + f"{ra}ReadSupplyStatusRsp/{ra}SupplyState").text == "Enabled"
    profile = _mmc("ECS22b_4.8.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX", rtds_keys, "4.8.1")
    entries = profile.findall(smets + f"{ra}ReadActiveImportProfileDataRsp/{ra}LogEntry")
    assert len(entries) == 49
    assert entries[0].find(f"{ra}Timestamp").text == "2014-12-31T00:00:00Z"
    assert entries[1].find(f"{ra}Electricity/{ra}PrimaryValue").text == "243"
    # without the User's key the protected read stays GBCS, marked encrypted
    sealed = _mmc("ECS17b_4.1.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX", rtds_keys, "4.1.1", False)
    data = sealed.find(f"{ra}Body/{ra}ResponseMessage/{ra}GBCSData")
    assert data.get("format") == "encrypted" and sealed.find(smets[:-1]) is None
    with pytest.raises(duis.DuisError):
        mmc.gbcs_response(b"\xdd\x00garbage")


def test_commissioning_makes_the_device_commissioned(lab, rtds_keys):
    dcc, user, sent, _, _ = lab
    dcc.inventory.set_status(ESME, access.INSTALLED_NOT_COMMISSIONED)
    result = dcc.submit(template("ECS70Commission_8.1.1_SUCCESS_REQUEST_DUIS.XML"), user)
    assert result.awaiting_signature
    command = transform.Command(by_id("ECS70")[0], USER, ESME, 1000, result.data)
    assert isinstance(dcc.signed(command.sign_with(
        rtds_keys.private_keys(USER, keystores.DS)[0]), user), Accepted) and len(sent) == 1
    null = [data_node("", None, "null-data") for _ in range(3)]
    clock_now = data_node("", transform.cosem_datetime(dt.datetime(2015, 1, 1, tzinfo=UTC)),
                          "octet-string")
    content = access_response(null + [clock_now, data_node("", 0, "unsigned")],
                              [("set", 0), ("action", 0), ("action", 0), ("get", 0), ("get", 0)],
                              1000)
    dcc.receive(build_message(cra=CRA_RESPONSE, originator_counter=1000, originator=ESME,
                              recipient=USER, message_code=0x0062, content=content))
    assert dcc.inventory.device(ESME).status == COMMISSIONED
    assert dcc.inventory.details(ESME)["commissioned"] == "2015-01-01"


def test_mmc_values_for_gas_reads(rtds_keys):
    need(RTDS)
    ra = f"{{{duis.RA}}}"
    smets = f"{ra}Body/{ra}ResponseMessage/{ra}SMETSData/"
    read = _mmc("GCS13a_4.1.1_SUCCESS_RELIABLE_GSME_RESPONSE_GBCS.HEX", rtds_keys, "4.1.1")
    register = read.find(smets + f"{ra}ReadInstantaneousImportRegistersRsp/{ra}Gas/"
                         f"{ra}ConsumptionRegister")
    assert (register.find(f"{ra}Value").text, register.find(f"{ra}Unit").text) == ("12.345",
                                                                                   "m3")
    failed = _mmc("GCS13a_4.1.1_ERROR_RESPONSE_GBCS.HEX", rtds_keys, "4.1.1")
    rsp = failed.find(smets + f"{ra}ReadInstantaneousImportRegistersRsp")
    assert rsp.get("MessageSuccess") == "false" and rsp.find(f"{ra}Gas/{ra}*") is None
    valve = _mmc("GCS33_7.4_SUCCESS_RESPONSE_GBCS.HEX", rtds_keys, "7.4")
    assert valve.find(smets + f"{ra}ReadSupplyStatusRsp/{ra}SupplyState").text == "Enabled"


# -- XML signatures, refusals the transform gives ---------------------------------------------


def test_xml_signature_round_trip_and_what_breaks_it():
    """xmldsig signs a DUIS request so that xmldsig verifies it with the signer's key
    only; any change to the request, the SignedInfo or the value breaks it; a signature
    already there is replaced, and the signed request stays schema-valid."""
    from tools.headend import xmldsig

    key = crypto.generate_private_key()
    signed = xmldsig.sign(template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML"), key,
                          key_name="90-B3-D5-1F-30-01-00-00")
    assert signed.count(b"Signature>") == 1
    xmldsig.verify(signed, key.public_key())
    assert duis.parse_xml(signed).schema_checked is duis.schema_checked()
    xmldsig.verify(xmldsig.sign(signed, key), key.public_key())
    broken = {
        "content": signed.replace(b":1000<", b":1001<"),
        "digest method": signed.replace(b"xmlenc#sha256", b"xmldsig#sha1"),
        "signed info": signed.replace(b'URI=""', b'URI="#x"'),
        "value": signed.replace(b"<ds:SignatureValue>", b"<ds:SignatureValue>AAAA"),
        "other key": xmldsig.sign(signed, crypto.generate_private_key()),
        "dtd": b"<!DOCTYPE x>" + signed,
        "not xml": signed[:-20],
    }
    for what, data in broken.items():
        with pytest.raises(xmldsig.SignatureError):
            xmldsig.verify(data, key.public_key())
        assert what


def test_canonical_form_keeps_prefixes_and_orders_namespaces_and_attributes():
    from tools.headend import xmldsig

    doc = (b'<a:r xmlns:b="urn:b" xmlns:a="urn:a" z="1" b:y="2" a:x="3"><a:c>t&amp;&#13;</a:c>'
           b'<b:d/><e xmlns="urn:e" k="&quot;"/></a:r>')
    root = xmldsig._parse(doc)
    assert xmldsig.canonicalize(root, exclusive=False) == (
        '<a:r xmlns:a="urn:a" xmlns:b="urn:b" z="1" a:x="3" b:y="2"><a:c>t&amp;&#xD;</a:c>'
        '<b:d></b:d><e xmlns="urn:e" k="&quot;"></e></a:r>')
    child = root.children[1]
    assert xmldsig.canonicalize(child, exclusive=True) == '<b:d xmlns:b="urn:b"></b:d>'


def test_join_and_device_log_commands_need_the_other_device_in_the_inventory():
    req = duis.parse_xml(template("CS03B_8.7.2_SUCCESS_REQUEST_DUIS.XML"))
    gsme = Device(req.request_id.target, "GSME", COMMISSIONED)
    with pytest.raises(duis.DuisError) as info:
        transform.transform(req, gsme, inventory=lambda eui: None)
    assert (info.value.code, info.value.path) == (
        "E19", "Request/Body/JoinServiceNonCritical/OtherDeviceID")
    cmd = transform.transform(req, gsme, inventory=RTDS_DEVICES.get)
    assert cmd.use_case.use_case == "CS03B" and not cmd.critical


def test_a_gbz_default_response_with_an_error_is_a_failure():
    """GCS41's RTDS answers: a Default Response with SUCCESS, and one with an error."""
    folder = need(RTDS) / "6.20.1_GCS41"
    good = decode(_hex(folder / "GCS41_6.20.1_SUCCESS_RESPONSE_GBCS.HEX"), verify=False)
    bad = decode(_hex(folder / "GCS41_6.20.1_ERROR_RESPONSE_GBCS.HEX"), verify=False)
    statuses = [n.get("status").value for n in bad.tree.walk() if n.name == "default_response"]
    assert statuses and statuses[0] != 0
    assert mmc.succeeded(good) and not mmc.succeeded(bad)
