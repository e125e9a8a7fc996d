"""Messages built from named fields decode back to those fields, signed and MAC'd."""

from __future__ import annotations

import pytest

from gbcs import crypto
from gbcs.build import build_message, other_information, sign_grouping_header
from gbcs.keystore import KA, DS, KeyPair, Keystore
from gbcs.message import decode, signed_bytes
from gbcs.node import encode

SUPPLIER = bytes.fromhex("90B3D51F30010000")
ACB = bytes.fromhex("90B3D51F30000002")
ESME = bytes.fromhex("00DB1234567890A0")
# The ECS04b DLMS action-request of the GBCS 18.4 example (three meter balance resets).
CONTENT = bytes.fromhex("D92000000100030300700000130A00FF020300700000130A01FF020300700000130A02FF"
                        "0203050000000005000000000500000000")


@pytest.fixture(scope="module")
def parties():
    keys = {name: (crypto.generate_private_key(), crypto.generate_private_key())
            for name in ("supplier", "acb", "esme")}
    store = Keystore()
    for name, eui in (("supplier", SUPPLIER), ("acb", ACB), ("esme", ESME)):
        ds, ka = keys[name]
        store.add(eui, DS, KeyPair(ds.public_key(), ds))
        store.add(eui, KA, KeyPair(ka.public_key(), ka))
    return keys, store


def test_critical_command_signed_and_maced_verifies(parties):
    keys, store = parties
    raw = build_message(cra=1, originator_counter=0x0102, originator=SUPPLIER, recipient=ESME,
                        message_code=0x001C, content=CONTENT, signer=keys["supplier"][0],
                        mac_keys=(keys["acb"][1], keys["esme"][1].public_key()))
    msg = decode(raw, store, ACB)
    assert (msg.signature, msg.mac) == ("valid", "valid")
    assert msg.header.originator_counter == 0x0102
    assert msg.header.message_code == 0x001C
    assert raw[msg.header.content_start:msg.header.content_end] == CONTENT
    assert msg.roundtrip()


def test_tampered_content_fails_signature_and_mac(parties):
    keys, store = parties
    raw = bytearray(build_message(cra=1, originator_counter=5, originator=SUPPLIER,
                                  recipient=ESME, message_code=0x001C, content=CONTENT,
                                  signer=keys["supplier"][0],
                                  mac_keys=(keys["acb"][1], keys["esme"][1].public_key())))
    msg = decode(bytes(raw), store, ACB)
    raw[msg.header.content_end - 1] ^= 0x01  # the last adjustment amount
    bad = decode(bytes(raw), store, ACB)
    assert (bad.signature, bad.mac) == ("invalid", "invalid")


def test_pre_command_then_sign(parties):
    keys, store = parties
    pre = build_message(cra=1, originator_counter=7, originator=SUPPLIER, recipient=ESME,
                        message_code=0x001C, content=CONTENT)[:-1]  # drop the zero length
    msg = decode(pre, store)
    assert msg.header.signature_length_at == -1 and msg.signature == "absent"
    signed = sign_grouping_header(pre, keys["supplier"][0])
    msg = decode(signed, store)
    assert msg.signature == "valid"
    assert signed_bytes(signed, msg.header) == pre[1:]


@pytest.mark.parametrize("kwargs,length", [
    ({}, 2),
    ({"supplementary_remote_party_id": SUPPLIER}, 10),
    ({"supplementary_remote_party_id": SUPPLIER, "supplementary_remote_party_counter": 9}, 18),
    ({"supplementary_remote_party_id": SUPPLIER, "supplementary_remote_party_counter": 9,
      "supplementary_originator_counter": 10}, 26),
])
def test_other_information_variants_round_trip(kwargs, length):
    raw = build_message(cra=2, originator_counter=3, originator=ESME, recipient=SUPPLIER,
                        message_code=0x001C, content=CONTENT,
                        other_info=other_information(0x001C, **kwargs))
    msg = decode(raw)
    oi = msg.tree["other_information"]
    assert oi["length"].value == length
    assert msg.header.supplementary_remote_party_id == kwargs.get("supplementary_remote_party_id")
    assert msg.header.supplementary_originator_counter == \
        kwargs.get("supplementary_originator_counter")
    assert encode(msg.tree) == raw


def test_request_by_use_case_builds_the_catalogue_code_and_needs_a_signer(parties):
    from gbcs import dlms
    from gbcs.build import build_request
    from gbcs.errors import GbcsEncodeError

    keys, store = parties
    # ECS17b: read the import energy registers (non-critical): class 3, OBIS 1-0:1.8.0.255
    content = dlms.get_request([(3, bytes.fromhex("0100010800FF"), 2)], invoke_id=42)
    raw = build_request("ECS17b", content, originator=SUPPLIER, recipient=ESME,
                        originator_counter=42,
                        mac_keys=(keys["acb"][1], keys["esme"][1].public_key()))
    msg = decode(raw, store, ACB)
    assert msg.use_case.use_case == "ECS17b" and msg.mac == "valid"
    assert msg.signature == "absent"
    with pytest.raises(GbcsEncodeError, match="critical"):
        build_request("ECS04b", CONTENT, originator=SUPPLIER, recipient=ESME,
                      originator_counter=43)
    signed = build_request("ECS04b", CONTENT, originator=SUPPLIER, recipient=ESME,
                           originator_counter=43, signer=keys["supplier"][0])
    assert decode(signed, store).signature == "valid"
    with pytest.raises(GbcsEncodeError, match="message code"):
        build_request("CS02b", b"", originator=SUPPLIER, recipient=ESME, originator_counter=1)
