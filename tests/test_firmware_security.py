"""Device-side GBCS command checks (firmware.core.security) and the responses and alerts
a device builds (firmware.core.responses), with keys generated here, plus RTDS replay."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from firmware.core import security as sec
from firmware.core.credentials import (
    CredentialsError,
    DeviceCredentials,
    Role,
    TrustAnchor,
    TrustAnchors,
)
from firmware.core.responses import (
    alert,
    respond,
    response_has_date_time,
    response_signed,
)
from gbcs import asn1, crypto, dlms
from gbcs.build import build_message, mac_header, message_mac_key
from gbcs.cosem import parse_datetime
from gbcs.errors import GbcsEncodeError
from gbcs.keystore import DS, KA, KeyPair, Keystore
from gbcs.message import decode
from gbcs.node import encode
from gbcs.usecases import by_code
from tests.conftest import KEYSTORE, RTDS, need

ESME = bytes.fromhex("00DB1234567890A0")
OTHER_DEVICE = bytes.fromhex("00DB1234567890A1")
SUPPLIER = bytes.fromhex("90B3D51F30010000")
NETWORK_OPERATOR = bytes.fromhex("90B3D51F30020000")
ACB = bytes.fromhex("90B3D51F30000002")
NOW = _dt.datetime(2026, 11, 23, 12, 0, 0, tzinfo=_dt.UTC)
ECS17B, ECS42, ECS04B = 0x0027, 0x004F, 0x00B3
IMPORT_REGISTER = bytes.fromhex("0100010800FF")


class MemoryCounters:
    """An in-memory CounterStore."""

    def __init__(self) -> None:
        self.values: dict[bytes, int] = {}

    def highest(self, party: bytes) -> int:
        return self.values.get(party, 0)

    def accept(self, party: bytes, counter: int) -> None:
        self.values[party] = counter


def _keys() -> tuple[crypto.PrivateKey, crypto.PrivateKey]:
    return crypto.generate_private_key(), crypto.generate_private_key()


@pytest.fixture(scope="module")
def world():
    keys = {name: _keys() for name in ("esme", "supplier", "no", "acb")}
    anchors = TrustAnchors()
    for role, name, eui in ((Role.SUPPLIER, "supplier", SUPPLIER),
                            (Role.NETWORK_OPERATOR, "no", NETWORK_OPERATOR),
                            (Role.ACCESS_CONTROL_BROKER, "acb", ACB)):
        ds, ka = keys[name]
        anchors.set(TrustAnchor(role, eui, ds.public_key(), ka.public_key()))
    device = DeviceCredentials(ESME, *keys["esme"])
    store = Keystore()  # what the head end knows, to decode what the device sends
    for name, eui in (("esme", ESME), ("supplier", SUPPLIER), ("no", NETWORK_OPERATOR),
                      ("acb", ACB)):
        ds, ka = keys[name]
        store.add(eui, DS, KeyPair(ds.public_key(), ds))
        store.add(eui, KA, KeyPair(ka.public_key(), ka))
    return keys, anchors, device, store


def read_register() -> bytes:
    return encode(dlms.get_request([(3, IMPORT_REGISTER, 2)], invoke_id=1))


def credentials_update(message_code: int, role: str) -> bytes:
    """A CS02b command payload replacing `role`'s DS certificate (a self-signed one)."""
    key = crypto.generate_private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, role)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(_dt.datetime(2020, 1, 1))
            .not_valid_after(_dt.datetime(2030, 1, 1)).sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    return encode(asn1.update_security_credentials_command(
        message_code, 1, [(der, asn1.trust_anchor_cell(role, "DS"))], []))


def command(keys, *, code=ECS17B, counter=100, originator=SUPPLIER, recipient=ESME,
            signer=None, acb_ka=None, date_time=None, content=None) -> bytes:
    acb_ka = acb_ka or keys["acb"][1]
    return build_message(cra=1, originator_counter=counter, originator=originator,
                         recipient=recipient, message_code=code,
                         content=content or read_register(),
                         signer=signer, date_time=date_time,
                         mac_keys=(acb_ka, keys["esme"][1].public_key()))


def check(world, data, counters=None):
    _, anchors, device, _ = world
    return sec.check_command(data, device, anchors, counters or MemoryCounters())


# -- accepted -------------------------------------------------------------------------


def test_non_critical_command_accepted_and_counter_committed(world):
    keys = world[0]
    counters = MemoryCounters()
    verdict = check(world, command(keys, counter=0x1000), counters)
    assert isinstance(verdict, sec.Accepted)
    assert verdict.use_case.use_case == "ECS17b"
    assert verdict.originator.role is Role.SUPPLIER
    assert verdict.originator_counter == 0x1000 and not verdict.signed
    assert counters.values == {}  # the check alone changes nothing
    verdict.commit(counters)
    assert counters.highest(SUPPLIER) == 0x1000


