"""The core ASN.1 commands every device answers (firmware.core: credentials_ops,
trust_store, firmware_image, join, future_dated): RTDS commands re-MAC'd for devices with
keys made here, answered with the RTDS response's structure and status; a Change of
Supplier through the Transitional CoS; a CSR and the certificate that answers it."""

from __future__ import annotations

import dataclasses
import datetime as _dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from boards.nvm import SqliteStore
from boards.simulator import Simulator
from firmware.core import firmware_image
from firmware.core.credentials import DeviceCredentials, Role
from firmware.core.credentials_ops import (
    HW_TYPE_OID, asn1_oid, cell_id, certification_request,
)
from firmware.core.device import GbcsDevice
from firmware.core.security import UNKNOWN_ORIGINATOR
from firmware.core.trust_store import DS, KA, TOP_UP, Cell, CellId, subject_key_id
from gbcs import asn1, crypto
from gbcs.build import build_message
from gbcs.certificates import HARDWARE_MODULE_NAME, parse_certificate
from gbcs.keystore import DS as KS_DS, KA as KS_KA, Keystore
from gbcs.message import DecodedMessage, decode, signed_bytes
from gbcs.node import Node, encode
from tests.conftest import KEYSTORE, RTDS, need
from tools.conformance import Case, Parties, Replay, compare, find_cases

WHEN = _dt.datetime(2020, 6, 1, tzinfo=_dt.UTC)  # inside the RTDS certificates' validity
OLD_SUPPLIER = bytes.fromhex("90B3D51F30010000")
NEW_SUPPLIER = bytes.fromhex("90B3D51F30030000")
TRANS_COS = bytes.fromhex("90B3D51F30000004")
ESME = bytes.fromhex("00DB1234567890A0")


class Device(GbcsDevice):
    """A device with only the core commands: any other payload fails."""

    def execute(self, accepted):
        raise ValueError(f"{accepted.use_case.title} is no core command")


@pytest.fixture(scope="module")
def replay() -> Replay:
    return Replay(Parties.load(Keystore.from_dir(need(KEYSTORE))))


def cases(folder: str) -> dict[str, Case]:
    """The folder's cases by label, each with the alerts the RTDS has it raise later
    (`<UC>_<section>_<alert code>_<label>_ALERT_GBCS.HEX`)."""
    path = need(RTDS) / folder
    found = find_cases(path)
    for case in found:
        case.message = decode(case.command, verify=False)
        case.alerts = [bytes.fromhex("".join(f.read_text().split()))
                       for f in sorted(path.glob(f"*_{case.label}_ALERT*_GBCS.HEX"))]
    return {case.label: case for case in found}


def device(replay: Replay, eui: bytes, senders: set[bytes], *, drop: tuple[Role, ...] = (),
           cls: type[GbcsDevice] = Device, store: SqliteStore | None = None,
           clock: Simulator | None = None, **kwargs) -> GbcsDevice:
    ds, ka = replay.device_keys(eui)
    anchors = replay.parties.anchors(senders)
    for role in drop:
        anchors.anchors.pop(role, None)
    dev = cls(DeviceCredentials(eui, ds, ka), anchors, store or SqliteStore(),
              clock or Simulator(WHEN, keep_trace=False), **kwargs)
    supplier = anchors.get(Role.SUPPLIER)
    top_up = replay.parties.keystore.keys(supplier.eui, KS_KA, True) if supplier else []
    if top_up and dev.trust.get(TOP_UP_CELL) is None:  # the supplier's top-up KA cell
        dev.trust.put(TOP_UP_CELL, Cell(supplier.eui, top_up[0].public))
    return dev


TOP_UP_CELL = CellId(Role.SUPPLIER, KA, TOP_UP)


def send(replay: Replay, dev: GbcsDevice, case: Case) -> list[bytes]:
    return dev.receive(replay.parties.remac(case.command, case.message,
                                            dev.credentials.ka.public_key()))


def expected(replay: Replay, raw: bytes) -> DecodedMessage:
    return decode(raw, replay.parties.keystore, replay.parties.acb, verify=False)


def got(replay: Replay, raw: bytes) -> DecodedMessage:
    return decode(raw, replay.decoding, replay.parties.acb)


