"""`smetslab debug`: the session's commands from a script (one per line, stopping at the
first that fails) or typed at a prompt (prompt_toolkit with completion and history when
installed, else `input()`)."""

from __future__ import annotations

import sys
from pathlib import Path

from tools.debug.session import COMMANDS, DebugError, Session

PROMPT = "(smetslab) "
QUIT = ("quit", "exit")


def run_script(script: Path, premises: Path | None = None,
               state_dir: Path | None = None) -> int:
    """Run every line of `script`; 0 when all succeed, 1 at the first unknown command
    or failed request (named with its line number), 2 when the session cannot start."""
    try:
        lines = script.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: --script {script}: {exc}", file=sys.stderr)
        return 2
    try:
        session = Session(premises, state_dir=state_dir)
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


def _reader():
    """A line reader: prompt_toolkit's session on a terminal when installed, else
    input()."""
    if not sys.stdin.isatty():
        return lambda: input(PROMPT)
    try:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import WordCompleter
    except ImportError:
        return lambda: input(PROMPT)
    prompt = PromptSession(completer=WordCompleter([*COMMANDS, *QUIT]))
    return lambda: prompt.prompt(PROMPT)


def interactive(premises: Path | None = None, state_dir: Path | None = None) -> int:
    """Read commands until `quit` or end of input; an error is printed, not fatal."""
    try:
        session = Session(premises, state_dir=state_dir)
    except DebugError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    read = _reader()
    try:
        while True:
            try:
                line = read()
            except (EOFError, KeyboardInterrupt):
                break
            if line.strip() in QUIT:
                break
            try:
                session.execute(line)
            except DebugError as exc:
                print(f"error: {exc}")
    finally:
        session.close()
    return 0
