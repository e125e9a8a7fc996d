"""The debugger's breakpoints: what each watches, its optional condition, and when it
hits. They are checked after every simulator event:

- `message CODE|USECASE`: a GBCS message of that use case (e.g. ECS03) or message code
  (e.g. 0x0027) crossed the WAN or the HAN during the event;
- `alert CODE`: the DCC delivered an alert with that code (hex, e.g. 8F0F) to a User;
- `watch EXPR`: the value of EXPR changed;
- `event NAME`: the event was NAME (a simulator event name, e.g. `esme.tick`, `gsme
  wake`; `*` and `?` match as in file names).

With `if CONDITION` (see `state.parse_condition`) a breakpoint hits only when the
condition holds after the event.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from boards.simulator import TraceEntry
from tools.debug import state
from tools.debug.state import ExpressionError
from tools.lab.premises import Lab

KINDS = ("message", "alert", "watch", "event")
USAGE = ("break message CODE|USECASE | break alert CODE | break watch EXPR | "
         "break event NAME  [if CONDITION]; break list; delete N")


@dataclass
class Breakpoint:
    """One breakpoint (see the module doc); `spec` is how it was set."""

    number: int
    kind: str
    arg: str
    condition: str = ""
    last: str = ""              # watch: the value when last checked
    seen: list[str] = field(default_factory=list)   # message, alert: what crossed

    def __str__(self) -> str:
        return f"{self.number}: {self.spec}"

    @property
    def spec(self) -> str:
        return f"{self.kind} {self.arg}" + (f" if {self.condition}" if self.condition else "")

    def to_json(self) -> dict:
        return {"number": self.number, "kind": self.kind, "arg": self.arg,
                "condition": self.condition}


def parse(number: int, words: list[str], lab: Lab) -> Breakpoint:
    """A new breakpoint from the words after `break`; ExpressionError when they are
    malformed, naming the part."""
    if len(words) < 2 or words[0] not in KINDS:
        raise ExpressionError(f"usage: {USAGE}")
    kind = words[0]
    rest = words[1:]
    condition = ""
    if "if" in rest:
        at = rest.index("if")
        condition = " ".join(rest[at + 1:])
        rest = rest[:at]
        state.holds(lab, state.parse_condition(condition))   # checks it evaluates
    if len(rest) != 1 and kind != "event":
        raise ExpressionError(f"break {kind}: expected one argument, got {rest!r} "
                              f"(usage: {USAGE})")
    if not rest:
        raise ExpressionError(f"break {kind}: missing its argument (usage: {USAGE})")
    arg = " ".join(rest)
    bp = Breakpoint(number, kind, arg, condition)
    if kind == "watch":
        bp.last = state.watch_text(lab, arg)
    elif kind == "alert":
        _alert_code(arg)
    elif kind == "message":
        _message_matcher(arg)
    return bp


def _alert_code(arg: str) -> int:
    try:
        code = int(arg, 16)
    except ValueError:
        code = -1
    if not 0 <= code <= 0xFFFF:
        raise ExpressionError(f"break alert {arg!r}: expected a hex alert code (e.g. 8F0F)")
    return code


def _message_matcher(arg: str) -> tuple[int | None, str]:
    """(message code, or None; the use case name upper-cased) a message breakpoint
    matches."""
    if arg.lower().startswith("0x"):
        try:
            return int(arg, 16), ""
        except ValueError:
            raise ExpressionError(f"break message {arg!r}: not a hex message code") \
                from None
    if not arg.replace("-", "").isalnum():
        raise ExpressionError(f"break message {arg!r}: expected a use case (e.g. ECS03) "
                              "or a message code (e.g. 0x0027)")
    return None, arg.upper()


def message_matches(bp: Breakpoint, use_case: str, message_code: int | None) -> bool:
    code, name = _message_matcher(bp.arg)
    return message_code == code if code is not None else use_case.upper() == name


def alert_matches(bp: Breakpoint, code: int) -> bool:
    return _alert_code(bp.arg) == code


def hit(bp: Breakpoint, lab: Lab, entry: TraceEntry) -> str | None:
    """The text of `bp`'s hit after `entry`, or None; resets what it had seen."""
    what = None
    if bp.kind == "watch":
        value = state.watch_text(lab, bp.arg)
        if value != bp.last:
            what = f"{bp.last} -> {value}"
            bp.last = value
    elif bp.kind == "event":
        if fnmatch.fnmatchcase(entry.name, bp.arg):
            what = entry.name
    elif bp.seen:
        what = ", ".join(dict.fromkeys(bp.seen))
        bp.seen.clear()
    if what is None:
        return None
    if bp.condition and not state.holds(lab, state.parse_condition(bp.condition)):
        return None
    return what