def asn1_node(msg: DecodedMessage) -> Node:
    return next(n for n in msg.tree.walk() if n.name == "asn1")


CERTIFICATES = ("device_certificate", "replacement_certificate", "certification_request")


def shape(node: Node) -> tuple:
    """The DER structure: field names, with SEQUENCE OF elements as a set of shapes
    (counts depend on device state) and certificates as one field."""
    if node.name in CERTIFICATES:
        return (node.name,)
    return (node.name, frozenset(shape(c) for c in node.children or ()))


def codes(msg: DecodedMessage) -> list[str]:
    return [n.human or "" for n in asn1_node(msg).walk()
            if n.children is None and n.name.endswith("code")]


def check_answer(replay: Replay, case: Case, sent: list[bytes], *, same_codes: bool = True,
                 same_shape: bool = True):
    """The response has the RTDS response's header form, DER structure and (when the
    device state matches the RTDS's) its status codes."""
    assert sent, f"{case.name}: no response"
    exp, mine = expected(replay, case.expected), got(replay, sent[0])
    assert compare(exp, mine) == []
    assert mine.signature in ("valid", "absent") and mine.mac in ("valid", "absent")
    if same_shape:
        assert shape(asn1_node(mine)) == shape(asn1_node(exp)), case.name
    if same_codes:
        assert codes(mine) == codes(exp), case.name
    return mine


# -- CS02a / CS02f ------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["6.24.1_CS02aMAC", "NA_CS02aSignature",
                                    "NA_CS02fSignature"])
def test_provide_security_credentials_details(replay, folder):
    for label, case in cases(folder).items():
        h = case.message.header
        exp = expected(replay, case.expected)
        failed = {Role(d["remote_party_role"].human): d["status_code"].human
                  for d in asn1_node(exp).walk() if d.name == "remote_party_details"
                  and d["status_code"].human != "success"}
        dev = device(replay, h.recipient, {h.originator},
                     drop=tuple(r for r, why in failed.items() if why == "trustAnchorNotFound"))
        # the RTDS HCALCS answers "other" for a role whose cells it holds but does not
        # report (the Transitional CoS); this device reports every cell it holds
        exact = "other" not in failed.values()
        mine = check_answer(replay, case, send(replay, dev, case), same_codes=exact,
                            same_shape=exact)
        # every cell reported is one the device holds, with its subject key id
        for contents in (n for n in asn1_node(mine).walk()
                         if n.name == "trust_anchor_cell_contents"):
            eui = contents["subject_unique_id"].value
            assert any(c.eui == eui and c.key_id == contents["subject_key_identifier"].value
                       for c in dev.trust.cells().values())


def test_subject_key_id_is_the_smki_one(replay):
    """RFC 5280 method 2, as every RTDS certificate's subjectKeyIdentifier."""
    for pair in replay.parties.keystore.pairs.values():
        cert = pair[0].certificate
        if cert is None:
            continue
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        assert subject_key_id(cert.public_key()) == ski.digest


# -- CS02b / CS02g ------------------------------------------------------------------------


def test_change_of_supplier_via_transitional_cos(replay):
    folder = cases("6.23_CS02bSupplierByTransCoS")
    case = folder["IMMEDIATE_SUCCESS"]
    dev = device(replay, ESME, {TRANS_COS, OLD_SUPPLIER})
    assert dev.trust.get(TOP_UP_CELL).eui == OLD_SUPPLIER
    check_answer(replay, case, send(replay, dev, case))
    assert dev.anchors.get(Role.SUPPLIER).eui == NEW_SUPPLIER
    assert dev.trust.get(TOP_UP_CELL).eui == NEW_SUPPLIER

    # a critical command signed by the new supplier is accepted, the old one's refused
    counter = 7000
    for supplier, accepted in ((NEW_SUPPLIER, True), (OLD_SUPPLIER, False)):
        counter += 1
        data = _signed(replay, dev, supplier, 0x000A,
                       asn1.issue_security_credentials_command("DS"), counter)
        assert bool(dev.receive(data)) is accepted
    assert dev.store.entries("security")[-1].value["reason"] == UNKNOWN_ORIGINATOR

    # the new anchors survive a restart (the store is the truth, not the anchors given)
    again = Device(dev.credentials, replay.parties.anchors({OLD_SUPPLIER}), dev.store,
                   dev.clock)
    assert again.anchors.get(Role.SUPPLIER).eui == NEW_SUPPLIER


