"""The capacity plot, rendered for real and read back as pixels (no mocks)."""

import numpy as np
import pytest

from .test_cli_estimate import kvplan

pytest.importorskip("matplotlib")
from matplotlib.image import imread  # noqa: E402

from kvplan.capacity_grid import capacity_result  # noqa: E402
from kvplan.plot import (  # noqa: E402
    AXES_PX,
    BUDGET_COLOR,
    CURVE_COLORS,
    LINE_STYLES,
    WIDTH_PX,
    capacity_plot,
    figure_height_px,
    labels,
    style,
    title,
    x_limit,
)


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
    # 2 curves + 1 budget = 3 legend entries in 2 columns: 2 rows under the axes
    height = 60 + 420 + 60 + 2 * 19 + 20
    assert figure_height_px(3) == height
    assert image.shape[:2] == (height, WIDTH_PX)
    # the y axis runs from 0 to twice the budget, so the budget sits halfway up the axes
    left, top, width, tall = AXES_PX
    middle = top + tall // 2
    axes_columns = slice(left + 5, left + width - 5)
    on_line = _columns_of(image, slice(middle - 2, middle + 3), BUDGET_COLOR)
    assert on_line[axes_columns].mean() > 0.9  # curves cross it at a point or two
    away = _columns_of(image, slice(middle - 40, middle - 30), BUDGET_COLOR)
    assert away[axes_columns].mean() < 0.05
    # both formats drawn, each in its colour
    for color in CURVE_COLORS[:2]:
        assert _columns_of(image, slice(0, height), color).sum() > 100


def test_every_curve_has_its_own_colour_and_style():
    drawn = {style(i) for i in range(30)}
    assert len(drawn) == 30  # 9 colours x 4 line styles before any repeat
    assert style(9) == (CURVE_COLORS[0], LINE_STYLES[1])
    assert BUDGET_COLOR not in CURVE_COLORS


def test_legend_names_engine_and_dtype_and_what_differs():
    from kvplan.capacity import CapacityOptions
    from kvplan.engines import get_profile
    from kvplan.engines.reservation import EngineReservation
    from kvplan.reservation import IdealReservation

    result = capacity_result(
        ["llama-3.1-8b", "qwen3-8b"],
        gpus="h100",
        cache_dtype=["bf16", "fp8"],
        context="8k",
        options=CapacityOptions(weight_dtype="fp8"),
        reservations=[
            IdealReservation(),
            EngineReservation(profile=get_profile("vllm")),
        ],
    )
    names = labels(result.plans)
    assert names[0] == "Llama-3.1-8B ideal bf16"
    assert "Qwen3-8B vllm fp8" in names
    assert len(set(names)) == len(names) == 8
    assert title(result.plans) == (
        "KV cache per GPU against context: Llama-3.1-8B, Qwen3-8B on H100 SXM"
    )


def test_x_axis_runs_to_the_models_max_positions_not_past_it():
    plans = capacity_result("llama-3.1-8b", gpus="h100", context="128k").plans
    assert x_limit(plans, 131072) == 131072  # its max_positions, not 4 x 128k
    assert x_limit(plans, 8192) == 131072


def test_a_twelve_curve_grid_keeps_its_legend_inside_the_image(tmp_path):
    result = capacity_result(
        ["llama-3.1-8b", "qwen3-8b", "gpt-oss-20b"],
        gpus=["h100", "h200"],
        cache_dtype=["bf16", "fp8"],
        context="32k",
    )
    assert len(result.plans) == 12
    path = capacity_plot(result.plans, context=32768, batch=1, path=tmp_path / "g.png")
    image = imread(path)
    entries = 12 + len({min(s.budget_bytes for s in p.stages) for p in result.plans})
    assert image.shape[:2] == (figure_height_px(entries), WIDTH_PX)
    # the last legend row has ink, and the 10 pixels under it are blank
    rows = -(-entries // 2)
    last = AXES_PX[1] + AXES_PX[3] + 60 + (rows - 1) * 19
    ink = image[last : last + 19, :, :3].min(axis=2) < 0.5
    blank = image[-10:, :, :3].min(axis=2) < 0.9
    assert ink.any() and not blank.any()
    # no text is cut at the right edge
    assert not (image[:, -3:, :3].min(axis=2) < 0.5).any()


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
