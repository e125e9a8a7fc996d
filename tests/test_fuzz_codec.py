"""The codec fuzzer: a short fixed-seed campaign finds nothing; planted crashes, hangs and
broken invariants are found, minimised, saved and replayed; a seed fixes the inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from random import Random

import pytest

from gbcs.errors import GbcsDecodeError, GbcsError
from gbcs.message import decode
from tools.fuzz import codec, mutate, replay, run_codec
from tools.fuzz import corpus as corpora
from tools.fuzz.__main__ import main
from tools.fuzz.budget import TimeBudget
from tools.fuzz.campaign import minimise, run
from tools.fuzz.codec import CodecTarget
from tools.fuzz.minimise import ddmin
from tools.fuzz.report import FindingFileError, load
from tools.fuzz.target import register, run_one
from tests.conftest import KEYSTORE, ROOT, RTDS, need, rtds_files


class ShortSigningCrash(CodecTarget):
    """A planted bug: a General Signing APDU cut inside its grouping header crashes."""

    name = "planted-crash"

    def execute(self, data: bytes):
        if data[:1] == b"\xDF" and len(data) < 20:
            return data[20]  # IndexError
        return super().execute(data)


class SlowOnLongGbt(CodecTarget):
    """A planted hang: a GBT block with a long body spins (for 3 s, so that even off the
    main thread, where the budget is only checked afterwards, the test ends)."""

    name = "planted-hang"

    def execute(self, data: bytes):
        if data[:2] == b"\xDD\x09" and len(data) > 1000:
            end = time.monotonic() + 3.0
            while time.monotonic() < end:
                pass
        return super().execute(data)


class LossyCiphering(CodecTarget):
    """A planted encoder bug: a General Ciphering message comes back one byte short."""

    name = "planted-violation"

    def check(self, data: bytes, result):
        if not isinstance(result, GbcsDecodeError) and \
                result.msg.header.form == "general_ciphering":
            return super().check(data + b"\x00", result)
        return super().check(data, result)


for _planted in (ShortSigningCrash, SlowOnLongGbt, LossyCiphering):
    register(_planted.name, _planted)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> Path:
    """Forty generated messages as hex files: seeds that load fast and need no RTDS."""
    folder = tmp_path_factory.mktemp("corpus")
    for i, data in zip(range(40), corpora.generated(Random(1))):
        (folder / f"m{i:02d}.hex").write_text(data.hex().upper() + "\n")
    return folder


def test_short_campaign_finds_no_crash(tmp_path):
    """About 2 s: a fixed number of inputs, so a slow machine cannot make it flake."""
    need(RTDS)                    # the corpus the figures below count on
    result = run_codec(120, 7, None, max_inputs=3000, findings_dir=tmp_path)
    assert result["crashes"] == 0, result["findings"]
    assert result["invariant_violations"] == 0, result["findings"]
    assert result["findings"] == [] and not any(tmp_path.iterdir())
    assert result["inputs"] == 3000 and result["corpus"] > 300
    assert result["rejected"] > 0  # the mutants do reach the decoder's error paths
    assert result["inputs"] - result["rejected"] > result["corpus"]  # and its happy paths


def test_same_seed_same_inputs(tmp_path, small_corpus):
    def campaign(seed: int) -> dict:
        return run(CodecTarget(small_corpus, generate=False), 60, seed, max_inputs=1500,
                   findings_dir=tmp_path)

    first, again, other = campaign(5), campaign(5), campaign(6)
    assert first["inputs"] == 1500
    assert first["digest"] == again["digest"]
    assert {k: first[k] for k in ("rejected", "pool", "paths")} == \
        {k: again[k] for k in ("rejected", "pool", "paths")}
    assert other["digest"] != first["digest"]
    # The generated seeds too: one rng, one sequence of messages.
    first_five = [m for _, m in zip(range(5), corpora.generated(Random(11)))]
    assert first_five == [m for _, m in zip(range(5), corpora.generated(Random(11)))]
    assert len(set(first_five)) == 5


def test_same_seed_same_inputs_across_processes(tmp_path, small_corpus):
    """Nothing in the runner hangs on hash order or object identity: two interpreters
    with different hash seeds run the same inputs. (Generated seeds are left out: the
    strategies' certificate pool is signed with random ECDSA nonces.)"""
    script = ("import sys; from pathlib import Path; from tools.fuzz.campaign import run; "
              "from tools.fuzz.codec import CodecTarget; "
              "print(run(CodecTarget(Path(sys.argv[1]), generate=False), 60, 9, "
              "max_inputs=1500, findings_dir=Path(sys.argv[2]))['digest'])")
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", script, str(small_corpus), str(tmp_path)],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        digests.add(done.stdout.strip())
    assert len(digests) == 1


def test_planted_crash_is_found_minimised_and_replayed(tmp_path, small_corpus):
    result = run(ShortSigningCrash(small_corpus, generate=False), 60, 3, max_inputs=4000,
                 findings_dir=tmp_path)
    assert result["crashes"] > 0 and result["invariant_violations"] == 0
    [finding] = result["findings"]
    assert finding["kind"] == "crash" and finding["count"] == result["crashes"]
    assert finding["key"].startswith("crash:IndexError:tests/test_fuzz_codec.py:")
    saved = load(Path(finding["file"]))
    assert saved.input == b"\xDF"  # ddmin's 1-minimal input, from a longer original
    assert len(saved.original) > 1 and "IndexError" in saved.traceback

    again = replay(finding["file"])
    assert again is not None and again.key == finding["key"]

    fixed = json.loads(Path(finding["file"]).read_text())
    fixed["target"] = "codec"  # the same input against the real codec: no crash
    fixed_file = tmp_path / "fixed.json"
    fixed_file.write_text(json.dumps(fixed))
    assert replay(fixed_file) is None


def test_minimiser_cuts_structure_before_bytes():
    """Byte cuts rarely survive length-prefixed messages; the codec's structural
    reductions (an element dropped, lengths kept right) do."""
    raw = next(m for m in corpora.generated(Random(5))
               if decode(m).header.signature is not None and len(m) > 150)
    code = decode(raw).header.message_code

    class SignedCrash(CodecTarget):
        name = "planted-signed"

        def execute(self, data: bytes):
            result = super().execute(data)
            if result.msg.header.signature is not None and \
                    result.msg.header.message_code == code:
                raise RuntimeError("planted")
            return result

    target = SignedCrash()
    with TimeBudget(2.0) as guard:
        outcome = run_one(target, raw, guard)
        smallest = minimise(target, raw, outcome, guard)
    assert outcome.key.startswith("crash:RuntimeError")
    assert len(smallest) < len(raw) - 20
    assert run_one(target, smallest, TimeBudget(2.0)).key == outcome.key
    assert all(len(c) <= len(raw) for c in target.reductions(raw))


def test_planted_hang_is_a_crash(tmp_path, small_corpus):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for path in small_corpus.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "gbt.hex").write_text((b"\xDD\x09" + bytes(1200)).hex())
    result = run(SlowOnLongGbt(folder, generate=False), 60, 1, max_inputs=300,
                 findings_dir=tmp_path / "findings", budget=0.2, minimise_seconds=1.0)
    assert result["crashes"] >= 1
    [finding] = result["findings"]
    assert finding["key"] == "crash:hang" and "0.2 s budget" in finding["summary"]
    assert load(Path(finding["file"])).input[:2] == b"\xDD\x09"


