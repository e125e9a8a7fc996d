"""`smetslab debug`: the session's commands from a script (one per line, stopping at the
first that fails) or typed at a prompt (prompt_toolkit on a terminal: completion of
commands, breakpoint kinds, device fields and snapshot names, and a history kept
across sessions; `input()` otherwise)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from tools.debug import service, state
from tools.debug.breakpoints import KINDS
from tools.debug.session import COMMANDS, DebugError, Session

PROMPT = "(smetslab) "
QUIT = ("quit", "exit")
HISTORY = Path.home() / ".smetslab_debug_history"


def run_script(script: Path, premises: Path | None = None,
               state_dir: Path | None = None, seed: int = 0) -> int:
    """Run every line of `script`; 0 when all succeed, 1 at the first unknown command
    or failed request (named with its line number), 2 when the session cannot start."""
    try:
        lines = script.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: --script {script}: {exc}", file=sys.stderr)
        return 2
    try:
        session = Session(premises, state_dir=state_dir, seed=seed)
    except DebugError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        for number, line in enumerate(lines, 1):
            try:
                session.execute(line)
            except DebugError as exc:
                print(f"error: {script}:{number}: {exc}", file=sys.stderr)
                return 1
        return 0
    finally:
        session.close()


def completions(session: Session, words: list[str], partial: str) -> Iterable[str]:
    """What may follow `words` on a command line, starting with `partial`."""
    devices = [b.name for b in session.premises.boards]
    if not words:
        options: list[str] = [*COMMANDS, *QUIT]
    else:
        command = words[0]
        expressions = state.FIELDS + [f"{d}." for d in devices]
        by_command: dict[str, list[str]] = {
            "break": ([*KINDS, "list"] if len(words) == 1 else
                      expressions if words[1] == "watch" else
                      ["if"] if len(words) == 3 else expressions),
            "print": expressions, "delete": [str(n) for n in session.breakpoints],
            "restore": list(session.snapshots), "trace": ["on", "off"],
            "send": list(service.FRIENDLY) if len(words) == 1 else
            [f"{f}=" for f in service.FRIENDLY.get(words[1], service.FRIENDLY["1.6"]).fields],
            "power": devices if len(words) == 1 else ["on", "off"],
            "load": devices, "press": devices, "tamper": devices, "battery": devices,
        }
        options = by_command.get(command, [])
    return [o for o in options if o.startswith(partial)]


def _reader(session: Session) -> Callable[[], str]:
    """A line reader: prompt_toolkit's on a terminal, with completion and history;
    input() otherwise."""
    if not sys.stdin.isatty():
        return lambda: input(PROMPT)
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.history import FileHistory

    class _Completer(Completer):
        def get_completions(self, document, complete_event):
            text = document.text_before_cursor
            words = text.split()
            partial = "" if text.endswith(" ") or not words else words.pop()
            for option in completions(session, words, partial):
                yield Completion(option, start_position=-len(partial))

    try:
        history = FileHistory(str(HISTORY))
    except OSError:
        history = None
    prompt = PromptSession(completer=_Completer(), history=history)
    return lambda: prompt.prompt(PROMPT)


def interactive(premises: Path | None = None, state_dir: Path | None = None,
                seed: int = 0) -> int:
    """Read commands until `quit` or end of input; an error is printed, not fatal, and
    Ctrl-C stops a running command after the event in progress."""
    try:
        session = Session(premises, state_dir=state_dir, seed=seed)
    except DebugError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    read = _reader(session)
    print("type help for the commands, quit to leave")
    try:
        while True:
            try:
                line = read()
            except (EOFError, KeyboardInterrupt):
                break
            if line.strip() in QUIT:
                break
            previous = signal.signal(signal.SIGINT, lambda signum, frame: session.interrupt())
            try:
                session.execute(line)
            except DebugError as exc:
                print(f"error: {exc}")
            finally:
                signal.signal(signal.SIGINT, previous)
    finally:
        session.close()
    return 0
