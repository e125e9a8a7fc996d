"""Coverage guidance by atheris (libFuzzer for Python), when it is installed.

libFuzzer owns the process it runs in (its own loop, and it exits when done), so a guided
campaign runs in a child, `python -m tools.fuzz.guided TARGET ...`, which instruments
`gbcs` before importing it, hands libFuzzer the target's seeds, mutates with the target's
structure-aware mutators half of the time and libFuzzer's own the other half, judges every
input as the plain runner does, and prints the same summary (JSON) when its time is up.
Atheris is not a dependency: without it `run` raises GuidedError.

Not deterministic the way the plain runner is: libFuzzer schedules by coverage and time.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import pkgutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from random import Random

CHILD_SLACK = 300.0  # seconds beyond the campaign for seeds, minimising and exit


class GuidedError(RuntimeError):
    """A guided campaign that could not run (atheris missing, the child failed)."""


def available() -> bool:
    return importlib.util.find_spec("atheris") is not None


def run(target: str, seconds: float, seed: int, corpus: Path | None,
        findings_dir: Path, options: dict | None = None) -> dict:
    """Run a guided campaign in a child process; its summary. `options` (JSON values)
    go to the target's constructor, as `corpus` does."""
    if not available():
        raise GuidedError("coverage guidance needs atheris: pip install atheris")
    command = [sys.executable, "-m", "tools.fuzz.guided", target, "--seconds", str(seconds),
               "--seed", str(seed), "--findings", str(findings_dir)]
    if corpus is not None:
        command += ["--corpus", str(corpus)]
    if options:
        command += ["--options", json.dumps(options)]
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=seconds + CHILD_SLACK)
    except subprocess.TimeoutExpired:
        raise GuidedError(f"the atheris child did not finish within "
                          f"{seconds + CHILD_SLACK:g} s") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = "\n".join(done.stderr.splitlines()[-15:])
        raise GuidedError(f"the atheris child exited with {done.returncode} and no "
                          f"summary:\n{tail}")
    return json.loads(lines[-1])


def _instrumented_codec() -> None:
    """Import every gbcs module under atheris' coverage instrumentation."""
    import atheris

    with atheris.instrument_imports(include=["gbcs"]):
        import gbcs

        for module in pkgutil.iter_modules(gbcs.__path__):
            importlib.import_module(f"gbcs.{module.name}")


def child(argv: list[str]) -> None:
    """The child's main: never returns (libFuzzer exits, or we do when time is up)."""
    parser = argparse.ArgumentParser(prog="python -m tools.fuzz.guided")
    parser.add_argument("target")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--findings", type=Path, required=True)
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--options", type=json.loads, default={})
    args = parser.parse_args(argv)

    import atheris

    _instrumented_codec()
    from tools.fuzz.budget import TimeBudget
    from tools.fuzz.campaign import MAX_INPUT, Tally
    from tools.fuzz.target import make

    options = dict(args.options)
    if args.corpus is not None:
        options["corpus_dir"] = args.corpus
    target = make(args.target, **options)
    seeds = list(target.seeds(Random(Random(args.seed).getrandbits(64))))
    # libFuzzer has its own SIGALRM timeout (-timeout); ours only checks after the fact.
    budget = TimeBudget(2.0)
    tally = Tally(target, args.seed, args.findings, budget)
    tally.seeds = len(seeds)
    seed_dir = tempfile.mkdtemp(prefix="smetslab-fuzz-")
    for i, data in enumerate(seeds):
        Path(seed_dir, f"seed-{i:05d}").write_bytes(data)
    start = time.perf_counter()
    deadline = start + args.seconds

    def test_one_input(data: bytes) -> None:
        tally.run(data)
        if time.perf_counter() >= deadline:
            summary = tally.summary(time.perf_counter() - start, pool=None, paths=None,
                                    guided="atheris")
            print(json.dumps(summary), flush=True)
            for path in Path(seed_dir).iterdir():
                path.unlink()
            os.rmdir(seed_dir)
            os._exit(0)

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = Random(seed)
        if rng.random() < 0.5:
            try:
                return target.mutate(data, rng, seeds)[:max_size]
            except Exception:  # noqa: BLE001 - a libFuzzer corpus entry may crash decode
                pass
        return atheris.Mutate(data, max_size)

    libfuzzer_seed = args.seed % (1 << 31) or 1  # libFuzzer takes 0 as "pick one"
    atheris.Setup([sys.argv[0], f"-seed={libfuzzer_seed}", "-timeout=10",
                   f"-max_len={MAX_INPUT}", "-rss_limit_mb=4096", "-print_final_stats=0",
                   seed_dir], test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    child(sys.argv[1:])
