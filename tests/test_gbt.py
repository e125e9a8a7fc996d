"""GBT: split into blocks, reassemble out of order, report duplicates and gaps."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gbcs.errors import GbcsDecodeError
from gbcs.gbt import Reassembler, decode_block, split
from gbcs.message import decode
from gbcs.node import encode

ORIGINATOR = bytes.fromhex("00DB1234567890A0")
RECIPIENT = bytes.fromhex("90B3D51F30010000")


def _split(message: bytes, size: int) -> list[bytes]:
    return split(message, size, cra=2, originator_counter=0x1234, originator=ORIGINATOR,
                 recipient=RECIPIENT, message_code=0x0044)


def test_blocks_decode_as_gbt_messages_and_round_trip():
    blocks = _split(bytes(range(256)) * 3, 100)
    assert len(blocks) == 8
    for n, block in enumerate(blocks, 1):
        msg = decode(block)
        assert msg.header.form == "gbt"
        assert msg.header.gbt["block_number"] == n
        assert msg.header.gbt["last"] == (n == 8)
        assert msg.header.message_code == 0x0044
        assert encode(msg.tree) == block
        assert msg.signature == "absent" and msg.mac == "absent"


@given(st.binary(min_size=1, max_size=3000), st.integers(1, 400), st.randoms())
@settings(max_examples=60, deadline=None)
def test_reassembly_in_any_order_with_duplicates(message, size, rnd):
    blocks = _split(message, size)
    arrivals = blocks + [rnd.choice(blocks)]
    rnd.shuffle(arrivals)
    r = Reassembler()
    for block in arrivals:
        r.add(block)
    assert r.complete
    assert r.message() == message
    assert len(r.duplicates) == 1


def test_gaps_reported_and_incomplete_message_refused():
    blocks = _split(bytes(1000), 100)
    r = Reassembler()
    for i in random.Random(3).sample(range(10), 10):
        if i not in (2, 5):
            r.add(blocks[i])
    assert r.gaps() == [3, 6]
    assert not r.complete
    with pytest.raises(GbcsDecodeError, match="missing blocks"):
        r.message()


def test_block_of_another_transfer_refused():
    r = Reassembler()
    r.add(_split(bytes(10), 5)[0])
    other = split(bytes(10), 5, cra=2, originator_counter=99, originator=ORIGINATOR,
                  recipient=RECIPIENT, message_code=0x0044)
    with pytest.raises(GbcsDecodeError, match="another transfer"):
        r.add(other[1])


def test_truncated_block_is_a_decode_error():
    block = _split(bytes(50), 50)[0]
    for cut in range(len(block)):
        with pytest.raises(GbcsDecodeError):
            decode_block(block[:cut])


def test_acknowledgement_block_carries_no_data():
    from gbcs.gbt import gbt_block_message

    ack = gbt_block_message(cra=2, originator_counter=0x1234, originator=ORIGINATOR,
                            recipient=RECIPIENT, message_code=0x0044, block_number=0,
                            data=b"", last=False, acknowledged=3)
    msg = decode(ack)
    assert msg.tree["ciphered_content.block.acknowledged_block_number"].value == 3
    assert msg.tree["ciphered_content.invocation_counter"].value == 0
    r = Reassembler()
    r.add(_split(bytes(30), 10)[0])
    r.add(ack)
    assert r.acknowledged == 3 and r.gaps() == [] and not r.complete
