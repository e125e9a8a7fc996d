"""GBCS ASN.1 payloads: every RTDS ASN.1 content decodes to named fields and re-encodes
byte-exact; builders give the RTDS bytes; hostile bytes raise only GbcsDecodeError."""

from __future__ import annotations

import datetime as _dt
import json
import random
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gbcs import asn1
from gbcs.content import CRA_ALERT, CRA_COMMAND, CRA_RESPONSE, ContentContext
from gbcs.der import decode_der
from gbcs.der_x509 import CERTIFICATE
from gbcs.errors import GbcsDecodeError
from gbcs.frames import locate_content
from gbcs.node import Node, encode
from gbcs.reader import Reader
from gbcs.strategies_asn1 import der_tlv, gbcs_payload_bytes, gbcs_payloads
from tests.conftest import RTDS, need, rtds_files

UTC = _dt.timezone.utc


@lru_cache(maxsize=1)
def _contents() -> dict[str, tuple[bytes, int, int]]:
    """RTDS file name -> (content, message code, CRA flag) of every ASN.1 content."""
    out = {}
    for path in rtds_files():
        raw = bytes.fromhex(path.read_text().strip())
        ctx, start, end = locate_content(raw)
        if ctx.message_code in asn1.MESSAGE_CODES:
            out[path.name] = (raw[start:end], ctx.message_code, ctx.cra)
    return out


def _decode(content: bytes, code: int, cra: int) -> Node:
    return asn1.decode_asn1(Reader(content), ContentContext(code, cra))


def _rtds(prefix: str) -> tuple[Node, bytes]:
    need(RTDS)
    matches = [name for name in _contents() if name.startswith(prefix)]
    assert len(matches) == 1, matches
    content, code, cra = _contents()[matches[0]]
    return _decode(content, code, cra), content


def _via_json(node: Node) -> Node:
    return Node.from_json(json.loads(json.dumps(node.to_json())))


def _shape(node: Node):
    """Names, kinds, tags and leaf values: what a decoder and a builder agree on."""
    if node.children is None:
        return node.name, node.kind, node.value
    return node.name, node.kind, node.value, tuple(_shape(c) for c in node.children)


# -- the RTDS set ---------------------------------------------------------------------------


def test_every_rtds_asn1_content_decodes_typed_and_round_trips():
    need(RTDS)
    contents = _contents()
    assert len(contents) >= 140
    for name, (content, code, cra) in contents.items():
        tree = _decode(content, code, cra)
        assert tree.name == "asn1" and len(tree.children) == 1, name
        assert encode(tree) == content, name
        for node in tree.walk():
            assert "unexpected" not in (node.human or ""), (name, node.name, node.human)
            assert 0 <= node.offset and node.offset + node.size <= len(content), (name, node)


def test_every_rtds_asn1_tree_survives_json():
    need(RTDS)
    for name, (content, code, cra) in _contents().items():
        assert encode(_via_json(_decode(content, code, cra))) == content, name


def test_message_codes_are_exactly_the_rtds_contents_that_are_not_gbz_or_dlms():
    need(RTDS)
    for path in rtds_files():
        raw = bytes.fromhex(path.read_text().strip())
        ctx, start, end = locate_content(raw)
        first = raw[start:end][:2]
        other = first == b"\x01\x09" or first[:1] in (b"\xD9", b"\xDA", b"\x0F")
        assert (ctx.message_code in asn1.MESSAGE_CODES) == (not other), path.name


def test_every_structure_has_a_known_cra_flag():
    for code, by_cra in asn1.STRUCTURES.items():
        assert set(by_cra) <= {CRA_COMMAND, CRA_RESPONSE, CRA_ALERT}, hex(code)
    assert {0x0008, 0x000A, 0x000B, 0x000C, 0x000D, 0x000E, 0x000F, 0x0010, 0x0012, 0x0013,
            0x007F, 0x008C, 0x00AB, 0x00AF, 0x00B2, 0x00CA, 0x00CB, 0x0128,
            0x0129} <= asn1.MESSAGE_CODES
    assert set(range(0x0100, 0x010A)) <= asn1.MESSAGE_CODES


# -- named fields ---------------------------------------------------------------------------