def test_critical_command_signed_by_supplier_accepted(world):
    keys = world[0]
    verdict = check(world, command(keys, code=ECS42, signer=keys["supplier"][0]))
    assert isinstance(verdict, sec.Accepted) and verdict.signed


def test_network_operator_credentials_update_signed_by_network_operator(world):
    keys = world[0]
    data = command(keys, code=0x0103, originator=NETWORK_OPERATOR, signer=keys["no"][0],
                   content=credentials_update(0x0103, "networkOperator"))
    assert isinstance(check(world, data), sec.Accepted)


# -- rejected -------------------------------------------------------------------------


def rejected(verdict, reason: str, event: int | None) -> None:
    assert isinstance(verdict, sec.Rejected), verdict
    assert (verdict.reason, verdict.event_code) == (reason, event), verdict.detail


@pytest.mark.parametrize("data", [b"", b"\xdd", bytes.fromhex("DF09"), b"\x00" * 40])
def test_malformed_bytes_dropped_and_logged(world, data):
    rejected(check(world, data), sec.MALFORMED, 0x8F1E)


def test_wrong_recipient_dropped_silently(world):
    keys = world[0]
    rejected(check(world, command(keys, recipient=OTHER_DEVICE)), sec.WRONG_RECIPIENT, None)


def test_bad_mac_rejected(world):
    keys = world[0]
    rejected(check(world, command(keys, acb_ka=crypto.generate_private_key())),
             sec.BAD_MAC, 0x8F3D)
    data = bytearray(command(keys))
    data[-1] ^= 0x01
    rejected(check(world, bytes(data)), sec.BAD_MAC, 0x8F3D)


def test_missing_mac_rejected(world):
    keys = world[0]
    bare = build_message(cra=1, originator_counter=5, originator=SUPPLIER, recipient=ESME,
                         message_code=ECS42, content=read_register(),
                         signer=keys["supplier"][0])
    rejected(check(world, bare), sec.MAC_MISSING, 0x8F3D)


def test_unsigned_critical_rejected(world):
    keys = world[0]
    rejected(check(world, command(keys, code=ECS04B)), sec.SIGNATURE_MISSING, 0x8F3D)


def test_critical_signed_by_wrong_key_rejected(world):
    keys = world[0]
    data = command(keys, code=ECS42, signer=crypto.generate_private_key())
    rejected(check(world, data), sec.BAD_SIGNATURE, 0x8F3D)


def test_wrong_signer_role_rejected(world):
    keys = world[0]
    # A supply switch command signed by the network operator ...
    data = command(keys, code=ECS42, originator=NETWORK_OPERATOR, signer=keys["no"][0])
    rejected(check(world, data), sec.SIGNER_NOT_AUTHORISED, 0x8F30)
    # ... and a supplier replacing the network operator's credentials.
    data = command(keys, code=0x0103, signer=keys["supplier"][0],
                   content=credentials_update(0x0103, "networkOperator"))
    rejected(check(world, data), sec.SIGNER_NOT_AUTHORISED, 0x8F30)


def test_unknown_originator_rejected(world):
    keys = world[0]
    data = command(keys, originator=bytes.fromhex("90B3D51F300F0000"))
    rejected(check(world, data), sec.UNKNOWN_ORIGINATOR, 0x8F30)


def test_replayed_and_stale_counters_rejected(world):
    keys = world[0]
    counters = MemoryCounters()
    first = check(world, command(keys, counter=500), counters)
    first.commit(counters)
    rejected(check(world, command(keys, counter=500), counters), sec.REPLAYED, 0x8F53)
    rejected(check(world, command(keys, counter=499), counters), sec.REPLAYED, 0x8F53)
    assert isinstance(check(world, command(keys, counter=501), counters), sec.Accepted)
    # Counters are per remote party: the network operator's start afresh.
    other = command(keys, counter=1, originator=NETWORK_OPERATOR)
    assert isinstance(check(world, other, counters), sec.Accepted)


def test_response_or_alert_is_not_a_command(world):
    keys = world[0]
    data = build_message(cra=2, originator_counter=5, originator=SUPPLIER, recipient=ESME,
                         message_code=ECS17B, content=read_register(),
                         mac_keys=(keys["acb"][1], keys["esme"][1].public_key()))
    rejected(check(world, data), sec.NOT_A_COMMAND, 0x8F1E)


