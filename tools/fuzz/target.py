"""What a fuzzing campaign drives: a `Target` (codec, device, HAN) and the verdict on one
input, so one runner, minimiser and replayer serve every campaign.

A target generates seed inputs, mutates inputs, executes one, and checks the invariants
its result must satisfy. The runner owns everything else: the time budget, telling a
crash from an expected rejection, deduplication, minimisation and reproducer files.
"""

from __future__ import annotations

import importlib
import re
import traceback
from dataclasses import dataclass
from random import Random
from typing import Any, Callable, Hashable, Iterator, Protocol, Sequence

from tools.fuzz.budget import Hang, TimeBudget

OK, REJECTED, CRASH, VIOLATION = "ok", "rejected", "crash", "invariant_violation"


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken invariant: which one, and what was seen."""

    invariant: str
    detail: str
    where: str = ""  # a field path, so findings of one cause share a key


class Target(Protocol):
    """A system under test, as the campaign runner sees it."""

    name: str
    # Exceptions that are the target's documented way of refusing an input.
    rejections: tuple[type[BaseException], ...]

    def seeds(self, rng: Random) -> Iterator[bytes]:
        """Valid inputs to start from; the runner pulls them lazily, interleaved with
        mutants, so a slow generator does not hold up a short campaign."""

    def mutate(self, data: bytes, rng: Random, pool: Sequence[bytes]) -> bytes:
        """A new input derived from `data` (and maybe other inputs of `pool`)."""

    def execute(self, data: bytes) -> Any:
        """Run one input from the target's initial state (a stateful target restores a
        snapshot first), so that a saved input replays alone; raise one of `rejections`
        to refuse it."""

    def check(self, data: bytes, result: Any) -> Violation | None:
        """The first invariant the result breaks, or None; `result` is the error when
        the input was rejected (a rejection has invariants too: what it says)."""

    def feedback(self, data: bytes, result: Any) -> Hashable:
        """A cheap signature of the path the input took (a `rejections` error or a
        result): inputs with an unseen signature join the pool."""

    def reductions(self, data: bytes) -> Iterator[bytes]:
        """Smaller inputs the target's own structure suggests (an element dropped, a
        value emptied), largest cut first, for the minimiser to try before it cuts bytes;
        may yield nothing."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict on one input; `key` groups inputs that fail for the same cause."""

    status: str
    key: str = ""
    summary: str = ""
    traceback: str = ""
    feedback: Hashable = None

    @property
    def failed(self) -> bool:
        return self.status in (CRASH, VIOLATION)


def run_one(target: Target, data: bytes, budget: TimeBudget) -> Outcome:
    """Execute and check one input within the time budget; never raises (but for
    KeyboardInterrupt)."""
    try:
        with budget.limit():
            status = OK
            try:
                result = target.execute(data)
            except target.rejections as err:
                status, result = REJECTED, err
            violation = target.check(data, result)
            signature = target.feedback(data, result)
    except Hang:
        return Outcome(CRASH, "crash:hang",
                       f"no answer within the {budget.seconds:g} s budget per input")
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - anything else escaping is the finding
        return _crash(exc)
    if violation is not None:
        where = _INDEX.sub("[]", violation.where)
        return Outcome(VIOLATION, f"violation:{violation.invariant}:{where}",
                       f"{violation.invariant}: {violation.detail}")
    return Outcome(status, feedback=signature)


_INDEX = re.compile(r"\[\d+\]")


def _crash(exc: BaseException) -> Outcome:
    """A crash keyed by exception type and the innermost project frame that raised it."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/tools/fuzz/" not in f.filename] or frames
    where = f"{_short(ours[-1].filename)}:{ours[-1].lineno}" if ours else "?"
    summary = f"{type(exc).__name__}: {exc}"[:500]
    text = "".join(traceback.format_exception(exc))
    return Outcome(CRASH, f"crash:{type(exc).__name__}:{where}", f"{summary} (at {where})", text)


def _short(filename: str) -> str:
    """A path from the package root (gbcs/..., han/...) so keys are machine-independent."""
    for root in ("/gbcs/", "/han/", "/firmware/", "/boards/", "/tools/", "/tests/"):
        at = filename.rfind(root)
        if at >= 0:
            return filename[at + 1:]
    return filename.rsplit("/", 1)[-1]


# -- registry -------------------------------------------------------------------------------

# Campaign name -> module that registers it on import (device and han plug in here).
_MODULES = {"codec": "tools.fuzz.codec", "device": "tools.fuzz.device", "han": "tools.fuzz.han"}
_FACTORIES: dict[str, Callable[..., Target]] = {}


def register(name: str, factory: Callable[..., Target]) -> None:
    """Make `name` known to `make` (and so to `fuzz replay`)."""
    _FACTORIES[name] = factory


def make(name: str, **options: Any) -> Target:
    """A fresh target by campaign name, built with `options` (a codec's `corpus_dir`);
    LookupError if there is none of that name."""
    if name not in _FACTORIES and name in _MODULES:
        try:
            importlib.import_module(_MODULES[name])
        except ModuleNotFoundError as exc:
            if exc.name != _MODULES[name]:
                raise
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise LookupError(f"no fuzz target called {name!r} "
                          f"(known: {', '.join(sorted(_FACTORIES)) or 'none'})") from None
    return factory(**options)
