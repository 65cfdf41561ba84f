"""The capacity plot, rendered for real and read back as pixels (no mocks)."""

import numpy as np
import pytest

from .test_cli_estimate import kvplan

pytest.importorskip("matplotlib")
from matplotlib.image import imread  # noqa: E402

from kvplan.capacity_grid import capacity_result  # noqa: E402
from kvplan.plot import AXES, BUDGET_COLOR, CURVE_COLORS, capacity_plot  # noqa: E402


def _rgb(hex_color: str) -> np.ndarray:
    return np.array([int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)])


def _columns_of(image: np.ndarray, rows: slice, color: str) -> np.ndarray:
    """Which pixel columns hold `color` (within a small tolerance) in the given rows."""
    close = np.abs(image[rows, :, :3] - _rgb(color)).max(axis=2) < 0.08
    return close.any(axis=0)


def test_the_budget_line_crosses_the_middle_of_the_axes(tmp_path):
    result = capacity_result(
        "llama-3.1-70b",
        gpus="h100",
        tp=4,
        cache_dtype=["fp8", "bf16"],
        context="32k",
        batch=8,
    )
    path = capacity_plot(result.plans, context=32768, batch=8, path=tmp_path / "c.png")
    image = imread(path)
    assert image.shape[:2] == (600, 1000)  # height x width in pixels
    # the y axis runs from 0 to twice the budget, so the budget sits halfway up the axes
    left, bottom, width, height = AXES
    middle = round(600 * (1 - (bottom + height / 2)))
    assert middle == 300
    axes_columns = slice(round(1000 * left) + 5, round(1000 * (left + width)) - 5)
    on_line = _columns_of(image, slice(middle - 2, middle + 3), BUDGET_COLOR)[
        axes_columns
    ]
    assert on_line.mean() > 0.9  # curves cross it at a point or two, nothing else
    away = _columns_of(image, slice(middle - 40, middle - 30), BUDGET_COLOR)[
        axes_columns
    ]
    assert away.mean() < 0.05
    # both formats drawn, each in its colour
    for color in CURVE_COLORS[:2]:
        assert _columns_of(image, slice(0, 600), color).sum() > 100


def test_cli_plot_writes_a_png(tmp_path):
    target = tmp_path / "capacity.png"
    result = kvplan(
        "capacity", "llama-3.1-8b", "--gpu", "l4", "-d", "bf16,fp8", "-c", "8k",
        "--plot", str(target),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote the plot" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["capacity.png"]  # no temporary left


def test_a_plot_file_of_another_type_is_refused_before_any_work(tmp_path):
    target = tmp_path / "capacity.jpg"
    result = kvplan("capacity", "llama-3.1-8b", "--gpu", "h100", "--plot", str(target))
    assert result.returncode == 2
    assert "expected a .png, .svg or .pdf file" in result.stderr
    assert not target.exists()
