"""The DCC Reference Test Data Set: every message decodes, every signature and MAC the
key store can check is valid, every round trip is byte-exact, and mutations of the
messages raise nothing but GbcsDecodeError."""

from __future__ import annotations

import random
from functools import lru_cache


from gbcs.errors import GbcsDecodeError
from gbcs.keystore import Keystore
from gbcs.message import decode
from tests.conftest import KEYSTORE, RTDS, need, rtds_files


@lru_cache(maxsize=1)
def _store() -> Keystore:
    return Keystore.from_dir(need(KEYSTORE))


@lru_cache(maxsize=1)
def _messages() -> list[tuple[str, bytes]]:
    need(RTDS)
    return [(p.name, bytes.fromhex(p.read_text().strip())) for p in rtds_files()]


def test_every_rtds_message_decodes_verifies_and_round_trips():
    failures = []
    for name, raw in _messages():
        try:
            msg = decode(raw, _store())
        except GbcsDecodeError as err:
            failures.append(f"{name}: {err}")
            continue
        if not msg.roundtrip():
            failures.append(f"{name}: round trip differs")
        if msg.signature not in ("valid", "absent"):
            failures.append(f"{name}: signature {msg.signature}")
        store = _store()
        between_devices = store.is_device(msg.header.originator) and \
            store.is_device(msg.header.recipient)
        if msg.mac not in ("valid", "absent") and not (msg.mac == "unverified"
                                                       and between_devices):
            failures.append(f"{name}: mac {msg.mac}")
        if "undecrypted" in msg.decryptions:
            failures.append(f"{name}: payload decryption failed")
    assert not failures, "\n".join(failures[:30])
    assert len(_messages()) > 1000


def test_signature_and_mac_counts():
    """Signatures and MACs are checked, not skipped: only the PPMID-to-meter messages
    (MAC'd between two devices whose private keys the RTDS does not publish) stay
    unverified."""
    results = [decode(raw, _store()) for _, raw in _messages()]
    assert sum(m.signature == "valid" for m in results) >= 400
    assert sum(m.mac == "valid" for m in results) >= 680
    unverified = {m.use_case.use_case for m in results if m.mac == "unverified"}
    assert unverified <= {"PCS01", "PCS02"}


def _mutations(raw: bytes, rnd: random.Random):
    yield raw[: rnd.randrange(len(raw))]  # truncation
    flipped = bytearray(raw)
    for _ in range(rnd.randint(1, 4)):
        flipped[rnd.randrange(len(raw))] ^= 1 << rnd.randrange(8)
    yield bytes(flipped)
    at = rnd.randrange(len(raw))
    yield raw[:at] + bytes([rnd.randrange(256)]) + raw[at:]  # insertion
    at = rnd.randrange(len(raw))
    yield raw[:at] + raw[at + 1:]  # deletion
    lengthy = bytearray(raw)
    for pos in range(len(raw)):  # a length-like byte set to an extreme
        if raw[pos] in (0x81, 0x82) or (0 < raw[pos] < 0x80 and rnd.random() < 0.02):
            lengthy[pos] = rnd.choice((0x00, 0x7F, 0x84, 0xFF))
            break
    yield bytes(lengthy)
    yield bytes(rnd.randrange(256) for _ in range(len(raw)))  # noise


def test_mutated_rtds_messages_raise_only_decode_errors():
    rnd = random.Random(2024)
    count = 0
    for name, raw in _messages():
        for mutated in _mutations(raw, rnd):
            count += 1
            try:
                decode(mutated, _store())
            except GbcsDecodeError as err:
                assert err.offset >= 0 and isinstance(err.field, str), name
    assert count >= 6000
