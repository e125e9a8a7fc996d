"""SMKI certificates: identity, role, key usage and key of every certificate in the RTDS
keystore, the ZAZ1 keystore and the RTDS payloads; anything else is a typed error."""

from __future__ import annotations

import datetime as _dt
import json
import random
import re
from functools import lru_cache

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from gbcs import asn1
from gbcs.certificates import GbcsCertificateError, SmkiCertificate, parse_certificate
from gbcs.content import ContentContext
from gbcs.der import TLV
from gbcs.frames import locate_content
from gbcs.node import Node, encode
from gbcs.reader import Reader
from tests.conftest import KEYSTORE, RTDS, VECTORS, need, rtds_files

# ZAZ1 certificates carry NULL signature parameters and mutated ones break RFC 5280 rules:
# cryptography warns that a future release will refuse such certificates.
pytestmark = pytest.mark.filterwarnings(
    "ignore::cryptography.utils.CryptographyDeprecationWarning")

FILE_NAME = re.compile(r"([0-9a-f]{16})(-pp)?-(ds|ka)\.pem")
# Organisation certificates of the RTDS keystore: entity id -> remote party role.
ROLES = {
    "90b3d51f30000001": "recovery", "90b3d51f30000002": "accessControlBroker",
    "90b3d51f30000004": "transitionalCoS", "90b3d51f30000007": "wanProvider",
    "90b3d51f30010000": "supplier", "90b3d51f30010008": "loadController",
    "90b3d51f30020000": "networkOperator", "90b3d51f30030000": "supplier",
}
# Keystore files whose certificate is not the one their name says (kept as found).
MISFILED = {"90b3d51f30000007-ka.pem": "90b3d51f30030000"}


def _check_key(cert: SmkiCertificate) -> None:
    numbers = cert.public_key.public_numbers()
    assert cert.public_key_raw == numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")
    assert cert.not_before < cert.not_after
    assert cert.valid_at(cert.not_before) and not cert.valid_at(
        cert.not_before - _dt.timedelta(seconds=1))


def test_every_rtds_keystore_certificate_matches_its_file_name():
    folder = need(KEYSTORE)
    checked = 0
    for path in sorted(folder.glob("*.pem")):
        data = path.read_bytes()
        if b"BEGIN CERTIFICATE" not in data:
            with pytest.raises(GbcsCertificateError):
                parse_certificate(data)
            continue
        eui, _, usage = FILE_NAME.fullmatch(path.name).groups()
        cert = parse_certificate(data)
        assert cert.entity_id.hex() == MISFILED.get(path.name, eui), path.name
        assert cert.key_usage == usage.upper(), path.name
        if eui.startswith("00db"):
            assert (cert.kind, cert.role, cert.subject) == ("device", None, ""), path.name
        else:
            assert cert.kind == "organisation", path.name
            assert cert.role_name == ROLES[cert.entity_id.hex()], path.name
            assert cert.issuer == "CN=Z1,OU=07"
        _check_key(cert)
        checked += 1
    assert checked >= 400


def test_pem_and_der_give_the_same_certificate():
    path = need(KEYSTORE) / "90b3d51f30010000-ds.pem"
    pem = path.read_bytes()
    from_pem = parse_certificate(pem)
    from_der = parse_certificate(from_pem.der)
    assert from_der == from_pem
    assert (from_der.role, from_der.role_name, from_der.key_usage) == (2, "supplier", "DS")
    assert from_der.serial_number == from_der.certificate.serial_number


def test_every_zaz1_certificate_matches_its_keystore_entry():
    store = json.loads((need(VECTORS / "zaz1-keystore.json")).read_text())
    seen = 0
    for eui, usages in store.items():
        for usage, entries in usages.items():
            for serial, entry in entries.items():
                cert = parse_certificate(entry["certificate"].encode())
                assert cert.kind == "organisation"
                assert cert.entity_id.hex() == eui
                assert cert.key_usage == {"digitalSignature": "DS", "keyAgreement": "KA"}[usage]
                assert cert.role == entry["role"], entry["name"]
                assert cert.serial_number == int(serial)
                _check_key(cert)
                seen += 1
    assert seen >= 30


@lru_cache(maxsize=1)
def _payload_certificates() -> dict[bytes, Node]:
    """Every certificate carried in an RTDS ASN.1 payload, as its decoded tree."""
    found = {}
    for path in rtds_files():
        raw = bytes.fromhex(path.read_text().strip())
        ctx, start, end = locate_content(raw)
        if ctx.message_code not in asn1.MESSAGE_CODES:
            continue
        tree = asn1.decode_asn1(Reader(raw, start, end), ctx)
        for node in tree.walk():
            if node.kind == TLV and node.get("tbs_certificate") is not None:
                found.setdefault(encode(node), node)
    return found


