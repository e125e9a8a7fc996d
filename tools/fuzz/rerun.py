"""`smetslab fuzz replay FILE`: re-run a saved reproducer against today's code (the
module is not called `replay`, which would shadow `tools.fuzz.replay`, the function)."""

from __future__ import annotations

from pathlib import Path

from tools.fuzz import report
from tools.fuzz.budget import TimeBudget
from tools.fuzz.target import make, run_one

REPLAY_BUDGET = 10.0  # seconds: a replay only has to tell a hang from a slow machine


def replay(path: Path | str) -> report.Finding | None:
    """The finding as it reproduces now (its current summary and traceback), or None
    when the input passes (the bug is fixed). FindingFileError for an unreadable file,
    LookupError for an unknown target."""
    saved = report.load(Path(path))
    target = make(saved.target)
    with TimeBudget(REPLAY_BUDGET) as guard:
        outcome = run_one(target, saved.input, guard)
    if not outcome.failed:
        return None
    return report.Finding(target=saved.target, kind=outcome.status, key=outcome.key,
                          summary=outcome.summary, input=saved.input,
                          original=saved.original, traceback=outcome.traceback,
                          seed=saved.seed, input_number=saved.input_number,
                          file=str(path))