def test_update_security_credentials_command_fields():
    tree, _ = _rtds("CS02bNOByNO_6.15.1_SUCCESS_COMMAND")
    usc = tree["update_security_credentials"]
    control = usc["authorising_remote_party_control"]
    assert control["credentials_replacement_mode"].human == "networkOperatorByNetworkOperator"
    cell = control["authorising_remote_party_ta_cell_identifier"]
    assert cell["remote_party_role"].human == "networkOperator"
    assert cell["key_usage"].human == "digitalSignature"
    assert control["authorising_remote_party_seq_number"].value == 1200
    replacements = usc["replacements"].children
    assert [r["target_trust_anchor_cell.key_usage"].human for r in replacements] == [
        "digitalSignature", "keyAgreement"]
    cert = replacements[0]["replacement_certificate"]
    tbs = cert["tbs_certificate"]
    assert tbs["subject"].human == "OU=03, x500UniqueIdentifier=90-B3-D5-1F-30-02-00-00"
    assert tbs["issuer"].human == "OU=07, CN=Z1"
    assert tbs["validity.not_before"].human == "2016-01-10T00:00:00Z"
    assert tbs["validity.not_after"].human == "2026-01-09T23:59:59Z"
    key = tbs["subject_public_key_info.subject_public_key"]
    assert key["point_format"].value == 4 and len(key["x"].value) == len(key["y"].value) == 32
    extensions = tbs["extensions.extension_list"]
    assert [e.name for e in extensions.children] == [
        "key_usage", "subject_key_identifier", "certificate_policies", "authority_key_identifier"]
    assert extensions["key_usage.extn_value.key_usage"].human == "digitalSignature"
    assert extensions["key_usage.critical"].human == "TRUE"
    path = usc["certification_path_certificates"].children
    assert len(path) == 1 and path[0]["tbs_certificate.subject"].human == "OU=07, CN=Z1"
    assert path[0]["tbs_certificate.extensions.extension_list.basic_constraints"] is not None
    assert usc.get("execution_date_time") is None


def test_update_security_credentials_response_and_alert_fields():
    tree, _ = _rtds("CS02bSupplierByTransCoS_6.23_IMMEDIATE_SUCCESS_RESPONSE")
    response = tree["update_security_credentials_response"]
    assert response["command_accepted"].human == "null"
    outcome = response["execution_outcome"]
    assert outcome["credentials_replacement_mode"].human == "supplierByTransCoS"
    outcomes = outcome["replacement_outcomes"].children
    assert [o["status_code"].human for o in outcomes] == ["success"] * 3
    assert outcomes[2]["affected_trust_anchor_cell.cell_usage"].human == "prePaymentTopUp"
    assert outcomes[0]["replacing_subject_unique_id"].human == "90-B3-D5-1F-30-03-00-00"
    alert, _ = _rtds("CS02bSupplierByTransCoS_6.23_8F66")
    body = alert["update_security_credentials_alert"]
    assert body["alert_code"].value == 0x8F66
    assert body["alert_code"].human.startswith("0x8F66 Future-date HAN Interface Command")
    assert body["execution_date_time"].human == "2030-01-02T00:00:00Z"


def test_load_controller_credentials_cs02g():
    tree, _ = _rtds("CS02gLoadControllerByLoadController_NA_IMMEDIATE_SUCCESS_COMMAND")
    control = tree["update_security_credentials.authorising_remote_party_control"]
    assert control["credentials_replacement_mode"].human == "loadControllerByLoadController"
    assert control["authorising_remote_party_ta_cell_identifier.remote_party_role"].human == \
        "loadController"
    assert control["apply_time_based_cpv_checks"].human == "disapply"


def test_provide_security_credential_details_fields():
    command, _ = _rtds("CS02aMAC_6.24.1_SUCCESS_COMMAND")
    body = command["provide_security_credential_details"]
    assert body["authorising_remote_party_ta_cell_identifier"].human == \
        "accessControlBroker keyAgreement management (default)"
    assert [r.human for r in body["remote_party_roles_credentials_required"].children] == [
        "supplier", "networkOperator"]
    response, _ = _rtds("CS02aMAC_6.24.1_SUCCESS_RESPONSE")
    parties = response["provide_security_credential_details_response"].children
    assert [p["remote_party_role"].human for p in parties] == ["supplier", "networkOperator"]
    cells = parties[0]["trust_anchor_cell_details"].children
    assert [c.get("cell_usage") is not None for c in cells] == [False, False, True]
    assert cells[0]["subject_unique_id"].human == "90-B3-D5-1F-30-01-00-00"