def test_unknown_message_code_rejected(world):
    keys = world[0]
    rejected(check(world, command(keys, code=0x0005)), sec.UNKNOWN_MESSAGE_CODE, 0x8F1E)


def test_grouping_header_date_time_rejected(world):
    keys = world[0]
    data = command(keys, date_time=bytes.fromhex("07EA0B17FF0C0000008000FF"))
    rejected(check(world, data), sec.DATE_TIME_PRESENT, 0x8F1E)


def test_missing_acb_anchor_rejected(world):
    keys, anchors, device, _ = world
    without = TrustAnchors({r: a for r, a in anchors.anchors.items()
                            if r is not Role.ACCESS_CONTROL_BROKER})
    verdict = sec.check_command(command(keys), device, without, MemoryCounters())
    rejected(verdict, sec.NO_ACB_KEY, 0x8F3D)


def test_bad_credentials_raise_typed_error():
    with pytest.raises(CredentialsError, match="8 bytes"):
        TrustAnchor(Role.SUPPLIER, b"\x01\x02")


# -- responses and alerts -------------------------------------------------------------


def response_payload() -> bytes:
    value = dlms.data_node("", 12345, dlms.DOUBLE_LONG_UNSIGNED)
    return encode(dlms.access_response([value], [("get", 0)], invoke_id=1))


def test_non_critical_response_maced_with_counter_and_date_time(world):
    keys, _anchors, device, store = world
    accepted = check(world, command(keys, counter=0x2222))
    raw = respond(accepted, response_payload(), device, NOW)
    msg = decode(raw, store, ACB)
    h = msg.header
    assert (h.form, h.cra, h.originator, h.recipient) == ("general_ciphering", 2, ESME,
                                                          SUPPLIER)
    assert (h.originator_counter, h.message_code) == (0x2222, ECS17B)
    assert (msg.mac, msg.signature) == ("valid", "absent")
    assert parse_datetime(h.date_time) == NOW  # ECS17b responses carry the device time
    assert msg.roundtrip()


def test_critical_response_signed_without_date_time(world):
    keys, _anchors, device, store = world
    signed = command(keys, code=ECS42, counter=77, signer=keys["supplier"][0])
    accepted = check(world, signed)
    msg = decode(respond(accepted, response_payload(), device, NOW), store, ACB)
    assert (msg.header.form, msg.signature, msg.mac) == ("general_signing", "valid",
                                                         "absent")
    assert msg.header.originator_counter == 77 and msg.header.date_time is None


def test_response_maced_for_the_remote_party_not_the_acb(world):
    keys, _anchors, device, _ = world
    accepted = check(world, command(keys, originator=NETWORK_OPERATOR, counter=9))
    only_no = Keystore()
    only_no.add(NETWORK_OPERATOR, KA, KeyPair(keys["no"][1].public_key(), keys["no"][1]))
    only_no.add(ESME, KA, KeyPair(keys["esme"][1].public_key()))
    msg = decode(respond(accepted, response_payload(), device, NOW), only_no, ACB)
    assert msg.mac == "valid" and msg.header.recipient == NETWORK_OPERATOR


def test_alerts_signed_when_critical_maced_otherwise(world):
    _, anchors, device, store = world
    supplier = anchors.get(Role.SUPPLIER)
    stamp = bytes.fromhex("07EA0B17FF0C0000008000FF")
    body = dlms.alert_notification(0x8F1E, stamp, [], invoke_id=1)
    critical = decode(alert(0x1000, body, device, supplier, 3000), store, ACB)
    assert (critical.header.cra, critical.signature, critical.mac) == (3, "valid", "absent")
    body = dlms.alert_notification(0x8F1E, stamp, [], invoke_id=1)
    plain = decode(alert(0x1001, body, device, supplier, 3001), store, ACB)
    assert (plain.header.cra, plain.signature, plain.mac) == (3, "absent", "valid")
    assert plain.header.originator_counter == 3001


def test_alert_needs_an_alert_code(world):
    _, anchors, device, _ = world
    with pytest.raises(GbcsEncodeError, match="no GBCS alert code"):
        alert(ECS17B, response_payload(), device, anchors.get(Role.SUPPLIER), 1)


# -- the RTDS -------------------------------------------------------------------------


def _hex(path: Path) -> bytes:
    return bytes.fromhex("".join(path.read_text().split()))


