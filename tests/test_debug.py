"""smetslab debug: the issue's acceptance script over the default premises, determinism
of a script's output, and the typed errors of bad commands."""

from __future__ import annotations

import pytest

from tools.cli import main
from tools.debug.session import DebugError, Session

# The example: 3 kW on the ESME, prepayment, a £5 top-up, then run until the
# credit runs out. A top-up restores an exhausted meter to armed, so the consumer presses
# the enable button (A) as a real one would before the supply comes back.
ACCEPTANCE = """\
load esme 3
send 1.6 mode=prepayment
send 2.2 amount=5.00
press esme A
break watch esme.supply_state
break list
run 7d
print esme.supply_state
print esme.credit
"""


def _run(script: str) -> list[str]:
    lines: list[str] = []
    session = Session(emit=lines.append)
    try:
        for line in script.splitlines():
            session.execute(line)
        lines.append(f"end {session.lab.sim.now().isoformat()}")
    finally:
        session.close()
    return lines


def test_acceptance_credit_runs_out_before_seven_days_deterministically() -> None:
    out = _run(ACCEPTANCE)
    sends = [line for line in out if line.startswith("send ")]
    assert [s.split(":")[0] for s in sends] == ["send 1.6", "send 2.2"]
    assert all("I0" in s and "device reports success" in s for s in sends)
    breaks = [line for line in out if line.startswith("break ")]
    assert len(breaks) == 1 and "enabled -> disabled" in breaks[0]
    assert "esme.supply_state = disabled" in out
    balance = next(line for line in out if line.strip().startswith("meter_balance"))
    assert balance.split()[-1] in ("£0.00", "-£0.00") or balance.split()[-1].startswith("-")
    assert "end 2026-01-01" < out[-1] < "end 2026-01-08"      # stopped before the 7 days
    # Determinism: the same script again prints the same bytes.
    assert "\n".join(_run(ACCEPTANCE)).encode() == "\n".join(out).encode()


def test_bad_commands_are_typed_errors() -> None:
    lines: list[str] = []
    session = Session(emit=lines.append)
    try:
        for line, words in [("bogus", "unknown command"), ("print esme.nothing", "no field"),
                            ("print gas.credit", "reads ESMEs"),
                            ("print credit", "DEVICE.FIELD"),
                            ("send 9.9", "the debugger knows"),
                            ("send 2.2 amount=lots", "amount"),
                            ("send 1.6 mode=weekly", "mode"), ("run soon", "unit"),
                            ("break delete 4", "no such"), ("load esme x", "kW"),
                            ("press esme Z", "no button"), ("continue", "no breakpoints")]:
            with pytest.raises(DebugError, match=words):
                session.execute(line)
        lines.clear()
        session.execute("step 3")                # a refused command left the session usable
        assert len(lines) == 3 and all(line.startswith("2026-01-01T") for line in lines)
    finally:
        session.close()


def test_script_exit_status(tmp_path, capsys) -> None:
    script = tmp_path / "s.txt"
    script.write_text("# a comment\nprint esme.supply_state\nfly away\nprint time\n")
    assert main(["debug", "--script", str(script)]) == 1
    captured = capsys.readouterr()
    assert "esme.supply_state = enabled" in captured.out
    assert "s.txt:3: unknown command 'fly'" in captured.err
    assert "print time" not in captured.out


def test_send_client_request_is_valid_duis_and_answer_prints_as_tree() -> None:
    from datetime import UTC, datetime

    from tools.debug import client
    from tools.headend.duis import ServiceResponse, parse_json

    target = client.Target("90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A0", 7)
    request = parse_json(client.request_json("4.1.1", {}, target))
    assert (request.srv, request.service, request.command_variant) == \
        ("4.1.1", "ReadInstantaneousImportRegisters", 1)
    assert request.request_id.counter == 7
    with pytest.raises(client.ClientError, match="body="):
        client.request_json("6.99", {}, target)
    answer = ServiceResponse("I0", datetime(2026, 1, 1, tzinfo=UTC),
                             request_id=request.request_id, service_reference="4.1",
                             srv="4.1.1", gbcs_payload=b"\xdd\x00")
    lines = client.tree(answer.to_xml())
    assert lines[0] == "Response" and "    ResponseCode: I0" in lines
    assert "      GBCSPayload: 3QA=" in lines


def test_state_folder_resumes_the_premises(tmp_path, capsys) -> None:
    script = tmp_path / "s.txt"
    script.write_text("run 2h\nprint esme.active_import_wh\n")
    state = tmp_path / "state"
    assert main(["debug", "--script", str(script), "--state", str(state)]) == 0
    assert (state / "lab.json").exists()
    assert main(["debug", "--script", str(script), "--state", str(state)]) == 0
    reads = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("esme.active_import_wh = ")]
    assert len(reads) == 2 and int(reads[1].split()[-1]) > 0