def test_device_certificate_and_certification_request_fields():
    tree, _ = _rtds("CS02e_6.24.2_SUCCESS_RESPONSE")
    cert = tree["device_certificate"]
    names = cert["tbs_certificate.extensions.extension_list.subject_alt_name.extn_value"]
    assert names["subject_alt_name.other_name.value.hardware_module_name.hw_serial_num"].human \
        == "00-DB-12-34-56-78-90-A0"
    assert cert.human == "device 00-DB-12-34-56-78-90-A0 (issuer CN=E357)"
    csr, _ = _rtds("CS02c_6.17_SUCCESS_RESPONSE")
    request = csr["certification_request"]
    info = request["certification_request_info"]
    assert info["subject"].human == "(empty)"
    assert info["attributes.attribute.type"].human.startswith("extensionRequest")
    assert info["attributes.attribute.values.extensions.key_usage"].human == \
        "keyUsage (critical): digitalSignature"
    assert len(request["signature.ecdsa_sig_value.r"].value) in (32, 33)
    failed, _ = _rtds("CS02c_6.17_ERROR_RESPONSE")
    assert failed["response_code"].human == "crProductionFailed"


def test_join_unjoin_and_join_details_fields():
    join, _ = _rtds("CS03A1_8.7.1_SUCCESS_COMMAND")
    body = join["join_device_command"]
    assert body["join_method_and_role"].human == "methodAInitiator"
    assert body["other_device_entity_id"].human == "00-DB-12-34-56-78-90-9A"
    assert body["other_device_type"].human == "hcalcs"
    with_cert, _ = _rtds("CS03CNonCritical_8.7.2_SUCCESS_COMMAND")
    certificate = with_cert["join_device_command.other_device_certificate"]
    # the RTDS pairs entity id ...94 with the certificate of device ...A1
    assert certificate.human == "device 00-DB-12-34-56-78-90-A1 (issuer CN=E357)"
    refused, _ = _rtds("CS03CNonCritical_8.7.2_ERROR_RESPONSE")
    assert refused["join_response_code"].human == "invalidOrMissingCertificate"
    unjoin, _ = _rtds("CS04B_8.8.2_SUCCESS_COMMAND")
    assert unjoin["other_device_entity_id"].value == bytes.fromhex("0102030405060708")
    details, _ = _rtds("CS07_8.9_SUCCESS_RESPONSE")
    entries = details["read_device_join_details_response.device_log_entries"].children
    assert [e.human for e in entries] == ["01-02-03-04-05-06-07-08 gpf",
                                         "00-DB-12-34-56-78-90-99 gpf",
                                         "00-DB-12-34-56-78-90-97 ppmid"]


def test_firmware_clock_and_gpf_device_log_fields():
    command, _ = _rtds("CS06_11.3_CANCELLATION_SUCCESS_COMMAND")
    body = command["activate_firmware"]
    assert len(body["manufacturer_image_hash"].value) == 32
    assert body["originator_counter"].human == "1002"
    assert body["execution_date_time"].human == "9999-12-31T23:59:59Z"
    accepted, _ = _rtds("CS06_11.3_FUTURE_DATED_SUCCESS_RESPONSE")
    assert accepted["command_accepted"].human == "null"
    alert, _ = _rtds("CS06_11.3_8F67")
    outcome = alert["activate_firmware_alert.execution_outcome"]
    assert outcome["activate_image_response_code"].human == "hashMismatch"
    assert outcome["firmware_version"].human == "0123ABCF"
    clock, _ = _rtds("GCS28_6.11_SUCCESS_RESPONSE")
    assert clock["set_time_response.device_time"].human == "2014-12-31T23:30:00Z"
    assert clock["set_time_response.device_time_status"].human == "reliable"
    restore, _ = _rtds("GCS59_8.12.2_SUCCESS_RESPONSE")
    outcomes = restore["gpf_device_log_restore_response.restore_outcomes"].children
    assert [o["join_response_code"].human for o in outcomes] == ["success", "success"]
    transfer, _ = _rtds("CCS08_NA_NA_ALERT")
    body = transfer["firmware_transfer_alert"]
    assert body["entity_id"].human == "00-DB-12-34-56-78-90-A4"
    assert body["firmware_transfer_response_code"].human == "success"
    version, _ = _rtds("CS09_NA_8F8B_ALERT")
    assert version["firmware_version_alert.firmware_version"].human == "1234ABCD"


