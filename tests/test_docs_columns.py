"""docs/columns.md names every column each command writes, so the documented names stay true."""

import re
from pathlib import Path

import pytest

from kvplan.capacity_grid import COLUMNS as CAPACITY
from kvplan.estimate import BY_LAYER_COLUMNS, COLUMNS
from kvplan.reconcile import CHECK_COLUMNS

DOC = Path(__file__).resolve().parent.parent / "docs" / "columns.md"


def _documented(section: str) -> set[str]:
    """The backquoted names in one `## kvplan ...` section of docs/columns.md."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else len(text)]
    names = re.findall(r"`([^`]+)`", body)
    return {part.strip() for name in names for part in name.split(",")}


@pytest.mark.parametrize(
    "section, columns",
    [
        ("kvplan estimate", COLUMNS),
        ("kvplan estimate --by-layer", BY_LAYER_COLUMNS),
        ("kvplan capacity", CAPACITY),
        ("kvplan check", CHECK_COLUMNS),
    ],
)
def test_every_column_is_documented(section, columns):
    missing = [c for c in columns if c not in _documented(section)]
    assert missing == [], f"docs/columns.md '{section}' lacks {missing}"


def test_measure_columns_are_documented():
    pytest.importorskip("torch")
    from kvplan.measure.grid import COLUMNS as MEASURE

    missing = [c for c in MEASURE if c not in _documented("kvplan measure")]
    assert missing == []
