"""The Python API example in docs/debugger.md is a test: it is run here as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("duis_matrix")   # the example runs a lab

DOC = Path(__file__).resolve().parent.parent / "docs" / "debugger.md"


def test_the_documented_example_runs(tmp_path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    namespace: dict = {}
    exec(compile(blocks[0], f"{DOC}:python", "exec"), namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_")]
    assert tests
    for test in tests:
        test(tmp_path)