# -- unexpected and malformed ---------------------------------------------------------------


def test_well_formed_but_unexpected_der_decodes_generically():
    content = bytes.fromhex("3003020101")  # a SEQUENCE { INTEGER } where CS06 wants more
    tree = _decode(content, 0x0012, CRA_COMMAND)
    assert encode(tree) == content
    assert "unexpected" in tree["activate_firmware"].human
    unknown = _decode(bytes.fromhex("0500020107"), 0x9999, CRA_COMMAND)
    assert unknown.human.startswith("no GBCS ASN.1 structure for message code 0x9999")
    assert [c.name for c in unknown.children] == ["null", "integer"]
    trailing = _decode(bytes.fromhex("02010004020102"), 0x000F, CRA_RESPONSE)
    assert trailing.human == "unexpected content for CS04 response"


def test_malformed_der_raises_with_offset_and_field():
    tree, content = _rtds("CS02bNOByNO_6.15.1_SUCCESS_COMMAND")
    with pytest.raises(GbcsDecodeError) as info:
        _decode(content[:700], 0x0103, CRA_COMMAND)
    assert info.value.field.startswith("asn1.update_security_credentials")
    assert 0 < info.value.offset <= 700
    with pytest.raises(GbcsDecodeError) as info:
        _decode(b"", 0x0012, CRA_COMMAND)
    assert info.value.field == "asn1"
    deep = b"\x05\x00"
    for _ in range(40):
        deep = b"\x30" + bytes((len(deep),)) + deep if len(deep) < 128 else \
            b"\x30\x82" + len(deep).to_bytes(2, "big") + deep
    with pytest.raises(GbcsDecodeError, match="nested deeper"):
        _decode(deep, 0x0013, CRA_RESPONSE)
    with pytest.raises(GbcsDecodeError, match="truncated"):
        _decode(b"\x30\x84\xff\xff\xff\xff", 0x0012, CRA_RESPONSE)


def _mutations(content: bytes, rnd: random.Random) -> list[bytes]:
    cuts = range(len(content)) if len(content) <= 120 else rnd.sample(range(len(content)), 120)
    out = [content[:k] for k in cuts]
    for _ in range(40):
        mutated = bytearray(content)
        for _ in range(rnd.randint(1, 3)):
            i = rnd.randrange(len(mutated))
            mutated[i] = (mutated[i] ^ (1 << rnd.randrange(8)) if rnd.random() < 0.7
                          else rnd.choice((0x00, 0x1F, 0x30, 0x7F, 0x80, 0x81, 0x84, 0xFF)))
        out.append(bytes(mutated))
    return out


def test_truncated_and_bit_flipped_contents_raise_only_decode_errors():
    need(RTDS)
    rnd = random.Random(20240611)
    decoded = failed = 0
    for content, code, cra in _contents().values():
        for mutated in _mutations(content, rnd):
            try:
                tree = _decode(mutated, code, cra)
            except GbcsDecodeError as err:
                failed += 1
                assert 0 <= err.offset <= len(mutated) and err.field.startswith("asn1")
                continue
            decoded += 1
            assert encode(tree) == mutated
    assert decoded > 1000 and failed > 1000


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(gbcs_payload_bytes(), st.integers(0, 2 ** 32), st.integers(1, 4))
def test_mutated_generated_payloads_raise_only_decode_errors(payload, seed, flips):
    code, cra, content = payload
    data = bytearray(content)
    rnd = random.Random(seed)
    for _ in range(flips):
        data[rnd.randrange(len(data))] = rnd.randrange(256)
    data = bytes(data[:rnd.randint(0, len(data))] if seed % 3 == 0 else data)
    try:
        decoded = _decode(data, code, cra)
    except GbcsDecodeError:
        return
    assert encode(decoded) == data


