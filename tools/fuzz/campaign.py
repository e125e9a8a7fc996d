"""The campaign runner shared by every target: seeds in, mutants out, every input run
under a time budget and judged, each new failure minimised and saved once.

Deterministic for a seed: which inputs are run depends only on the seed and on the
target's (deterministic) verdicts, never on timing, so the first N inputs of two runs
with one seed are the same; only how many fit in the time differs.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from random import Random
from typing import Iterator

from tools.fuzz import report
from tools.fuzz.budget import TimeBudget
from tools.fuzz.minimise import ddmin
from tools.fuzz.target import CRASH, REJECTED, VIOLATION, Outcome, Target, run_one

SEED_EVERY = 8  # one input in this many is a fresh seed, while seeds last
POOL_LIMIT = 20_000  # inputs kept to mutate; past it, new ones replace random old ones
MAX_INPUT = 1 << 16  # bytes; longer mutants are cut
DEFAULT_FINDINGS = Path("fuzz-findings")


class Tally:
    """What a campaign has seen: verdict counts, a digest of the inputs in order, and one
    minimised, saved finding per failure key."""

    def __init__(self, target: Target, seed: int, folder: Path, guard: TimeBudget,
                 minimise_seconds: float = 15.0) -> None:
        self.target, self.seed, self.folder, self.guard = target, seed, folder, guard
        self.minimise_seconds = minimise_seconds
        self.counts = {CRASH: 0, VIOLATION: 0, REJECTED: 0}
        self.findings: dict[str, report.Finding] = {}
        self.inputs = 0
        self.seeds = 0
        self._digest = hashlib.sha256()

    def run(self, data: bytes) -> Outcome:
        """Run, judge and count one input; a new kind of failure is minimised and saved."""
        self.inputs += 1
        self._digest.update(len(data).to_bytes(4, "big") + data)
        outcome = run_one(self.target, data, self.guard)
        if outcome.status in self.counts:
            self.counts[outcome.status] += 1
        if outcome.failed:
            self._record(outcome, data)
        return outcome

    def _record(self, outcome: Outcome, data: bytes) -> None:
        known = self.findings.get(outcome.key)
        if known is not None:
            known.count += 1  # saved with the final count by `summary`
            return
        smallest = minimise(self.target, data, outcome, self.guard, self.minimise_seconds)
        final = run_one(self.target, smallest, self.guard)
        finding = report.Finding(target=self.target.name, kind=outcome.status,
                                 key=outcome.key, summary=final.summary, input=smallest,
                                 original=data, traceback=final.traceback, seed=self.seed,
                                 input_number=self.inputs)
        self.findings[outcome.key] = finding
        report.save(finding, self.folder)

    def summary(self, elapsed: float, **extra: object) -> dict:
        """The summary `fuzz --json` prints; saves the findings' final counts."""
        for finding in self.findings.values():
            if finding.count > 1:
                report.save(finding, self.folder)
        return {
            "target": self.target.name,
            "seed": self.seed,
            "inputs": self.inputs,
            "crashes": self.counts[CRASH],
            "invariant_violations": self.counts[VIOLATION],
            "rejected": self.counts[REJECTED],
            "findings": [f.brief() for f in self.findings.values()],
            "inputs_per_second": round(self.inputs / elapsed, 1) if elapsed else 0.0,
            "seconds": round(elapsed, 3),
            "corpus": self.seeds,
            **extra,
            "digest": self._digest.hexdigest(),
        }


def run(target: Target, seconds: float, seed: int, *, max_inputs: int | None = None,
        findings_dir: Path | None = None, budget: float = 2.0,
        minimise_seconds: float = 15.0) -> dict:
    """Fuzz `target` for `seconds` (or until `max_inputs`); the summary `fuzz --json`
    prints. Findings are saved under `findings_dir` (default ./fuzz-findings)."""
    rng = Random(seed)
    seeds = target.seeds(Random(rng.getrandbits(64)))
    pool: list[bytes] = []
    seen_paths: set = set()
    start = time.perf_counter()
    deadline = start + seconds
    with TimeBudget(budget) as guard:
        tally = Tally(target, seed, findings_dir or DEFAULT_FINDINGS, guard, minimise_seconds)
        while (max_inputs is None or tally.inputs < max_inputs) and \
                (max_inputs is not None or time.perf_counter() < deadline):
            data, is_seed = None, False
            if seeds is not None and (not pool or tally.inputs % SEED_EVERY == 0):
                data = next(seeds, None)
                is_seed = data is not None
                tally.seeds += is_seed
                if data is None:
                    seeds = None
                    if not pool:
                        break  # nothing to start from
            if data is None:
                data = target.mutate(rng.choice(pool), rng, pool)[:MAX_INPUT]
            outcome = tally.run(data)
            if not outcome.failed and (is_seed or outcome.feedback not in seen_paths):
                seen_paths.add(outcome.feedback)
                _keep(pool, data, rng)
    return tally.summary(time.perf_counter() - start, pool=len(pool), paths=len(seen_paths))


def _keep(pool: list[bytes], data: bytes, rng: Random) -> None:
    if len(pool) < POOL_LIMIT:
        pool.append(data)
    else:
        pool[rng.randrange(POOL_LIMIT)] = data


def minimise(target: Target, data: bytes, outcome: Outcome, guard: TimeBudget,
             seconds: float = 15.0) -> bytes:
    """The smallest input found that fails with the same key as `outcome`: first by the
    target's structural reductions (byte cuts rarely survive length-prefixed formats),
    then by delta debugging on the bytes."""
    deadline = time.monotonic() + seconds

    def fails(candidate: bytes) -> bool:
        return run_one(target, candidate, guard).key == outcome.key

    reduced = True
    while reduced and time.monotonic() < deadline:
        reduced = False
        for candidate in _reductions(target, data, guard):
            if time.monotonic() >= deadline:
                break
            if len(candidate) < len(data) and fails(candidate):
                data, reduced = candidate, True
                break
    return ddmin(data, fails, seconds=max(0.5, deadline - time.monotonic()))


def _reductions(target: Target, data: bytes, guard: TimeBudget) -> Iterator[bytes]:
    """The target's reductions of a failing input, each made under the time budget:
    making them may run the very code that fails (then there are no more)."""
    candidates = target.reductions(data)
    while True:
        try:
            with guard.limit():
                candidate = next(candidates, None)
        except KeyboardInterrupt:
            raise
        except BaseException:  # noqa: BLE001 - the failure itself; bytes are cut instead
            return
        if candidate is None:
            return
        yield candidate