def _signed(replay: Replay, dev: GbcsDevice, originator: bytes, code: int, content: Node,
            counter: int) -> bytes:
    keys = replay.parties.keystore
    return build_message(cra=1, originator_counter=counter, originator=originator,
                         recipient=dev.eui, message_code=code, content=content,
                         signer=keys.private_keys(originator, KS_DS)[0],
                         mac_keys=(keys.private_keys(replay.parties.acb, KS_KA)[0],
                                   dev.credentials.ka.public_key()))


def test_future_dated_update_alerts_then_cancellation(replay):
    folder = cases("6.23_CS02bSupplierByTransCoS")
    dev = device(replay, ESME, {TRANS_COS, OLD_SUPPLIER})
    future = folder["FUTURE_DATED_SUCCESS"]
    check_answer(replay, future, send(replay, dev, future))
    assert dev.anchors.get(Role.SUPPLIER).eui == OLD_SUPPLIER  # not yet
    [alert_raw] = future.alerts
    alert = expected(replay, alert_raw)
    due = _dt.datetime(2030, 1, 2, tzinfo=_dt.UTC)
    dev.clock.run_until(due)
    sent = dev.take_alerts()
    assert len(sent) == 1
    mine = got(replay, sent[0])
    assert compare(alert, mine) == []
    assert shape(asn1_node(mine)) == shape(asn1_node(alert))
    assert codes(mine) == codes(alert)
    assert dev.anchors.get(Role.SUPPLIER).eui == NEW_SUPPLIER

    # a second device: the cancellation drops the queued replacement
    dev = device(replay, ESME, {TRANS_COS, OLD_SUPPLIER})
    send(replay, dev, future)
    assert dev.future.pending()
    cancel = folder["CANCELLATION_SUCCESS"]
    check_answer(replay, cancel, send(replay, dev, cancel))
    assert dev.future.pending() == []
    dev.clock.run_until(due)
    assert dev.take_alerts() == []
    assert dev.anchors.get(Role.SUPPLIER).eui == OLD_SUPPLIER


def test_future_dated_update_survives_a_restart(replay):
    future = cases("6.23_CS02bSupplierByTransCoS")["FUTURE_DATED_SUCCESS"]
    store, clock = SqliteStore(), Simulator(WHEN, keep_trace=False)
    dev = device(replay, ESME, {TRANS_COS}, store=store, clock=clock)
    send(replay, dev, future)
    clock2 = Simulator(WHEN, keep_trace=False)  # the process restarted: timers are gone
    again = Device(dev.credentials, replay.parties.anchors({TRANS_COS}), store, clock2)
    clock2.run_until(_dt.datetime(2030, 1, 2, tzinfo=_dt.UTC))
    assert len(again.take_alerts()) == 1
    assert again.anchors.get(Role.SUPPLIER).eui == NEW_SUPPLIER


@pytest.mark.parametrize("folder", [
    "6.15.1_CS02bNOByNO", "6.21_CS02bNOByNOHandover", "6.21_CS02bSupplierBySupplierHandover",
    "NA_CS02bAnyExceptAbnormalRootByRecovery", "NA_CS02bTransCoSByTransCoS",
    "NA_CS02gLoadControllerByLoadController", "6.15.1_CS02gLoadControllerBySupplier"])
def test_update_security_credentials_modes(replay, folder):
    """Each replacement mode, each case on a fresh device (a replaced authoriser cannot
    send the next case); ERROR cases answer the same structure."""
    for label, case in cases(folder).items():
        if case.expected is None:
            continue
        h = case.message.header
        dev = device(replay, h.recipient, {h.originator, OLD_SUPPLIER})
        error = "ERROR" in label
        if error:  # the path's CA certificate is not the one that issued the replacement
            dev.trust.put(CellId(Role.ROOT, DS), _stranger_root())
        before = dict(dev.trust.cells())
        mine = check_answer(replay, case, send(replay, dev, case), same_codes=not error)
        if "FUTURE" in label or "CANCEL" in label:
            assert dev.trust.cells() == before
        elif error:
            assert dev.trust.cells() == before
            assert set(codes(mine)) == {"noTrustAnchor"}
        else:
            for outcome in (n for n in asn1_node(mine).walk() if n.name == "replacement_outcome"):
                cell = dev.trust.get(cell_id(outcome["affected_trust_anchor_cell"]))
                assert cell.key_id == outcome["replacing_subject_key_id"].value