# -- generated payloads ---------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(gbcs_payloads())
def test_generated_gbcs_payloads_round_trip_field_for_field(payload):
    code, cra, tree = payload
    data = encode(tree)
    decoded = _decode(data, code, cra)
    assert encode(decoded) == data
    assert _shape(decoded) == _shape(tree)


@settings(max_examples=400, deadline=None)
@given(der_tlv())
def test_generated_der_round_trips(data):
    tree = decode_der(data)
    assert encode(tree) == data
    assert encode(_via_json(tree)) == data


def test_one_node_per_tlv_typed_when_canonical():
    cases = {  # DER -> (kind, value) of its one leaf
        "020105": ("der.int.02", 5), "0A01FF": ("der.int.0A", -1),
        "0101FF": ("der.bool.01", True), "0500": ("der.null.05", None),
        "06032B0601": ("der.oid.06", "1.3.6.1"), "13024142": ("der.text.13", "AB"),
        "0402AB01": ("der.bytes.04", b"\xab\x01"), "03020780": ("der.bytes.03", b"\x07\x80"),
        "8001FF": ("der.bytes.80", b"\xff"),
        # not canonical: kept as octets, exactly
        "02020005": ("der.bytes.02", b"\x00\x05"), "0281010A": ("der.bytes.02", b"\x0a"),
        "010101": ("der.bytes.01", b"\x01"), "06032A8001": ("der.bytes.06", b"\x2a\x80\x01"),
    }
    for hexed, (kind, value) in cases.items():
        data = bytes.fromhex(hexed)
        node = decode_der(data)
        assert (node.kind, node.value, node.children) == (kind, value, None), hexed
        assert (node.offset, node.size) == (0, len(data)), hexed
        assert encode(node) == encode(_via_json(node)) == data, hexed
    assert decode_der(bytes.fromhex("02020005")).human == "5"
    assert decode_der(bytes.fromhex("06032A8001")).human.startswith("malformed OID")
    nested = bytes.fromhex("3082000702010531020500")  # a non-minimal length, as GBCS sends
    tree = decode_der(nested)
    assert (tree.kind, tree.value, [c.name for c in tree.children]) == (
        "der.tlv", 0x30, ["integer", "set"])
    assert tree["set.null"].offset == 9 and encode(tree) == nested


def test_edited_typed_leaves_encode_canonically():
    tree, _ = _rtds("CS02bNOByNO_6.15.1_SUCCESS_COMMAND")
    control = tree["update_security_credentials.authorising_remote_party_control"]
    seq = control["authorising_remote_party_seq_number"]
    assert (seq.kind, seq.value) == ("der.int.83", 1200)
    seq.value = 5
    assert encode(seq) == bytes.fromhex("830105")
    seq.value = 70000
    assert encode(seq) == bytes.fromhex("8303011170")


# -- builders -------------------------------------------------------------------------------