def test_planted_invariant_violation_names_the_field(tmp_path, small_corpus):
    result = run(LossyCiphering(small_corpus, generate=False), 60, 2, max_inputs=300,
                 findings_dir=tmp_path)
    assert result["crashes"] == 0 and result["invariant_violations"] > 0
    [finding] = result["findings"]
    assert finding["key"].startswith("violation:re-encode:general_ciphering")
    assert "first difference at byte" in finding["summary"]
    saved = load(Path(finding["file"]))
    assert len(saved.input) <= len(saved.original)
    assert decode(saved.input).header.form == "general_ciphering"
    assert replay(finding["file"]).key == finding["key"]


def test_cli_codec_and_replay(tmp_path, small_corpus, capsys):
    findings = tmp_path / "findings"
    assert main(["codec", "--seconds", "0.5", "--seed", "4", "--corpus", str(small_corpus),
                 "--findings", str(findings), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) >= {"inputs", "crashes", "invariant_violations", "findings",
                            "inputs_per_second"}
    assert summary["crashes"] == 0 and summary["inputs"] > 0
    assert main(["codec", "--seconds", "0.2", "--corpus", str(small_corpus),
                 "--findings", str(findings)]) == 0
    assert "crashes 0, invariant violations 0" in capsys.readouterr().out

    run(ShortSigningCrash(small_corpus, generate=False), 60, 3, max_inputs=3000,
        findings_dir=findings)
    [file] = findings.iterdir()
    assert main(["replay", str(file)]) == 1
    assert "reproduces: crash: IndexError" in capsys.readouterr().out
    assert main(["replay", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    assert main(["codec", "--seconds", "1", "--corpus", str(tmp_path / "nowhere")]) == 2


def test_replay_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{\"format\": \"something else\"}")
    with pytest.raises(FindingFileError, match="bad.json"):
        replay(bad)
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"format": "smetslab-fuzz-finding/1", "target": "toaster",
                                   "kind": "crash", "key": "k", "summary": "", "input": ""}))
    with pytest.raises(LookupError, match="toaster"):
        replay(unknown)


