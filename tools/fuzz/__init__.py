"""Fuzzing: campaigns that mutate inputs for a target (the codec now; devices and the HAN
plug in as further `Target`s), judge each against the target's invariants, and save every
failure as a minimal reproducer that `fuzz replay` re-runs.

`run_codec`, `replay` and `add_parser` are imported on first use, so that the atheris
runner can instrument the codec before anything imports it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"add_parser": "tools.fuzz.cli", "run_codec": "tools.fuzz.codec",
            "replay": "tools.fuzz.rerun"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tools.fuzz' has no attribute {name!r}")