def test_builders_give_the_rtds_bytes():
    need(RTDS)
    expect = {name: content for name, (content, _, _) in _contents().items()}

    def rtds(prefix: str) -> bytes:
        (content,) = [c for n, c in expect.items() if n.startswith(prefix)]
        return content

    image = bytes.fromhex("AA758690730934FF0685AA758690730934FF0685657788990011223344556677")
    cases = [
        (asn1.join_command(0x000D, "methodAInitiator", bytes.fromhex("00DB12345678909A"),
                           "hcalcs"), "CS03A1_8.7.1_SUCCESS_COMMAND"),
        (asn1.unjoin_command(0x0010, bytes.fromhex("0102030405060708")),
         "CS04B_8.8.2_SUCCESS_COMMAND"),
        (asn1.activate_firmware_command(image, 1002, _dt.datetime(9999, 12, 31, 23, 59, 59)),
         "CS06_11.3_CANCELLATION_SUCCESS_COMMAND"),
        (asn1.activate_firmware_command(image, 1000), "CS06_11.3_IMMEDIATE_SUCCESS_COMMAND"),
        (asn1.activate_firmware_response("success", bytes.fromhex("0123ABCE")),
         "CS06_11.3_IMMEDIATE_SUCCESS_RESPONSE"),
        (asn1.activate_firmware_alert(0x8F66, _dt.datetime(2030, 1, 15, 9, tzinfo=UTC), 1001,
                                      0, bytes.fromhex("0123ABCF")),
         "CS06_11.3_8F66"),
        (asn1.set_time_command(_dt.datetime(2014, 12, 31, 23, 30, tzinfo=UTC),
                               _dt.datetime(2015, 1, 1, 0, 30, tzinfo=UTC)),
         "GCS28_6.11_SUCCESS_COMMAND"),
        (asn1.set_time_response(_dt.datetime(2014, 12, 31, 23, 30, tzinfo=UTC), "reliable"),
         "GCS28_6.11_SUCCESS_RESPONSE"),
        (asn1.read_device_join_details_command(), "CS07_8.9_SUCCESS_COMMAND"),
        (asn1.read_device_join_details_response([
            (bytes.fromhex("0102030405060708"), "gpf"),
            (bytes.fromhex("00DB123456789099"), 3), (bytes.fromhex("00DB123456789097"), 5)]),
         "CS07_8.9_SUCCESS_RESPONSE"),
        (asn1.gpf_device_log_restore_command([(bytes.fromhex("0011223344556677"), 5),
                                              (bytes.fromhex("8899AABBCCDDEEFF"), 6)]),
         "GCS59_8.12.2_SUCCESS_COMMAND"),
        (asn1.issue_security_credentials_command("DS"), "CS02c_6.17_SUCCESS_COMMAND"),
        (asn1.provide_device_certificate_command("KA"), "CS02e_6.24.2_ERROR_COMMAND"),
        (asn1.provide_security_credential_details_command(
            asn1.trust_anchor_cell("accessControlBroker", "KA"), ["supplier", 3]),
         "CS02aMAC_6.24.1_SUCCESS_COMMAND"),
        (asn1.firmware_transfer_alert(0x8F8A, _dt.datetime(2015, 1, 1, tzinfo=UTC),
                                      bytes.fromhex("00DB1234567890A4"),
                                      bytes.fromhex("0123ABCD"), "success"),
         "CCS08_NA_NA_ALERT"),
    ]
    for tree, prefix in cases:
        assert tree.name == "asn1"
        assert encode(tree) == rtds(prefix), prefix


def test_update_security_credentials_builder_gives_the_rtds_command():
    tree, content = _rtds("CS02bNOByNO_6.15.1_SUCCESS_COMMAND")
    usc = tree["update_security_credentials"]
    certs = [encode(r["replacement_certificate"]) for r in usc["replacements"].children]
    path = [encode(c) for c in usc["certification_path_certificates"].children]
    built = asn1.update_security_credentials_command(
        0x0103, 1200,
        [(certs[0], asn1.trust_anchor_cell("networkOperator", "DS")),
         (certs[1], asn1.trust_anchor_cell(3, "KA"))],
        path, authorising_ta_cell=asn1.trust_anchor_cell("networkOperator", "DS"),
        new_remote_party_floor_seq_number=0)
    assert encode(built) == content
    assert _shape(built) == _shape(tree)


def test_join_builder_with_certificate_and_update_device_certificate():
    tree, content = _rtds("CS03CNonCritical_8.7.2_SUCCESS_COMMAND")
    cert = encode(tree["join_device_command.other_device_certificate"])
    built = asn1.join_command(0x00AF, "methodC", bytes.fromhex("00DB123456789094"), "gsme", cert)
    assert encode(built) == content
    update = asn1.update_device_certificate_command(cert)
    assert encode(update) == cert and update["device_certificate"].get("tbs_certificate")


def test_repeated_certificates_decode_the_same_at_any_offset():
    tree, _ = _rtds("CS02bNOByNO_6.15.1_SUCCESS_COMMAND")
    cert_node = tree["update_security_credentials.certification_path_certificates.certificate"]
    cert = encode(cert_node)
    padded = b"\x00" * 7 + cert
    first = CERTIFICATE.spec.read(Reader(padded, 7), "certificate", 0)
    again = CERTIFICATE.read(Reader(padded, 7), "certificate", 0)
    moved = CERTIFICATE.read(Reader(b"\x00" + padded, 8), "certificate", 0)
    assert _shape(first) == _shape(again) == _shape(moved) == _shape(cert_node)
    offsets = [n.offset for n in first.walk()]
    assert [n.offset for n in again.walk()] == offsets
    assert [n.offset for n in moved.walk()] == [o + 1 for o in offsets]
    assert again is not moved and again.children[0] is not moved.children[0]
