"""The device and HAN fuzzers: short fixed-seed campaigns find nothing; RTDS seeds reach
every device type and are answered; each input starts from the snapshot; planted bugs
(a rejected command that changes state, a HAN handler that crashes or writes) are found,
saved and replayed; the CLI runs both campaigns."""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import islice
from pathlib import Path
from random import Random

import pytest

from tools.fuzz import replay
from tools.fuzz.__main__ import main
from tools.fuzz.campaign import run
from gbcs.message import decode
from gbcs.usecases import by_code
from firmware.core.gbt_inbox import MAX_BLOCKS, MAX_OPEN_TRANSFERS, GbtInbox
from gbcs.gbt import gbt_block_message
from tools.fuzz.device import (
    CLOCK_FROM, CREDIT_USE_CASES, FLOOD_FROM, GBT_FROM, GBT_SHUFFLED, DeviceTarget,
)
from tools.fuzz.han import (
    METERING, HanTarget, Premises, frames_of, join_frames, serve_hub,
)
from tools.fuzz.target import register
from tests.conftest import KEYSTORE, RTDS, need


class RejectionWrites(DeviceTarget):
    """A planted bug: every device notes a rejected command outside its logs."""

    name = "planted-device"

    def __init__(self) -> None:
        super().__init__()
        for subject in self.subjects:
            device, logged = subject.device, subject.device._log_rejected

            def log_and_write(verdict, device=device, logged=logged):
                logged(verdict)
                device.store.put("planted/last_rejected", verdict.reason)
            device._log_rejected = log_and_write


class BrittleHub(HanTarget):
    """Planted bugs in the hub's Metering handler: the captured read (transaction 1)
    raises what the node does not catch; a Write Attributes overwrites an attribute."""

    name = "planted-han"

    def __init__(self) -> None:
        self.armed = False  # not while the seed frames are captured
        super().__init__()
        self.armed = True

    def serve(self, premises: Premises) -> None:
        serve_hub(premises)
        endpoint = premises.hub.endpoints[1]
        honest = endpoint.server_clusters[METERING]

        def brittle(ind):
            if self.armed and ind.payload[1:3] == b"\x01\x00":
                raise RuntimeError("planted")
            if self.armed and ind.payload[2:3] == b"\x02":
                premises.attributes[0x0000] = 0
            return honest(ind)
        endpoint.server_clusters[METERING] = brittle


for _planted in (RejectionWrites, BrittleHub):
    register(_planted.name, _planted)


@pytest.fixture(scope="module")
def device() -> DeviceTarget:
    need(RTDS)
    need(KEYSTORE)
    return DeviceTarget()


@pytest.fixture(scope="module")
def han() -> HanTarget:
    return HanTarget()


def test_seeds_reach_every_device_type_and_are_answered(device):
    kinds = {s.kind for s in device.subjects}
    assert {"ESME", "GSME", "GPF", "CHF"} <= kinds
    answered: dict[str, int] = {}
    for data in list(device.seeds(Random(1)))[:400]:
        result = device.execute(data)
        assert device.check(data, result) is None
        if result.sent[0][1]:
            answered[result.kind] = answered.get(result.kind, 0) + 1
    assert set(answered) == kinds
    assert sum(answered.values()) > 200


def test_each_input_starts_from_the_snapshot_and_a_flood_is_refused_after_the_first(device):
    seed = next(d for d in device.seeds(Random(2)) if d[1] == 0 and device.execute(d).sent[0][1])
    first, again = device.execute(seed), device.execute(seed)
    assert first.sent[0][1] and again.sent[0][1]  # the same command, accepted both times
    assert first.before == again.before and first.after == again.after
    flood = device.execute(seed[:1] + bytes((FLOOD_FROM | 3,)) + seed[2:])
    assert len(flood.sent) == 5 and flood.sent[0][1]
    assert [a for _, a in flood.sent[1:]] == [[]] * 4
    assert flood.logged.count(f"{flood.kind}:security:replayed") == 4
    assert device.check(seed, flood) is None


