"""Turning command-line INPUT arguments into message bytes: hex, base64, a file (hex
text or raw bytes), or '-' for one message per line on standard input."""

from __future__ import annotations

import base64
import binascii
import sys
from pathlib import Path
from typing import Iterator

GBCS_FIRST_BYTES = (0xDD, 0xDF)


class InputError(ValueError):
    """An input that is neither hex, base64 nor a readable file."""


def parse_text(text: str) -> bytes:
    """Hex (spaces allowed) or base64 text as bytes."""
    compact = "".join(text.split())
    if not compact:
        raise InputError("empty input")
    try:
        return bytes.fromhex(compact)
    except ValueError:
        pass
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"neither hex nor base64: {compact[:40]!r}") from None
    if not data:
        raise InputError("empty input")
    return data


def read_inputs(args: list[str]) -> Iterator[tuple[str, bytes | InputError]]:
    """(label, bytes or the error) for every input; a bad one never stops the rest."""
    for arg in args:
        if arg == "-":
            for n, line in enumerate(sys.stdin, 1):
                if line.strip():
                    yield f"stdin:{n}", _try(parse_text, line)
            continue
        path = Path(arg)
        if _is_file(path):
            try:
                raw = path.read_bytes()
            except OSError as exc:
                yield arg, InputError(str(exc))
                continue
            if raw[:1] and raw[0] in GBCS_FIRST_BYTES:
                yield arg, raw
            else:
                yield arg, _try(parse_text, raw.decode("ascii", "replace"))
        else:
            yield arg[:40], _try(parse_text, arg)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a long hex argument is no valid file name
        return False


def _try(fn, value) -> bytes | InputError:
    try:
        return fn(value)
    except InputError as exc:
        return exc
