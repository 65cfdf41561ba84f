"""`kvplan check`: an engine's start-up log beside kvplan's predictions, figure by figure."""

import click

from kvplan.cli.common import complete_model, emit, engine_options, output_options


def _number(value) -> str:
    """Ints with separators, floats to four decimals, nothing for None."""
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.4f}"


def _percent(value) -> str:
    return "" if value is None else f"{value:+.2f}%"


def _columns(runs: int):
    from kvplan.output import TableColumn

    text = {"numeric": False}
    run = [TableColumn("run", "run")] if runs > 1 else []
    return run + [
        TableColumn("figure", "figure", **text),
        TableColumn("unit", "unit", **text),
        TableColumn("logged", "logged", _number),
        TableColumn("predicted", "predicted", _number),
        TableColumn("diff", "diff", _number),
        TableColumn("diff %", "diff_pct", _percent),
        TableColumn("verdict", "verdict", **text),
        TableColumn("note", "note", **text),
    ]


@click.command()
@click.argument("logfile")
@click.option(
    "--model",
    "-m",
    default=None,
    shell_complete=complete_model,
    help="Model: shipped name, spec YAML or config.json (default: the log's model).",
)
@engine_options(
    default=None,
    help="Engine profile (default: the log's; vllm@0.24 picks a version's rules).",
)
@click.option(
    "--tp", default=None, help="Tensor parallel size (default: the log's, else 1)."
)
@click.option(
    "--dtype",
    "-d",
    default=None,
    help="Cache dtype (default: the log's, else the model's).",
)
@output_options
def check(logfile, model, engine, tp, dtype, engine_opt, fmt, output, force):
    """Reconcile LOGFILE (an engine start-up log, `-` for stdin) with kvplan's predictions."""
    from kvplan.logs import parse_runs, read_log
    from kvplan.output import check_writable
    from kvplan.reconcile import check_runs
    from kvplan.units import parse_positive_int

    if output:
        check_writable(output, force=force)
    tp_size = parse_positive_int(tp, field="tp") if tp is not None else None
    text, name = read_log(logfile)
    runs = parse_runs(text, source=name)
    rows, models = check_runs(
        runs,
        model=model,
        engine=engine,
        options=engine_opt,
        tp=tp_size,
        cache_dtype=dtype,
    )
    title = f"{name}: {runs[0].format} log, {', '.join(dict.fromkeys(models))}"
    if len(runs) > 1:
        title += f", {len(runs)} start-ups"
    emit(rows, _columns(len(runs)), fmt=fmt, output=output, force=force, title=title)