def test_a_wrong_mac_is_refused_without_a_state_change(device):
    seed = next(d for d in device.seeds(Random(3)) if d[1] == 0 and device.execute(d).sent[0][1])
    broken = seed[:-1] + bytes((seed[-1] ^ 0x01,))  # the last byte is the MAC's
    result = device.execute(broken)
    assert result.sent[0][1] == [] and result.before == result.after
    assert result.logged and result.logged[0].startswith(f"{result.kind}:security:")
    assert device.check(broken, result) is None


def test_short_device_campaign_finds_nothing(device, tmp_path):
    result = run(device, 60, 7, max_inputs=600, findings_dir=tmp_path)
    assert result["inputs"] == 600
    assert result["crashes"] == 0 and result["invariant_violations"] == 0, result["findings"]
    assert result["paths"] > 20
    assert run(device, 60, 7, max_inputs=600, findings_dir=tmp_path)["digest"] == \
        result["digest"]


def test_a_rejection_that_changes_state_is_found_and_replayed(tmp_path):
    need(RTDS)
    need(KEYSTORE)
    result = run(RejectionWrites(), 60, 5, max_inputs=300, findings_dir=tmp_path,
                 minimise_seconds=2)
    assert result["invariant_violations"] > 0 and result["crashes"] == 0
    finding = result["findings"][0]
    assert finding["key"].startswith("violation:rejected-changed-state:")
    again = replay(finding["file"])
    assert again is not None and again.key == finding["key"]


def test_short_han_campaign_finds_nothing(han, tmp_path):
    result = run(han, 60, 7, max_inputs=500, findings_dir=tmp_path)
    assert result["inputs"] == 500
    assert result["crashes"] == 0 and result["invariant_violations"] == 0, result["findings"]
    assert result["paths"] > 10


def test_han_inputs_round_trip_and_the_hub_keeps_serving(han):
    frames = [b"\x01\x02\x03", bytes(range(40))]
    assert frames_of(join_frames(1, frames)) == (1, frames)
    seed = next(han.seeds(Random(4)))
    result = han.execute(seed)
    assert result.serving and result.before == result.after


def test_planted_han_bugs_are_found_and_replayed(tmp_path):
    result = run(BrittleHub(), 60, 3, max_inputs=800, findings_dir=tmp_path,
                 minimise_seconds=2)
    keys = {f["key"] for f in result["findings"]}
    assert any(k.startswith("crash:RuntimeError:") for k in keys), keys
    assert any(k.startswith("violation:state-changed:") for k in keys), keys
    for finding in result["findings"]:
        again = replay(finding["file"])
        assert again is not None and again.key == finding["key"]


