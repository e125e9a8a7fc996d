"""GBCS section 18.4 vectors and NIST AES-GCM: signatures, KDF, MAC, encryption."""

from __future__ import annotations

import json

import pytest

from gbcs import crypto
from gbcs.build import mac_header, message_mac_key
from tests.conftest import VECTORS, need


@pytest.fixture(scope="module")
def v184() -> dict:
    return json.loads(need(VECTORS / "gbcs-18.4.json").read_text())


def _parts(msg: bytes) -> tuple[bytes, bytes]:
    start = msg.index(b"\xdf\x09")
    return msg[start:-12], msg[-12:]


def test_ecs04b_signature_verifies(v184):
    msg = bytes.fromhex(v184["ecs04b_critical_command"]["hex"])
    apdu, _ = _parts(msg)
    key = crypto.public_key_from_xy(bytes.fromhex(v184["supplier_a"]["ds_public_key_xy"]))
    assert apdu[-65] == 0x40
    assert crypto.verify(key, apdu[1:-65], apdu[-64:])
    tampered = apdu[1:-66] + bytes([apdu[-66] ^ 1])
    assert not crypto.verify(key, tampered, apdu[-64:])


def test_ecs04b_signature_from_private_key_matches_public(v184):
    private = crypto.private_key_from_bytes(
        bytes.fromhex(v184["supplier_a"]["ds_private_key"]))
    assert crypto.public_key_xy(private.public_key()).hex().upper() == \
        v184["supplier_a"]["ds_public_key_xy"].upper()


def test_ecs04b_mac_recomputed_byte_exact(v184):
    msg = bytes.fromhex(v184["ecs04b_critical_command"]["hex"])
    apdu, mac = _parts(msg)
    acb = crypto.private_key_from_bytes(bytes.fromhex(v184["acb"]["ka_private_key"]))
    device = crypto.public_key_from_xy(bytes.fromhex(v184["device_a"]["ka_public_key_xy"]))
    key = message_mac_key(acb, device, cra=1, originator=bytes.fromhex(v184["supplier_a"]["id"]),
                          originator_counter=1, recipient=bytes.fromhex(v184["device_a"]["id"]))
    assert crypto.gcm_mac(key, crypto.iv_for(bytes.fromhex("123456789ABCDEF0")),
                          crypto.MAC_AAD_PREFIX + apdu) == mac
    assert mac_header(apdu, key, bytes.fromhex("123456789ABCDEF0")) == msg


def test_nist_gcm_example_6(v184):
    case = v184["nist_gcm_example_6"]
    key, iv, aad = (bytes.fromhex(case[k]) for k in ("key", "iv", "aad"))
    plaintext = bytes.fromhex(case["plaintext"])
    out = crypto.encrypt(key, iv, plaintext, aad)
    assert out == bytes.fromhex(case["ciphertext"]) + bytes.fromhex(case["tag_12"])
    assert crypto.decrypt(key, iv, out, aad) == plaintext
    assert crypto.decrypt(key, iv, out[:-1] + bytes([out[-1] ^ 1]), aad) is None


def test_shared_secret_is_symmetric_and_cached():
    a, b = crypto.generate_private_key(), crypto.generate_private_key()
    b_public = b.public_key()
    z1 = crypto.shared_secret(a, b_public)
    assert z1 == crypto.shared_secret(b, a.public_key())
    assert crypto.shared_secret(a, b_public) is z1


def test_sign_then_verify_and_reject_wrong_key():
    key, other = crypto.generate_private_key(), crypto.generate_private_key()
    sig = crypto.sign(key, b"grouping header")
    assert len(sig) == 64
    assert crypto.verify(key.public_key(), b"grouping header", sig)
    assert not crypto.verify(other.public_key(), b"grouping header", sig)
    assert not crypto.verify(key.public_key(), b"grouping header", sig[:63])