def _stranger_root() -> Cell:
    """A Root trust anchor that signed none of the RTDS certification paths."""
    return Cell(bytes(8), crypto.generate_private_key().public_key())


def test_update_with_inconsistent_authoriser_is_refused_and_changes_nothing(replay):
    case = cases("6.23_CS02bSupplierByTransCoS")["IMMEDIATE_SUCCESS"]
    dev = device(replay, ESME, {TRANS_COS})
    node = asn1_node(case.message)
    control = next(n for n in node.walk() if n.name == "authorising_remote_party_control")
    control["authorising_remote_party_seq_number"].value += 1
    data = _signed_as(replay, dev, case, encode(node.children[0]))
    before = dev.trust.cells()
    assert dev.receive(data) == []
    assert dev.trust.cells() == before
    entry = dev.store.entries("event")[-1].value
    assert "authorising sequence number" in entry["detail"]
    assert "authorising_remote_party_seq_number" in entry["detail"]


def _signed_as(replay: Replay, dev: GbcsDevice, case: Case, content: bytes) -> bytes:
    h = case.message.header
    keys = replay.parties.keystore
    return build_message(cra=1, originator_counter=h.originator_counter,
                         originator=h.originator, recipient=dev.eui,
                         message_code=h.message_code, content=content,
                         signer=keys.private_keys(h.originator, KS_DS)[0],
                         mac_keys=(keys.private_keys(replay.parties.acb, KS_KA)[0],
                                   dev.credentials.ka.public_key()))


# -- CS02c / CS02d / CS02e ----------------------------------------------------------------


