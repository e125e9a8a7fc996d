"""The one error the metering engine raises: a command or configuration it refuses."""

from __future__ import annotations


class EngineError(Exception):
    """A rejected command or bad configuration: `field` names what was wrong, `problem` why.

    A rejected command changes nothing in the meter but its event or security log."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def check_int(field: str, value: object, low: int | None = None,
              high: int | None = None) -> int:
    """`value` as an int within [low, high], else an EngineError naming `field`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise EngineError(field, f"{value!r} is not an integer")
    if low is not None and value < low:
        raise EngineError(field, f"{value} is below {low}")
    if high is not None and value > high:
        raise EngineError(field, f"{value} is above {high}")
    return value
