"""Key stores: the DCC Boxed folder layout (read and write) and the ZAZ1 JSON."""

from __future__ import annotations

import pytest

from gbcs import crypto
from gbcs.errors import GbcsCryptoError
from gbcs.keystore import DS, KA, Keystore, load
from tests.conftest import KEYSTORE, VECTORS, need

SUPPLIER = bytes.fromhex("90B3D51F30010000")
ACB = bytes.fromhex("90B3D51F30000002")


def test_rtds_folder_reads_certificates_and_private_keys():
    store = Keystore.from_dir(need(KEYSTORE))
    assert len(store.euis()) > 200
    [pair] = store.keys(SUPPLIER, DS)
    assert pair.private is not None and pair.certificate is not None
    assert crypto.public_key_xy(pair.private.public_key()) == crypto.public_key_xy(pair.public)
    assert store.keys(SUPPLIER, KA, pp=True), "prepayment KA pair (-pp-ka) missing"
    device = bytes.fromhex("00DB123456789001")
    assert store.public_keys(device, DS) and not store.private_keys(device, DS)


def test_write_then_read_back(tmp_path):
    store = Keystore.from_dir(need(KEYSTORE))
    small = Keystore({k: v for k, v in store.pairs.items() if k[0] in (SUPPLIER, ACB)})
    small.write_dir(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "90b3d51f30010000-ds.key" in names and "90b3d51f30010000-pp-ka.pem" in names
    again = Keystore.from_dir(tmp_path)
    assert again.pairs.keys() == small.pairs.keys()
    for slot, pairs in small.pairs.items():
        assert crypto.public_key_xy(again.pairs[slot][0].public) == \
            crypto.public_key_xy(pairs[0].public)


def test_zaz1_json_has_every_remote_party_with_roles():
    store = load(need(VECTORS / "zaz1-keystore.json"))
    acb_ka = store.keys(ACB, KA)
    assert len(acb_ka) >= 2 and all(p.private is not None for p in acb_ka)
    assert {p.role for p in acb_ka} == {4}
    assert store.keys(SUPPLIER, KA, pp=True)


def test_bad_folder_and_bad_json_are_typed_errors(tmp_path):
    with pytest.raises(GbcsCryptoError):
        Keystore.from_dir(tmp_path / "missing")
    bad = tmp_path / "bad.json"
    bad.write_text('{"90b3d51f30000002": {"keyAgreement": {"1": {"certificate": "x"}}}}')
    with pytest.raises(GbcsCryptoError):
        load(bad)
    (tmp_path / "90b3d51f30000002-ds.pem").write_text("not a certificate")
    with pytest.raises(GbcsCryptoError):
        Keystore.from_dir(tmp_path)