def _device_ca():
    key = crypto.generate_private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lab device CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(_dt.datetime(2015, 1, 1)).not_valid_after(_dt.datetime(2040, 1, 1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _issue(ca, csr: x509.CertificateSigningRequest) -> bytes:
    key, cert = ca
    builder = (x509.CertificateBuilder().subject_name(x509.Name([]))
               .issuer_name(cert.subject).public_key(csr.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(_dt.datetime(2015, 1, 1))
               .not_valid_after(_dt.datetime(9999, 12, 31, 23, 59, 59)))
    for ext in csr.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_key_pair_generation_csr_and_certificate_update(replay):
    folder = cases("6.17_CS02c")
    dev = device(replay, ESME, {OLD_SUPPLIER})
    case = folder["SUCCESS"]
    mine = check_answer(replay, case, send(replay, dev, case))
    request = next(n for n in asn1_node(mine).walk() if n.name == "certification_request")
    csr = x509.load_der_x509_csr(encode(request))
    assert csr.is_signature_valid
    assert csr.subject == x509.Name([])
    usage = csr.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    [other] = csr.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.OtherName)
    assert other.type_id == HARDWARE_MODULE_NAME
    assert other.value.endswith(b"\x04\x08" + ESME)
    assert asn1_oid(HW_TYPE_OID) in other.value
    old_ds = dev.credentials.ds

    # the key stays pending: the device still signs with its old key
    assert dev.credentials.ds is old_ds
    cert = _issue(_device_ca(), csr)
    new_public = parse_certificate(cert).public_key
    data = _signed(replay, dev, OLD_SUPPLIER, 0x000B,
                   asn1.update_device_certificate_command(cert), 9000)
    [response] = dev.receive(data)
    msg = _signed_by(response, new_public)  # installed: the device signs with it now
    assert asn1_node(msg)["update_device_certificate_response_code"].human == "success"
    assert dev.credentials.ds_certificate == cert
    assert dev.store.get("credentials/pending_keys") == {}

    # CS02e gives the certificate back; a restarted device keeps the new key
    [response] = dev.receive(_signed(replay, dev, OLD_SUPPLIER, 0x000C,
                                     asn1.provide_device_certificate_command("DS"), 9001))
    msg = _signed_by(response, new_public)
    assert encode(next(n for n in msg.tree.walk() if n.name == "device_certificate")) == cert
    again = Device(DeviceCredentials(ESME, old_ds, dev.credentials.ka),
                   replay.parties.anchors({OLD_SUPPLIER}), dev.store, dev.clock)
    assert again.credentials.ds.public_key() == new_public
    assert again.credentials.ds_certificate == cert


def _signed_by(response: bytes, key: crypto.PublicKey) -> DecodedMessage:
    msg = decode(response, verify=False)
    assert crypto.verify(key, signed_bytes(response, msg.header), msg.header.signature)
    return msg


def test_certificate_for_another_key_or_device_is_refused(replay):
    dev = device(replay, ESME, {OLD_SUPPLIER})
    ca = _device_ca()
    other = crypto.generate_private_key()
    stray = _issue(ca, x509.load_der_x509_csr(certification_request(ESME, other, DS)))
    wrong_device = _issue(ca, x509.load_der_x509_csr(
        certification_request(bytes(8), other, DS)))
    results = []
    for counter, cert in enumerate((stray, wrong_device), 9100):
        [response] = dev.receive(_signed(replay, dev, OLD_SUPPLIER, 0x000B,
                                         asn1.update_device_certificate_command(cert),
                                         counter))
        results.append(codes(got(replay, response)))
    assert results == [["noCorrespondingKeyPairGenerated"], ["wrongDeviceIdentity"]]


@pytest.mark.parametrize("folder,fault", [("6.17_CS02c", 0x000A), ("6.15.2_CS02d", None),
                                          ("6.24.2_CS02e", 0x000C)])
def test_issue_update_provide_error_cases(replay, folder, fault):
    for label, case in cases(folder).items():
        dev = device(replay, ESME, {OLD_SUPPLIER})
        if label == "ERROR" and fault is not None:
            dev.hardware_faults.add(fault)  # key generation / certificate store fails
        if label == "SUCCESS" and folder == "6.24.2_CS02e":
            dev.credentials = dataclasses.replace(dev.credentials,
                                                  ds_certificate=_issue_for(dev))
        check_answer(replay, case, send(replay, dev, case),
                     same_codes=not (label == "SUCCESS" and folder == "6.15.2_CS02d"))


def _issue_for(dev: GbcsDevice) -> bytes:
    csr = certification_request(dev.eui, dev.credentials.ds, DS)
    return _issue(_device_ca(), x509.load_der_x509_csr(csr))


# -- CS06 ---------------------------------------------------------------------------------


def test_firmware_activation_rtds(replay):
    folder = cases("11.3_CS06")
    dev = device(replay, ESME, {OLD_SUPPLIER})
    for label in ("FUTURE_DATED_ERROR", "IMMEDIATE_ERROR"):  # counter order
        check_answer(replay, folder[label], send(replay, dev, folder[label]))
    # an image arrives, not the one the queued command names: at its time the
    # activation fails with hashMismatch (8F67), as the RTDS error alert says
    firmware_image.store_image(dev.store, b"another image", b"\x09\x09\x09\x09")
    [alert_raw] = folder["FUTURE_DATED_ERROR"].alerts
    alert = expected(replay, alert_raw)
    dev.clock.run_until(_dt.datetime(2030, 1, 1, tzinfo=_dt.UTC))
    [sent] = dev.take_alerts()
    mine = got(replay, sent)
    assert compare(alert, mine) == []
    assert shape(asn1_node(mine)) == shape(asn1_node(alert))
    assert codes(mine) == codes(alert)


def test_firmware_image_hash_version_and_future_activation(replay):
    dev = device(replay, ESME, {OLD_SUPPLIER})
    image = bytes(range(256)) * 64
    digest = firmware_image.store_image(dev.store, image, b"\x02\x00\x00\x07")
    assert digest == firmware_image.image_hash(image)
    assert firmware_image.running_version(dev) == dev.firmware_version

    wrong = _signed(replay, dev, OLD_SUPPLIER, 0x0012,
                    asn1.activate_firmware_command(bytes(32), 500), 500)
    [response] = dev.receive(wrong)
    assert codes(got(replay, response)) == ["hashMismatch"]

    at = WHEN + _dt.timedelta(days=3)
    [response] = dev.receive(_signed(replay, dev, OLD_SUPPLIER, 0x0012,
                                     asn1.activate_firmware_command(digest, 501, at), 501))
    assert asn1_node(got(replay, response)).children[0].name == "command_accepted"
    assert firmware_image.running_version(dev) == dev.firmware_version
    dev.clock.run_until(at)
    [alert] = dev.take_alerts()
    node = asn1_node(got(replay, alert))
    assert codes(got(replay, alert))[1:] == ["success"]
    assert node["activate_firmware_alert.originator_counter"].value == 501
    assert firmware_image.running_version(dev) == b"\x02\x00\x00\x07"

    # CS08 reads the running version
    [response] = dev.receive(_signed(replay, dev, OLD_SUPPLIER, 0x0129,
                                     asn1.build(0x0129, 1, None), 502))
    read = asn1_node(got(replay, response))
    assert read["read_firmware_version_response.firmware_version"].value == b"\x02\x00\x00\x07"

    # a payload counter that is not the command's is refused, nothing changes
    firmware_image.store_image(dev.store, image, b"\x03\x00\x00\x00")
    assert dev.receive(_signed(replay, dev, OLD_SUPPLIER, 0x0012,
                               asn1.activate_firmware_command(digest, 1, None), 503)) == []
    assert firmware_image.running_version(dev) == b"\x02\x00\x00\x07"


# -- CS03 / CS04 / CS07 -------------------------------------------------------------------


@pytest.mark.parametrize("folder", [
    "8.7.1_CS03A1", "8.7.1_CS03A2Critical", "8.7.1_CS03CCritical", "8.7.2_CS03A2NonCritical",
    "8.7.2_CS03B", "8.7.2_CS03CNonCritical", "8.8.2_CS04ACNonCritical", "8.8.2_CS04B",
    "8.9_CS07"])
def test_join_unjoin_and_join_details(replay, folder):
    """Cases in counter order on one device per recipient; an unjoin or read finds the
    devices the RTDS's earlier joins would have logged."""
    found = sorted(cases(folder).values(), key=lambda c: c.message.header.originator_counter)
    devices: dict[bytes, GbcsDevice] = {}
    for case in found:
        h = case.message.header
        dev = devices.setdefault(h.recipient, device(replay, h.recipient, {h.originator}))
        exp = expected(replay, case.expected)
        if h.message_code in (0x000F, 0x0010) and "success" in codes(exp):
            dev.store.put("device/join_log", [{"eui": asn1_node(case.message).children[0]
                                              .value, "type": 5, "method": 0,
                                              "certificate": None}])
        if h.message_code == 0x0013:
            if "readFailure" in codes(exp):
                dev.hardware_faults.add(0x0013)
            dev.store.put("device/join_log", [
                {"eui": n["device_id"].value, "type": n["device_type"].value, "method": 2,
                 "certificate": None}
                for n in asn1_node(exp).walk() if n.name == "device_log_entry"])
        check_answer(replay, case, send(replay, dev, case))


def test_join_then_unjoin_then_read(replay):
    dev = device(replay, ESME, {OLD_SUPPLIER})
    other = bytes.fromhex("00DB123456789099")
    answers = []
    for counter, content, code in (
            (10, asn1.join_command(0x000D, "methodAInitiator", other, "ppmid"), 0x000D),
            (11, asn1.read_device_join_details_command(), 0x0013),
            (12, asn1.unjoin_command(0x000F, other), 0x000F),
            (13, asn1.unjoin_command(0x000F, other), 0x000F)):
        [response] = dev.receive(_signed(replay, dev, OLD_SUPPLIER, code, content, counter))
        answers.append(got(replay, response))
    assert codes(answers[0]) == ["success"]
    assert [n.value for n in asn1_node(answers[1]).walk() if n.name == "device_id"] == [other]
    assert codes(answers[2]) == ["success"]
    assert codes(answers[3]) == ["notInDeviceLog"]