def test_rtds_payload_certificates_agree_with_their_decoded_trees():
    need(RTDS)
    kinds = set()
    for der, node in _payload_certificates().items():
        tbs = node["tbs_certificate"]
        usage = tbs["extensions.extension_list.key_usage"].human
        if "nonRepudiation" in usage:  # the CS02d error case's deliberately wrong usage
            with pytest.raises(GbcsCertificateError, match="keyUsage"):
                parse_certificate(der)
            continue
        cert = parse_certificate(der)
        kinds.add((cert.kind, cert.role_name, cert.key_usage))
        key = tbs["subject_public_key_info.subject_public_key"]
        assert cert.public_key_raw == key["x"].value + key["y"].value
        assert cert.serial_number == int.from_bytes(tbs["serial_number"].value, "big")
        if cert.kind == "device":
            assert node.human == f"device {'-'.join(f'{b:02X}' for b in cert.entity_id)} " \
                                 f"(issuer {tbs['issuer'].human})"
    assert ("ca", "issuingAuthority", "CA") in kinds
    assert {("device", None, "KA"), ("device", None, "DS"), ("organisation", "supplier", "KA"),
            ("organisation", "networkOperator", "DS")} <= kinds


def _self_signed(key, *, usage: x509.KeyUsage | None, subject: x509.Name,
                 san: x509.SubjectAlternativeName | None = None) -> bytes:
    now = _dt.datetime(2024, 1, 1, tzinfo=_dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
               .public_key(key.public_key()).serial_number(1).not_valid_before(now)
               .not_valid_after(now + _dt.timedelta(days=1)))
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    if san is not None:
        builder = builder.add_extension(san, critical=True)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _usage(ds: bool = False, ka: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(ds, False, False, False, ka, False, False, False, False)


def test_not_smki_certificates_raise_typed_errors():
    org = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "02")])
    p256 = ec.derive_private_key(12345, ec.SECP256R1())
    bad = {
        "garbage": b"\x30\x03\x02\x01",
        "text": b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "rsa key": _self_signed(rsa.generate_private_key(65537, 1024), usage=_usage(ds=True),
                                subject=org),
        "p384 key": _self_signed(ec.derive_private_key(5, ec.SECP384R1()), usage=_usage(ds=True),
                                 subject=org),
        "no key usage": _self_signed(p256, usage=None, subject=org),
        "two key usages": _self_signed(p256, usage=_usage(ds=True, ka=True), subject=org),
        "no identity": _self_signed(p256, usage=_usage(ka=True), subject=org),
    }
    for label, data in bad.items():
        with pytest.raises(GbcsCertificateError):
            parse_certificate(data)
            pytest.fail(f"{label} parsed")
    with pytest.raises(GbcsCertificateError):
        parse_certificate("not bytes")  # type: ignore[arg-type]


def test_mutated_certificates_raise_only_certificate_errors():
    folder = need(KEYSTORE)
    rnd = random.Random(77)
    parsed = refused = 0
    for name in ("00db123456789001-ds.pem", "90b3d51f30010000-ds.pem"):
        der = parse_certificate((folder / name).read_bytes()).der
        for i in range(1500):
            mutated = bytearray(der)
            for _ in range(rnd.randint(1, 3)):
                mutated[rnd.randrange(len(mutated))] = rnd.randrange(256)
            if i % 5 == 0:
                mutated = mutated[:rnd.randrange(len(mutated))]
            try:
                parse_certificate(bytes(mutated))
                parsed += 1
            except GbcsCertificateError:
                refused += 1
    assert parsed > 100 and refused > 1000


def test_device_identity_comes_from_the_hardware_module_name():
    key = ec.derive_private_key(99, ec.SECP256R1())
    hardware = bytes.fromhex("3019060D2A863A0001848FB90F01020201040800DB1234567890AA")
    san = x509.SubjectAlternativeName([x509.OtherName(
        x509.ObjectIdentifier("1.3.6.1.5.5.7.8.4"), hardware)])
    cert = parse_certificate(_self_signed(key, usage=_usage(ka=True), subject=x509.Name([]),
                                          san=san))
    assert (cert.kind, cert.entity_id.hex(), cert.key_usage) == ("device", "00db1234567890aa",
                                                                 "KA")
    assert cert.public_key_raw == key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)[1:]
    short = x509.SubjectAlternativeName([x509.OtherName(
        x509.ObjectIdentifier("1.3.6.1.5.5.7.8.4"), bytes.fromhex("3008060100040300DB12"))])
    with pytest.raises(GbcsCertificateError, match="EUI-64"):
        parse_certificate(_self_signed(key, usage=_usage(ka=True), subject=x509.Name([]),
                                       san=short))


def test_decoded_payload_certificate_feeds_a_join():
    need(RTDS)
    der, node = next((d, n) for d, n in _payload_certificates().items()
                     if n["tbs_certificate.extensions.extension_list.key_usage"].human ==
                     "keyUsage (critical): keyAgreement" and n.human.startswith("device"))
    cert = parse_certificate(der)
    built = asn1.join_command(0x00AF, "methodC", cert.entity_id, "ppmid", der)
    tree = asn1.decode_asn1(Reader(encode(built)), ContentContext(0x00AF, 1))
    assert tree["join_device_command.other_device_certificate"].human == node.human