def _message() -> bytes:
    return next(corpora.generated(Random(3)))


def test_structural_mutators_change_the_message():
    raw = _message()
    assert decode(raw).roundtrip()
    changed = {}
    for mutator in set(mutate.STRUCT_MUTATORS):
        outs = set()
        for i in range(40):
            try:
                subject = mutate.Subject(raw, decode(raw).tree, decode(raw).tree)
                out = mutator(subject, Random(i))
            except GbcsError:
                continue  # an edit the model cannot encode; `structural` tries another
            if out is not None:
                outs.add(out)
        changed[mutator.__name__] = len(outs - {raw})
    assert all(changed.values()), changed


def test_lengths_break_consistency_and_tree_edits_keep_it():
    """A length patched in place makes the message inconsistent (mostly rejected); a
    counter edited in the tree leaves every length right (it decodes, differently)."""
    raw = _message()
    rejected = decoded = 0
    for i in range(40):
        out = mutate.lengths(mutate.Subject(raw, decode(raw).tree), Random(i))
        try:
            decode(out or raw)
        except GbcsDecodeError:
            rejected += 1
        out = mutate.counters(mutate.Subject(raw, decode(raw).tree), Random(i))
        if out != raw and decode(out).roundtrip():
            decoded += 1
    assert rejected >= 20 and decoded >= 30


def test_byte_mutators_stay_deterministic():
    raw = _message()
    for mutator in mutate.BYTE_MUTATORS:
        assert mutator(raw, Random(9), [raw]) == mutator(raw, Random(9), [raw])
    assert mutate.byte_level(b"", Random(1), [])  # an empty input only grows


def test_ddmin_finds_a_one_minimal_input():
    data = bytes(range(200)) + b"AB" + bytes(100)
    assert ddmin(data, lambda d: b"AB" in d) == b"AB"
    assert ddmin(b"xyz", lambda d: len(d) >= 2) == b"\x00\x00"


def test_corpus_files_hex_json_or_raw(tmp_path):
    assert corpora.parse(b"DF 09\n01\r\n") == b"\xDF\x09\x01"
    assert corpora.parse(b'{"input": "DD09"}') == b"\xDD\x09"
    assert corpora.parse(b"\xDF\x09\x01") == b"\xDF\x09\x01"
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "m.HEX").write_text("0102")
    (tmp_path / "b.bin").write_bytes(b"\xFF")
    (tmp_path / "empty").write_bytes(b"")
    assert corpora.load(tmp_path) == [b"\x01\x02", b"\xFF"]
    assert corpora.load(tmp_path / "none") == []


def test_encrypted_parts_opened_in_place_reach_the_plaintext_decoders():
    messages = [bytes.fromhex(p.read_text().strip()) for p in rtds_files()]
    if not messages:
        need(RTDS)
    opened = corpora.opened_in_place(messages, need(KEYSTORE))
    assert len(opened) >= 30
    target = CodecTarget()
    for data in opened:
        result = target.execute(data)
        assert result.opened is not None  # the plaintext in place decodes as a payload
        assert target.check(data, result) is None
        assert any(n.kind == "view" for n in result.opened.walk())
    assert corpora.opened_in_place(messages[:5], Path("/nonexistent")) == []

    # Field edits inside a decrypted payload are written back over its ciphertext.
    edited = reached = 0
    for data in opened:
        tree = codec._tree(data)
        assert codec.write_opened(tree) == data
        leaves = [n for view in tree.walk() if view.kind == "view" for n in view.walk()
                  if n.children is None and n.kind in ("u8", "u16", "u32")]
        if not leaves:
            continue
        edited += 1
        leaves[-1].value ^= 1
        out = codec.write_opened(tree)
        again = codec._tree(out)
        reached += out != data and any(n.name == leaves[-1].name and
                                       n.value == leaves[-1].value for n in again.walk())
    assert edited >= 20 and reached >= edited * 0.7


def test_atheris_guided_campaign(tmp_path, small_corpus):
    pytest.importorskip("atheris")
    from tools.fuzz import guided

    result = guided.run("codec", 1.0, 7, small_corpus, tmp_path, {"generate": False})
    assert result["guided"] == "atheris" and result["inputs"] > 0
    assert result["crashes"] == 0 and result["invariant_violations"] == 0
