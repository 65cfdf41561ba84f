"""The capacity picture: cache memory per GPU against context, with the per-GPU KV budget.

One curve per plan (model, GPU, TP x PP, cache format): the bytes `batch` requests hold on the
busiest GPU as their length grows, block rounding and shared prefix included; a horizontal
line per distinct budget; the legend says how many requests of the first context each format
allows. matplotlib is imported only here, with the Agg backend (no display needed).

The axes sit at a fixed place in a 1000 x 600 pixel image and the y axis runs from 0 to twice
the largest budget, so the budget line of a single plan is the image's middle row.
"""

from pathlib import Path

from kvplan.capacity import Plan, stage_load
from kvplan.units import GIB, format_tokens

WIDTH_PX, HEIGHT_PX, DPI = 1000, 600, 100
AXES = (0.09, 0.1, 0.6, 0.8)  # left, bottom, width, height as fractions of the image
BUDGET_COLOR = "#d62728"
CURVE_COLORS = ("#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def _contexts(largest: int) -> list[int]:
    """Request lengths to draw: 1 to `largest`, denser where the curve bends."""
    return sorted({max(1, largest * i // 240) for i in range(241)})


def _label(p: Plan, many: bool) -> str:
    who = (
        f"{p.spec.name} {p.gpu.name} TP{p.options.tp}x PP{p.options.pp} "
        if many
        else ""
    )
    return f"{who}{p.cache_dtype}"


def capacity_plot(plans, *, context: int, batch: int, path: str | Path) -> Path:
    """Draw the plans to a PNG at `path` (written atomically by the caller's rules)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    many = (
        len({(p.spec.name, p.gpu.name, p.options.tp, p.options.pp) for p in plans}) > 1
    )
    largest = max(4 * context, 4096)
    xs = _contexts(largest)
    fig = plt.figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    ax = fig.add_axes(AXES)
    top = 2 * max(min(s.budget_bytes for s in p.stages) for p in plans) / GIB
    budgets = set()
    for index, p in enumerate(plans):
        color = CURVE_COLORS[index % len(CURVE_COLORS)]
        request = context + p.options.output_tokens
        loads = [stage_load(p, s, request, batch) for s in p.stages]
        allowed = min(load.concurrency for load in loads)
        label = f"{_label(p, many)}: {allowed:,.2f}x at {format_tokens(request)}"
        ys = [_stage_used(p, x, batch) for x in xs]
        ax.plot(xs, ys, color=color, linewidth=2, label=label)
        budget = min(s.budget_bytes for s in p.stages)
        if budget not in budgets:
            budgets.add(budget)
            ax.axhline(budget / GIB, color=BUDGET_COLOR, linewidth=2, linestyle="-")
    ax.plot([], [], color=BUDGET_COLOR, linewidth=2, label="KV budget per GPU")
    ax.axvline(context, color="#7f7f7f", linewidth=1, linestyle=":")
    ax.set_xlim(0, largest)
    ax.set_ylim(0, top)
    ax.set_xlabel("tokens per request")
    ax.set_ylabel(f"KV cache per GPU, GiB (batch {batch})")
    ax.set_title("KV cache against context, and the per-GPU budget")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    target = Path(path)
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
