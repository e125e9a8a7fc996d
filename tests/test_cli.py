"""The command line: decode (text and JSON), encode as its inverse, sign, exit codes."""

from __future__ import annotations

import base64
import json


from tools.cli import main
from tests.conftest import KEYSTORE, RTDS, need

SAMPLE = "4.1.1_ECS17b/ECS17b_4.1.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX"
PRECOMMAND = "1.5_ECS04b/ECS04b_1.5_SUCCESS_PRECOMMAND_GBCS.HEX"
COMMAND = "1.5_ECS04b/ECS04b_1.5_SUCCESS_COMMAND_GBCS.HEX"


def _json_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]


def test_decode_json_fields(capsys):
    path = need(RTDS / SAMPLE)
    assert main(["decode", "--json", "--keystore", str(need(KEYSTORE)), str(path)]) == 0
    [out] = _json_lines(capsys)
    for key in ("ok", "message_code", "use_case", "cra", "originator", "recipient",
                "originator_counter", "signature", "mac", "roundtrip", "error", "tree"):
        assert key in out
    assert out["ok"] and out["roundtrip"] and out["error"] is None
    assert out["use_case"] == "ECS17b" and out["cra"] == "response"
    assert out["mac"] == "valid"


def test_bad_input_does_not_stop_the_others(capsys):
    path = need(RTDS / SAMPLE)
    hexed = path.read_text().strip()
    b64 = base64.b64encode(bytes.fromhex(hexed)).decode()
    assert main(["decode", "--json", "zz-not-hex", "DF0901", hexed, b64, str(path)]) == 1
    outs = _json_lines(capsys)
    assert [o["ok"] for o in outs] == [False, False, True, True, True]
    assert outs[1]["error"]["offset"] >= 0 and outs[1]["error"]["field"]


def test_decode_text_tree_shows_offsets_and_names(capsys):
    path = need(RTDS / SAMPLE)
    assert main(["decode", str(path)]) == 0
    text = capsys.readouterr().out
    assert "ECS17b" in text
    assert "originator_counter" in text and "message_code" in text


def test_decode_stdin_one_message_per_line(capsys, monkeypatch):
    import io

    hexed = need(RTDS / SAMPLE).read_text().strip()
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{hexed}\n\nnot-a-message\n{hexed}\n"))
    assert main(["decode", "--json", "-"]) == 1
    assert [o["ok"] for o in _json_lines(capsys)] == [True, False, True]


def test_encode_is_the_inverse_of_decode_json(capsys, tmp_path):
    path = need(RTDS / COMMAND)
    main(["decode", "--json", str(path)])
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text(capsys.readouterr().out)
    assert main(["encode", str(jsonl)]) == 0
    assert capsys.readouterr().out.strip() == path.read_text().strip().upper()


def test_sign_pre_command_reproduces_the_rtds_command(capsys):
    """ECDSA signatures are randomised, so compare by verification, and the MAC'd
    result decodes with a valid MAC for the device."""
    pre = need(RTDS / PRECOMMAND)
    assert main(["sign", "--keystore", str(need(KEYSTORE)), "--mac", str(pre)]) == 0
    signed = capsys.readouterr().out.strip()
    assert main(["decode", "--json", "--keystore", str(KEYSTORE), signed]) == 0
    [out] = _json_lines(capsys)
    assert out["signature"] == "valid" and out["mac"] == "valid"
    assert out["use_case"] == "ECS04b"


def test_sign_refuses_a_signed_message(capsys):
    path = need(RTDS / COMMAND)
    assert main(["sign", "--keystore", str(need(KEYSTORE)), str(path)]) == 1
    assert "not a pre-command" in capsys.readouterr().err
