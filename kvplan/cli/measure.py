"""`kvplan measure`: a real prefill and decode in PyTorch, beside kvplan's prediction.

torch is imported only inside this command's function, so `kvplan --help` and
`kvplan estimate` never load it. A progress bar goes to stderr; Ctrl-C stops after the rows
measured so far, which are still printed or written (exit code 130).
"""

import click

from kvplan.cli.common import (
    complete_model,
    emit,
    list_option,
    note,
    output_options,
)


def _ms(value) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _diff(value) -> str:
    return "-" if value is None else f"{value:.2e}"


def _columns(compare_recompute: bool):
    from kvplan.output import TableColumn
    from kvplan.units import format_bytes

    def size(value) -> str:
        return "-" if value is None else format_bytes(value)

    def pct(value) -> str:
        return "-" if value is None else f"{value:+.2f}%"

    text = {"numeric": False}
    columns = [
        TableColumn("model", "model", **text),
        TableColumn("cache", "cache_dtype", **text),
        TableColumn("context", "context", lambda v: f"{v:,}"),
        TableColumn("batch", "batch"),
        TableColumn("layers", "layers"),
        TableColumn("predicted", "predicted_kv_bytes", size),
        TableColumn("measured", "measured_kv_bytes", size),
        TableColumn("error", "error_pct", pct),
        TableColumn("TTFT ms", "ttft_ms", _ms),
        TableColumn("TPOT ms", "tpot_ms", _ms),
        TableColumn("tok/s", "decode_tokens_per_s", _ms),
        TableColumn("max |dlogit|", "max_abs_logit_diff", _diff),
        TableColumn("vs bf16", "quant_logit_diff_vs_bf16", _diff),
    ]
    if compare_recompute:
        columns += [
            TableColumn("recompute ms", "recompute_step_ms", _ms),
            TableColumn("x slower", "recompute_ratio", _ms),
        ]
    return [*columns, TableColumn("status", "status", **text)]


def _progress():
    """A rich progress bar on stderr (hidden when stderr is not a terminal)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def _run(plan) -> tuple[list[dict], bool]:
    """Every row of the plan, or those done before Ctrl-C; and whether it was interrupted."""
    from kvplan.measure.grid import iter_measure

    rows: list[dict] = []
    with _progress() as progress:
        task = progress.add_task("measuring", total=plan.size)
        try:
            for row in iter_measure(plan):
                rows.append(row)
                label = f"{row['model']} {row['cache_dtype']} {row['context']:,}x{row['batch']}"
                progress.update(task, advance=1, description=label)
        except KeyboardInterrupt:
            return rows, True
    return rows, False


@click.command()
@click.argument("models", nargs=-1, required=True, shell_complete=complete_model)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where to run; cuda without a CUDA device is an error, never a fallback.",
)
@list_option(
    "--dtype",
    "-d",
    default="bf16",
    help="Cache format: bf16, fp16, fp32, fp8, fp8_e5m2, int8.",
)
@list_option("--context", "-c", default="1k", help="Prompt tokens: 1k, 8k (k=1024).")
@list_option("--batch", "-b", default="1", help="Concurrent sequences.")
@click.option(
    "--decode-tokens",
    default=64,
    show_default=True,
    help="Decode steps after the prefill.",
)
@click.option("--layers", type=int, default=None, help="Run only the first N layers.")
@click.option(
    "--small", is_flag=True, help="Shrink hidden, MLP and vocabulary for a quick check."
)
@click.option(
    "--compare-recompute",
    is_flag=True,
    help="Also decode without the cache, re-running the prefix each step (short runs).",
)
@click.option(
    "--seed", default=0, show_default=True, help="Seed of weights and tokens."
)
@output_options
def measure(
    models,
    device,
    dtype,
    context,
    batch,
    decode_tokens,
    layers,
    small,
    compare_recompute,
    seed,
    fmt,
    output,
    force,
):
    """Run MODELS' attention geometry in PyTorch: measured cache bytes and times vs predicted."""
    _require_torch()
    from kvplan.measure.grid import COLUMNS, plan_measure
    from kvplan.output import check_writable
    from kvplan.rows import Rows
    from kvplan.units import split_list

    if output:
        check_writable(output, force=force)
    plan = plan_measure(
        list(models),
        device=device,
        cache_dtype=split_list(dtype, field="dtype"),
        context=split_list(context, field="context"),
        batch=split_list(batch, field="batch"),
        decode_tokens=decode_tokens,
        layers=layers,
        small=small,
        compare_recompute=compare_recompute,
        seed=seed,
    )
    rows, interrupted = _run(plan)
    notes = list(plan.notes)
    if interrupted and not rows:
        note("interrupted before the first point was measured: nothing written")
        raise click.exceptions.Abort()
    if interrupted:
        notes.append(f"interrupted: {len(rows)} of {plan.size} points measured")
    table = Rows.from_dicts(rows, COLUMNS, notes)
    emit(table, _columns(compare_recompute), fmt=fmt, output=output, force=force)
    if interrupted:
        raise click.exceptions.Abort()


def _require_torch() -> None:
    """kvplan measure runs PyTorch; a sizing-only install gets one line saying how to add it."""
    import importlib.util

    from kvplan.errors import KvplanError

    if importlib.util.find_spec("torch") is None:
        raise KvplanError(
            "kvplan measure runs PyTorch, which is not installed: "
            'pip install torch==2.13.0 (or pip install "kvplan[measure]")',
            field="measure",
        )
