"""Where the shared test vectors are: ../shared beside the repo, or $SMETSLAB_SHARED."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SMETSLAB_SHARED", ROOT.parent / "shared"))
RTDS = Path(os.environ.get("SMETSLAB_RTDS", SHARED / "vectors" / "rtds" / "RTDS-4.5.0"))
KEYSTORE = Path(os.environ.get("SMETSLAB_KEYSTORE", SHARED / "vectors" / "rtds" / "keystore"))
VECTORS = SHARED / "vectors"
REFERENCE = SHARED / "reference"


def need(path: Path) -> Path:
    """The path, or skip the test saying which shared folder is missing."""
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (set SMETSLAB_SHARED)")
    return path


@pytest.fixture
def duis_matrix() -> Path:
    """The DUIS request matrix every emulated DCC (and so every lab) loads."""
    return need(REFERENCE / "duis-request-matrix.json")


def rtds_files() -> list[Path]:
    return sorted(RTDS.glob("*/*.HEX")) if RTDS.exists() else []