def test_response_rules_match_every_rtds_response():
    """Signed exactly when the command was (always for CS02b), date-time exactly for the
    use cases in DATE_TIME_RESPONSES."""
    need(RTDS)
    checked = 0
    for response in sorted(RTDS.glob("*/*_RESPONSE_GBCS.HEX")):
        cmd_path = response.with_name(response.name.replace("_RESPONSE_", "_COMMAND_"))
        if not cmd_path.exists():
            continue
        cmd, resp = (decode(_hex(p), verify=False).header for p in (cmd_path, response))
        use_case = by_code(resp.message_code)
        signed = response_signed(use_case, cmd.signature is not None)
        assert signed == (resp.signature is not None), response.name
        dated = resp.date_time is not None
        assert response_has_date_time(use_case) == dated, response.name
        assert resp.originator_counter == cmd.originator_counter
        checked += 1
    assert checked > 200


def test_rtds_command_remaced_for_our_device_accepted():
    """An RTDS ECS command, re-MAC'd with the real ACB key for a device key made here:
    the supplier's signature still verifies (it does not cover the MAC)."""
    folder = need(RTDS / "7.2_ECS43")
    keystore = need(KEYSTORE)
    rtds = _hex(folder / "ECS43_7.2_SUCCESS_COMMAND_GBCS.HEX")
    original = decode(rtds, verify=False).header
    store = Keystore.from_dir(keystore)  # the real ACB's KA private key is in it
    acb_ka = store.private_keys(ACB, KA)[0]
    supplier_ds = store.public_keys(original.originator, DS)[0]
    device_ds, device_ka = _keys()
    device = DeviceCredentials(original.recipient, device_ds, device_ka)
    general_signing = rtds[original.signing_start:original.signing_end]
    key = message_mac_key(acb_ka, device_ka.public_key(), cra=1,
                          originator=original.originator,
                          originator_counter=original.originator_counter,
                          recipient=original.recipient)
    data = mac_header(general_signing, key, original.originator,
                      original.invocation_counter or 0)
    anchors = TrustAnchors()
    anchors.set(TrustAnchor(Role.ACCESS_CONTROL_BROKER, ACB, None, acb_ka.public_key()))
    anchors.set(TrustAnchor(Role.SUPPLIER, original.originator, supplier_ds, None))
    counters = MemoryCounters()
    verdict = sec.check_command(data, device, anchors, counters)
    assert isinstance(verdict, sec.Accepted), verdict
    assert verdict.signed and verdict.use_case.use_case == "ECS43"
    verdict.commit(counters)
    rejected(sec.check_command(data, device, anchors, counters), sec.REPLAYED, 0x8F53)
    # The untouched RTDS bytes were MAC'd for the real meter's key, not ours.
    verdict = sec.check_command(rtds, device, anchors, MemoryCounters())
    rejected(verdict, sec.BAD_MAC, 0x8F3D)


def test_every_rtds_command_accepted_once_remaced_for_our_device():
    """Each RTDS command from a remote party, re-MAC'd with the real ACB key for a device
    key made here, passes: the signer role table agrees with who signs what in the RTDS."""
    from gbcs.certificates import parse_certificate
    need(RTDS)
    store = Keystore.from_dir(need(KEYSTORE))
    acb_ka = store.private_keys(ACB, KA)[0]
    device_ds, device_ka = _keys()
    roles: dict[bytes, Role] = {}
    for (eui, usage, _), pairs in store.pairs.items():
        cert = pairs[0].certificate
        if usage == DS and cert is not None:
            parsed = parse_certificate(cert.public_bytes(serialization.Encoding.DER))
            if parsed.kind != "device":
                roles[eui] = Role(parsed.role_name)
    accepted = 0
    for path in sorted(RTDS.glob("*/*_COMMAND_GBCS.HEX")):
        rtds = _hex(path)
        h = decode(rtds, verify=False).header
        if h.originator not in roles:  # HAN devices (a PPMID's PCS01 / PCS02)
            continue
        data = rtds
        if h.mac is not None:
            key = message_mac_key(acb_ka, device_ka.public_key(), cra=1,
                                  originator=h.originator,
                                  originator_counter=h.originator_counter,
                                  recipient=h.recipient)
            data = mac_header(rtds[h.signing_start:h.signing_end], key, h.originator,
                              h.invocation_counter or 0)
        anchors = TrustAnchors()
        anchors.set(TrustAnchor(Role.ACCESS_CONTROL_BROKER, ACB, None, acb_ka.public_key()))
        ds = store.public_keys(h.originator, DS)
        ka = store.public_keys(h.originator, KA)
        anchors.set(TrustAnchor(roles[h.originator], h.originator, ds[0] if ds else None,
                                ka[0] if ka else None))
        device = DeviceCredentials(h.recipient, device_ds, device_ka)
        verdict = sec.check_command(data, device, anchors, MemoryCounters())
        assert isinstance(verdict, sec.Accepted), (path.name, verdict)
        accepted += 1
    assert accepted > 400
