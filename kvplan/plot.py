"""The capacity picture: cache memory per GPU against context, with the per-GPU KV budgets.

One curve per plan (model, engine, GPU, TP x PP, cache format): the bytes `batch` requests
hold on the busiest GPU as their length grows, block rounding and shared prefix included; one
horizontal line per distinct budget, labelled with its size and whose it is. Each curve has
its own colour (and, past the palette, its own line style); the legend under the axes names
the engine and cache dtype, and the model, GPU and parallelism where the plans differ in
them, with how many requests of the first context each allows. The title names the models
and GPUs. matplotlib is imported only here, with the Agg backend (no display needed).

The image is 1000 pixels wide; the axes sit at a fixed place (AXES_PX) and the figure grows
downwards with the legend's rows, so no entry runs off the image. The y axis runs from 0 to
twice the largest budget; the x axis to the longer of the context and the models'
max_positions.
"""

from pathlib import Path

from kvplan.capacity import Plan, stage_load
from kvplan.units import GIB, format_tokens

WIDTH_PX, DPI = 1000, 100
AXES_PX = (90, 60, 870, 420)  # left, top, width, height in pixels
BELOW_AXES_PX = 60  # tick labels and the x label
LEGEND_ROW_PX = 19
LEGEND_COLUMNS = 2
BUDGET_COLOR = "#d62728"
# matplotlib's tab10 without its red, which marks the budgets
CURVE_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
)  # fmt: skip
LINE_STYLES = ("-", "--", ":", "-.")


def _contexts(largest: int) -> list[int]:
    """Request lengths to draw: 1 to `largest`, denser where the curve bends."""
    return sorted({max(1, largest * i // 240) for i in range(241)})


def style(index: int) -> tuple[str, str]:
    """(colour, line style) of curve `index`: every curve differs from every other."""
    colors = len(CURVE_COLORS)
    return CURVE_COLORS[index % colors], LINE_STYLES[index // colors % len(LINE_STYLES)]


def _who(p: Plan) -> dict[str, str]:
    """What tells plans apart, part by part."""
    opts = p.options
    return {
        "model": p.spec.name,
        "gpu": p.gpu.name,
        "parallel": f"TP{opts.tp} PP{opts.pp}",
        "engine": opts.reservation.name,
        "cache": p.cache_dtype,
    }


def _varying(plans) -> list[str]:
    """Which of model, GPU and parallelism differ between the plans."""
    parts = [_who(p) for p in plans]
    return [k for k in ("model", "gpu", "parallel") if len({w[k] for w in parts}) > 1]


def labels(plans) -> list[str]:
    """Each plan's legend text: engine and cache always, model/GPU/TP where they differ."""
    varying = _varying(plans)
    return [
        " ".join([*(w[k] for k in varying), w["engine"], w["cache"]])
        for w in (_who(p) for p in plans)
    ]


def title(plans) -> str:
    """`KV cache per GPU: Llama-3.1-8B, Qwen3-8B on H100 SXM, L40S`."""
    models = ", ".join(dict.fromkeys(p.spec.name for p in plans))
    gpus = ", ".join(dict.fromkeys(p.gpu.name for p in plans))
    return f"KV cache per GPU against context: {models} on {gpus}"


def x_limit(plans, context: int) -> int:
    """The x axis: up to the longer of the context and the models' max_positions."""
    longest = max((p.spec.max_positions or 0) for p in plans)
    return max(context, longest) if longest else 2 * context


def figure_height_px(n_entries: int) -> int:
    """Pixels for the title, the axes, their labels and every legend row."""
    rows = -(-n_entries // LEGEND_COLUMNS)
    return AXES_PX[1] + AXES_PX[3] + BELOW_AXES_PX + rows * LEGEND_ROW_PX + 20


def _budgets(plans) -> dict[int, list[str]]:
    """Each distinct budget (bytes) and whose it is."""
    found: dict[int, list[str]] = {}
    varying = [k for k in _varying(plans) if k != "parallel"] or ["gpu"]
    for p in plans:
        budget = min(s.budget_bytes for s in p.stages)
        w = _who(p)
        who = " ".join([*(w[k] for k in varying), w["parallel"]])
        found.setdefault(budget, [])
        if who not in found[budget]:
            found[budget].append(who)
    return found


def capacity_plot(plans, *, context: int, batch: int, path: str | Path) -> Path:
    """Draw the plans to `path` (.png, .svg or .pdf), through a temporary file."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    largest = x_limit(plans, context)
    xs = _contexts(largest)
    budgets = _budgets(plans)
    height = figure_height_px(len(plans) + len(budgets))
    fig = plt.figure(figsize=(WIDTH_PX / DPI, height / DPI), dpi=DPI)
    left, top, width, tall = AXES_PX
    ax = fig.add_axes(
        (left / WIDTH_PX, 1 - (top + tall) / height, width / WIDTH_PX, tall / height)
    )
    for index, (p, text) in enumerate(zip(plans, labels(plans), strict=True)):
        color, line = style(index)
        request = context + p.options.output_tokens
        loads = [stage_load(p, s, request, batch) for s in p.stages]
        allowed = min(load.concurrency for load in loads)
        ys = [_stage_used(p, x, batch) for x in xs]
        label = f"{text}: {allowed:,.2f}x at {format_tokens(request)}"
        ax.plot(xs, ys, color=color, linestyle=line, linewidth=2, label=label)
    for index, (budget, whose) in enumerate(sorted(budgets.items())):
        line = LINE_STYLES[index % len(LINE_STYLES)]
        label = f"KV budget {budget / GIB:,.2f} GiB per GPU ({', '.join(whose)})"
        ax.axhline(budget / GIB, color=BUDGET_COLOR, linewidth=2, linestyle=line)
        ax.plot([], [], color=BUDGET_COLOR, linewidth=2, linestyle=line, label=label)
    ax.axvline(context, color="#7f7f7f", linewidth=1, linestyle=":")
    ax.set_xlim(0, largest)
    ax.set_ylim(0, 2 * max(budgets) / GIB)
    ax.set_xlabel("tokens per request")
    ax.set_ylabel(f"KV cache per GPU, GiB (batch {batch})")
    ax.set_title(title(plans), fontsize=10)
    legend_top = (AXES_PX[1] + AXES_PX[3] + BELOW_AXES_PX) / height
    fig.legend(
        loc="upper left",
        bbox_to_anchor=(left / WIDTH_PX, 1 - legend_top),
        ncol=LEGEND_COLUMNS,
        fontsize=8,
        frameon=False,
        handlelength=3,
    )
    return _save(fig, plt, Path(path))


def _save(fig, plt, target: Path) -> Path:
    suffix = target.suffix.lower() or ".png"
    temporary = target.with_name(f".{target.stem}.tmp{suffix}")
    try:
        fig.savefig(temporary, dpi=DPI, format=suffix[1:])
        temporary.replace(target)
    finally:
        plt.close(fig)
        temporary.unlink(missing_ok=True)
    return target


def _stage_used(p: Plan, tokens: int, batch: int) -> float:
    """GiB on the stage that bounds capacity at this length (the fullest relative to budget)."""
    loads = [stage_load(p, s, tokens, batch) for s in p.stages]
    fullest = max(loads, key=lambda load: load.used_bytes / load.stage.budget_bytes)
    return fullest.used_bytes / GIB
