"""Shared test helpers: paths to the repo's own test data (tests read only files the repo holds)."""

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
CONFIGS = DATA / "configs"


@pytest.fixture
def configs() -> Path:
    return CONFIGS