def test_cli_device_and_han(tmp_path, capsys):
    need(RTDS)
    need(KEYSTORE)
    for kind in ("device", "han"):
        assert main([kind, "--seconds", "0.5", "--seed", "7", "--findings",
                     str(tmp_path), "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["target"] == kind and summary["inputs"] > 0
        assert summary["crashes"] == 0 and summary["invariant_violations"] == 0
    assert main(["device", "--seconds", "1", "--corpus", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert not any(Path(tmp_path).iterdir())


def test_registers_never_move_and_credit_only_under_a_credit_command(device):
    esme = next(i for i, s in enumerate(device.subjects) if s.kind == "ESME")
    seeds = [d for d in device.seeds(Random(6)) if d[0] == esme and d[1] == 0]
    results = ((d, device.execute(d)) for d in seeds)
    data, result = next((d, r) for d, r in results if r.sent[0][1])
    assert device.check(data, result) is None
    assert {"esme.imp", "esme.exp", "esme.credit"} <= set(result.conserved_after)
    moved = dict(result.conserved_after, **{"esme.imp": result.conserved_after["esme.imp"] + 1})
    violation = device.check(data, replace(result, conserved_after=moved))
    assert violation is not None and violation.invariant == "not-conserved"
    assert violation.where == "esme.imp"
    credit = dict(result.conserved_after["esme.credit"], meter_balance=1)
    moved = dict(result.conserved_after, **{"esme.credit": credit})
    name = by_code(decode(data[2:], verify=False).header.message_code).name
    violation = device.check(data, replace(result, conserved_after=moved))
    assert (violation is None) == bool(CREDIT_USE_CASES.search(name))


def test_a_command_in_gbt_blocks_is_put_together_and_answered_as_a_whole(device):
    seed = next(d for d in device.seeds(Random(8)) if d[1] == 0 and device.execute(d).sent[0][1]
                and len(d) > 80)
    whole = device.execute(seed)
    for mode in (GBT_FROM, GBT_FROM | GBT_SHUFFLED | 1):
        data = seed[:1] + bytes((mode,)) + seed[2:]
        result = device.execute(data)
        assert [_codes(a) for _, a in result.sent] == [_codes(a) for _, a in whole.sent]
        assert result.after == whole.after
        assert device.check(data, result) is None


def _codes(answers: list[bytes]) -> list[tuple[int, int]]:
    return [(h.cra, h.message_code) for h in (decode(a, verify=False).header for a in answers)]


def test_the_gbt_inbox_drops_what_it_cannot_take_and_logs_it():
    eui, other = bytes.fromhex("00DB1234567890A0"), bytes.fromhex("00DB1234567890A1")
    logged: list[tuple[str, tuple | None]] = []
    inbox = GbtInbox(eui, lambda reason, detail, key: logged.append((reason, key)))

    def block(n: int, counter: int = 5, last: bool = False, data: bytes = b"x" * 64,
              recipient: bytes = eui) -> bytes:
        return gbt_block_message(cra=1, originator_counter=counter, originator=other,
                                 recipient=recipient, message_code=0x0001, block_number=n,
                                 data=data, last=last)

    assert inbox.add(block(1)) is None and inbox.add(block(2, last=True)) == b"x" * 128
    assert inbox.add(b"\xdd\x09\x00") is None and logged[-1][0] == "gbt_malformed"
    assert inbox.add(block(1, recipient=other)) is None and len(logged) == 1  # not ours
    assert inbox.add(block(MAX_BLOCKS + 1, counter=6)) is None
    assert logged[-1] == ("gbt_oversized", (other, eui, 6))
    for counter in range(10, 10 + MAX_OPEN_TRANSFERS + 1):
        inbox.add(block(1, counter=counter))
    assert logged[-1] == ("gbt_abandoned", (other, eui, 10))
    inbox.add(block(3, counter=11, last=True))
    assert inbox.add(block(4, counter=11)) is None and logged[-1][0] == "gbt_inconsistent"


def test_a_clock_run_is_compared_with_a_twin_run_without_the_message(device):
    seed = next(d for d in device.seeds(Random(9)) if d[1] == 0 and device.execute(d).sent[0][1]
                and device.execute(d).kind == "ESME")
    broken = seed[:1] + bytes((CLOCK_FROM | 7,)) + seed[2:-1] + bytes((seed[-1] ^ 1,))
    result = device.execute(broken)
    assert result.sent[0][1] == [] and result.before == result.after
    esme = next(s for s in device.subjects if s.kind == "ESME")
    assert result.after["ESME"] != esme.digest          # 128 hours moved the meter on
    assert device.check(broken, result) is None
    accepted = device.execute(seed[:1] + bytes((CLOCK_FROM | 7,)) + seed[2:])
    assert accepted.sent[0][1] and device.check(seed, accepted) is None
    assert all(decode(a, verify=False).header.cra == 3 for a in accepted.alerts)


def test_the_real_key_establishment_server_is_fuzzed_and_a_held_session_is_found(han):
    stats = set()
    for data in list(islice(han.seeds(Random(11)), 120)):
        result = han.execute(data)
        assert han.check(data, result) is None and result.ke_free
        stats.update(result.stats)
    assert {"ke_refused", "ke_unexpected"} <= stats     # frames reached its state machine
    violation = han.check(data, replace(result, ke_free=False))
    assert violation is not None and violation.invariant == "ke-held"
