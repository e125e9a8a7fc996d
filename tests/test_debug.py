"""smetslab debug: the issue's acceptance script, the typed errors of bad commands,
scripts' exit status, the prompt's completion and --state."""

from __future__ import annotations

import pytest

from tools.cli import main
from tools.debug.session import DebugError, Session

# The example, as written: 3 kW on the ESME, prepayment, a £5 top-up, then run
# until the credit runs out.
ACCEPTANCE = """\
load esme 3
send 1.6 mode=prepayment
send 2.2 amount=5.00
break watch esme.supply_state
run 7d
print esme.supply_state
"""


def small_premises(tmp_path, before: str = "[boards.gsme]"):
    """The default premises cut `before` a board (by default: only the hub and the
    ESME): the same firmware, a fraction of the HAN traffic."""
    from boards.board import DEFAULT_PREMISES

    path = tmp_path / "small.toml"
    path.write_text(DEFAULT_PREMISES.read_text().split(before)[0])
    return path


@pytest.mark.usefixtures("duis_matrix")
def test_acceptance_credit_runs_out_before_seven_days(tmp_path, capsys) -> None:
    """The script as written, on the default premises without its PPMID and IHD (their
    ZSE reads every few seconds make the default premises ~30 times slower to run, and
    change nothing the ESME does; `smetslab debug --script` on the default premises
    prints the same break and supply state)."""
    script = tmp_path / "acceptance.txt"
    script.write_text(ACCEPTANCE)
    premises = small_premises(tmp_path, before="[boards.ppmid]")
    assert main(["debug", "--script", str(script), "--premises", str(premises)]) == 0
    out = capsys.readouterr().out.splitlines()
    sends = [line for line in out if line.startswith("send ")]
    assert [s.split(":")[0] for s in sends] == ["send 1.6", "send 2.2"]
    assert all("I0" in s and "device reports success" in s for s in sends)
    breaks = [line for line in out if line.startswith("break ")]
    # the top-up leaves the supply enabled (in credit mode nothing was taken from the
    # balance); it is disabled once, when the £5 is spent, before the 7 days end
    assert len(breaks) == 1 and "enabled -> disabled" in breaks[0], out
    assert breaks[0].split(" at ")[-1] < "2026-01-08"
    assert out[-2].startswith("stopped at ") and out[-1] == "esme.supply_state = disabled"


@pytest.mark.usefixtures("duis_matrix")
def test_bad_commands_are_typed_errors(tmp_path) -> None:
    lines: list[str] = []
    session = Session(small_premises(tmp_path), emit=lines.append)
    try:
        for line, words in [("bogus", "unknown command"), ("print esme.nothing", "no field"),
                            ("print gas.credit", "reads ESMEs"),
                            ("print credit", "DEVICE.FIELD"),
                            ("send 9.9", "the debugger knows"),
                            ("send 2.2 amount=lots", "amount"),
                            ("send 1.6 mode=weekly", "mode"), ("run soon", "unit"),
                            ("break delete 4", "no such"), ("delete 4", "no such"),
                            ("load esme x", "kW"), ("power esme sideways", "on or off"),
                            ("battery esme 5", "battery"), ("tamper kettle", "no device"), ("tamper ihd", "tamper switches"),
                            ("break watch esme.nothing", "no field"),
                            ("break alert XYZ", "hex alert code"),
                            ("break event esme.tick if esme.supply_state < 3", "not a number"),
                            ("break watch esme.credit if esme.credit == 1", "a table"),
                            ("break message ECS03 if nonsense", "EXPR OP VALUE"),
                            ("restore nowhere", "no such snapshot"),
                            ("back", "no event since"), ("load /nonexistent.json", "load"),
                            ("trace x", "usage: trace"),
                            ("press esme Z", "no button"), ("continue", "no breakpoints")]:
            with pytest.raises(DebugError, match=words):
                session.execute(line)
        lines.clear()
        session.execute("step 3")                # a refused command left the session usable
        assert len(lines) == 3 and all(line.startswith("2026-01-01T") for line in lines)
    finally:
        session.close()


@pytest.mark.usefixtures("duis_matrix")
def test_script_exit_status(tmp_path, capsys) -> None:
    script = tmp_path / "s.txt"
    script.write_text("# a comment\nprint esme.supply_state\nfly away\nprint time\n")
    assert main(["debug", "--script", str(script), "--premises",
                 str(small_premises(tmp_path))]) == 1
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


@pytest.mark.usefixtures("duis_matrix")
def test_state_folder_resumes_the_premises(tmp_path, capsys) -> None:
    script = tmp_path / "s.txt"
    script.write_text("run 2h\nprint esme.active_import_wh\n")
    state = tmp_path / "state"
    premises = str(small_premises(tmp_path))
    assert main(["debug", "--script", str(script), "--state", str(state),
                 "--premises", premises]) == 0
    assert (state / "lab.json").exists()
    assert main(["debug", "--script", str(script), "--state", str(state),
                 "--premises", premises]) == 0
    reads = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("esme.active_import_wh = ")]
    assert len(reads) == 2 and int(reads[1].split()[-1]) > 0


@pytest.mark.usefixtures("duis_matrix")
def test_prompt_completes_commands_kinds_fields_and_snapshots(tmp_path) -> None:
    from tools.debug.console import completions

    with Session(small_premises(tmp_path), emit=lambda line: None) as session:
        session.execute("snapshot start")
        assert list(completions(session, [], "re")) == ["restore"]
        assert list(completions(session, ["break"], "")) == \
            ["message", "alert", "watch", "event", "list"]
        assert "esme.credit" in completions(session, ["print"], "esme.c")
        assert list(completions(session, ["restore"], "")) == ["start"]
        assert list(completions(session, ["send"], "2")) == ["2.2"]
        assert list(completions(session, ["send", "1.6"], "m")) == ["mode="]
        assert list(completions(session, ["power", "esme"], "o")) == ["on", "off"]
