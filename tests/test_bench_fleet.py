"""`smetslab bench fleet`: a tiny fleet whose requests go end to end with full crypto
(ACB MAC checked by the ESME, anti-replay, response MAC checked by the User)."""

from __future__ import annotations

import json

import pytest

from firmware.core.device import EVENT_LOG, SECURITY_LOG
from firmware.core.security import INTEGRITY_FAILED, MALFORMED
from gbcs.content import CRA_RESPONSE
from gbcs.keystore import Keystore
from gbcs.message import VALID, decode, peek_header
from tests.conftest import KEYSTORE, REFERENCE, need, rtds_files
from tools.bench import fleet as bench
from tools.cli import main
from tools.headend import mmc


@pytest.fixture(scope="module")
def fleet() -> bench.Fleet:
    need(REFERENCE / "duis-request-matrix.json")
    return bench.build(3)


def test_every_premises_answers_with_a_verified_response(fleet):
    assert len(fleet.premises) == 3
    for _ in range(2):
        for esme in fleet.premises:
            command, response = fleet.send(esme)
            msg = decode(response, fleet.user_keys, acb=fleet.pki.acb.eui)
            assert msg.header.cra == CRA_RESPONSE and msg.mac == VALID
            assert msg.header.originator == esme
            assert decode(command, verify=False).header.recipient == esme
    assert not fleet.responses


def test_a_replayed_command_is_refused_and_changes_nothing_but_the_log(fleet):
    esme = next(iter(fleet.premises))
    premises = fleet.premises[esme]
    command, _ = fleet.send(esme)
    logged = len(premises.esme.store.entries(SECURITY_LOG))
    assert premises.esme.receive(command) == []
    assert len(premises.esme.store.entries(SECURITY_LOG)) == logged + 1
    fleet.send(esme)                       # the next counter still goes through


def _command_sent(fleet, esme: bytes) -> list[bytes]:
    """What the DCC puts on the WAN for one read of `esme`, kept from the hub."""
    sent: list[bytes] = []
    wan, fleet.dcc.wan = fleet.dcc.wan, lambda recipient, message: sent.append(message)
    try:
        fleet.dcc.submit(fleet.request(esme), fleet.supplier)
    finally:
        fleet.dcc.wan = wan
    return sent


def test_a_command_with_a_broken_mac_is_refused(fleet):
    esme = next(iter(fleet.premises))
    premises = fleet.premises[esme]
    sent = _command_sent(fleet, esme)
    tampered = sent[0][:-1] + bytes([sent[0][-1] ^ 1])
    assert premises.chf.deliver(tampered) == [] and not fleet.responses
    assert premises.esme.receive(tampered) == []
    assert premises.esme.receive(sent[0])     # the untouched command is accepted


def test_the_chf_routes_by_header_and_the_meter_refuses_a_bad_content(fleet):
    """The hub reads only the header (`peek_header`); the ESME decodes the content, and
    logs a malformed one as an integrity failure; the CHF logs nothing."""
    esme = next(iter(fleet.premises))
    premises = fleet.premises[esme]
    sent = _command_sent(fleet, esme)
    h = peek_header(sent[0])
    at = h.content_start                # the DLMS Access-Request tag
    broken = sent[0][:at] + b"\xFF" + sent[0][at + 1:]
    assert peek_header(broken).recipient == esme
    chf_logs = [len(premises.chf.store.entries(log)) for log in (SECURITY_LOG, EVENT_LOG)]
    assert premises.chf.deliver(broken) == [] and not fleet.responses
    assert [len(premises.chf.store.entries(log)) for log in (SECURITY_LOG, EVENT_LOG)] \
        == chf_logs
    logged = premises.esme.store.entries(SECURITY_LOG)[-1].value
    assert logged["reason"] == MALFORMED and logged["event_code"] == INTEGRITY_FAILED
    fleet.send(esme)                     # the meter carries on


def test_the_dcc_finds_each_response_payload_where_a_walk_finds_it():
    """`mmc` reads the payload under the grouping header rather than walking the tree:
    over every RTDS message, with and without keys, it is the node a walk finds."""
    store = Keystore.from_dir(need(KEYSTORE))
    files = rtds_files()
    assert len(files) > 1000
    for path in files:
        raw = bytes.fromhex(path.read_text().strip())
        for keys in (None, store):
            msg = decode(raw, keys, verify=False)
            walked = list(msg.tree.walk())
            dlms = next((n for n in walked if n.kind == "dlms.access-response"), None)
            gbz = next((n for n in walked if n.name == "gbz"), None)
            assert mmc._dlms(msg) is dlms and mmc._gbz(msg) is gbz, path.name


@pytest.mark.usefixtures("duis_matrix")
def test_run_reports_its_figures_and_goals():
    result = bench.run(premises=3, requests=6)
    assert result["premises"] == 3 and result["requests"] == 6
    assert result["requests_per_s"] > 0 and result["baseline_ms_per_request"] > 0
    assert result["cpu_ms_per_request"] > 0 and result["first_contact_ms_per_request"] > 0
    assert result["bytes_per_premises"] >= 0
    assert result["meets_goal"] == (result["meets_rate_goal"] and result["meets_memory_goal"])
    assert "MISSES" in bench.report(result) or "meets the goal" in bench.report(result)


def test_bad_counts_are_refused():
    with pytest.raises(ValueError):
        bench.run(premises=0)
    assert main(["bench", "fleet", "--premises", "0"]) == 2


@pytest.mark.usefixtures("duis_matrix")
def test_cli_json(capsys):
    rc = main(["bench", "fleet", "--premises", "2", "--requests", "4", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert rc == (0 if result["meets_goal"] else 1)
    assert result["premises"] == 2 and result["requests"] == 4
