"""`kvplan capacity`: what fits on which GPUs; `kvplan gpus`: the GPU catalog."""

import click

from kvplan.cli.common import (
    complete_model,
    emit,
    engine_options,
    knob_name,
    list_option,
    note,
    output_options,
    profiles_with_options,
)


def _columns():
    from kvplan.output import TableColumn
    from kvplan.units import format_bytes, format_gib

    def maybe(show):
        return lambda v: "" if v is None else show(v)

    text = {"numeric": False}
    return [
        TableColumn("model", "model", **text),
        TableColumn("engine", "engine", **text),
        TableColumn("gpu", "gpu", **text),
        TableColumn("TPxPP", lambda r: f"{r['tp']}x{r['pp']}"),
        TableColumn("cache", "cache_dtype", **text),
        TableColumn("context", "request_tokens", lambda v: f"{v:,}"),
        TableColumn("batch", "batch"),
        TableColumn("params", "params", maybe(lambda v: f"{v / 1e9:,.2f}B")),
        TableColumn("weights", "weight_bytes_per_gpu", maybe(format_gib)),
        TableColumn("KV budget", "kv_budget_bytes_per_gpu", format_gib),
        TableColumn("KV/token", "kv_bytes_per_token_per_gpu", format_bytes),
        TableColumn("tokens", "cache_tokens", maybe(lambda v: f"{v:,}")),
        TableColumn("concurrency", "max_concurrency", maybe(lambda v: f"{v:,.2f}x")),
        TableColumn("max context", "max_context", maybe(lambda v: f"{v:,}")),
        TableColumn("fits", "fits", lambda v: "yes" if v else "NO", numeric=False),
        TableColumn("headroom", "headroom_bytes_per_gpu", format_gib),
        TableColumn("TPOT floor", "tpot_floor_ms", maybe(lambda v: f"{v:,.2f} ms")),
        TableColumn("TTFT floor", "ttft_floor_ms", maybe(lambda v: f"{v:,.1f} ms")),
    ]


def _size(value, field, *, allow_zero=False):
    """A size option; one an engine printed rounded (3.81GiB) is floored to bytes, with a note."""
    from kvplan.units import parse_bytes_rounded

    if value is None:
        return None
    size, rounded = parse_bytes_rounded(value, field=field, allow_zero=allow_zero)
    if rounded:
        note(
            f"--{field.replace('_', '-')} {value} is not a whole number of bytes; "
            f"using {size:,} B"
        )
    return size


def _options(**given):
    """CapacityOptions from the command's options (each parsed through kvplan.units)."""
    from kvplan.capacity import CapacityOptions
    from kvplan.reservation import IdealReservation
    from kvplan.units import (
        parse_count,
        parse_fraction,
        parse_positive_int,
        parse_tokens,
    )
    from kvplan.weights import weight_format

    block_size = given["block_size"]
    reservation = IdealReservation(
        block_size=parse_positive_int(block_size, field="block_size")
        if block_size is not None
        else IdealReservation().block_size,
        shared_prefix_tokens=parse_tokens(
            given["shared_prefix"], field="shared_prefix", allow_zero=True
        ),
    )
    return CapacityOptions(
        memory_fraction=parse_fraction(
            given["memory_fraction"], field="memory_fraction"
        ),
        reserve_bytes=_size(given["reserve"], "reserve", allow_zero=True),
        max_batched_tokens=parse_tokens(
            given["max_batched_tokens"], field="max_batched_tokens"
        ),
        kv_budget_bytes=_size(given["kv_budget"], "kv_budget"),
        weight_dtype=weight_format(given["weight_dtype"]).name,
        weight_bytes=_size(given["weights"], "weights"),
        params=parse_count(given["params"], field="params")
        if given["params"]
        else None,
        output_tokens=parse_tokens(
            given["output_tokens"], field="output_tokens", allow_zero=True
        ),
        mla_mode=given["mla"],
        state_dtype=given["state_dtype"],
        reservation=reservation,
    )


@click.command()
@click.argument("models", nargs=-1, required=True, shell_complete=complete_model)
@list_option(
    "--gpu", "-g", default="", help="GPUs from `kvplan gpus`: h100, h200, mi300x."
)
@click.option(
    "--gpu-memory", default=None, help="Memory of any other GPU: 80GiB, 24GB."
)
@list_option("--tp", default="1", help="Tensor-parallel sizes.")
@list_option("--pp", default="1", help="Pipeline-parallel sizes.")
@list_option("--dtype", "-d", default="bf16", help="Cache formats, as in estimate.")
@list_option("--context", "-c", default="4k", help="Prompt tokens: 4k, 32k, 128k.")
@list_option("--batch", "-b", default="1", help="Concurrent requests.")
@click.option(
    "--output-tokens",
    default="0",
    show_default=True,
    help="Tokens generated per request.",
)
@click.option(
    "--weight-dtype",
    default="bf16",
    show_default=True,
    help="Weight dtype: bf16, fp16, fp8, int8, int4, mxfp4 (docs/capacity.md).",
)
@click.option(
    "--weights", default=None, help="All weight bytes instead of counting: 16GiB."
)
@click.option(
    "--params", default=None, help="Parameter count instead of counting: 8.03B."
)
@click.option(
    "--memory-fraction",
    default="0.9",
    show_default=True,
    help="Share of GPU memory the engine may use.",
)
@click.option(
    "--reserve",
    default=None,
    help="Activations and runtime per GPU (default: 1 GiB + batched tokens x activation bytes).",
)
@click.option(
    "--max-batched-tokens",
    default="8192",
    show_default=True,
    help="Tokens of one forward pass (sizes the default reserve).",
)
@click.option(
    "--kv-budget",
    default=None,
    help="KV cache bytes per GPU as an engine logged it: 37.5GiB.",
)
@click.option(
    "--block-size",
    default=None,
    help="Tokens per KV block (default: 16, or the --engine's own block size).",
)
@click.option(
    "--shared-prefix",
    default="0",
    show_default=True,
    help="Prompt prefix shared by all requests: 2k.",
)
@click.option(
    "--mla",
    type=click.Choice(["latent", "expanded"]),
    default="latent",
    show_default=True,
    help="MLA layers: the latent, or K and V per head.",
)
@click.option("--state-dtype", default=None, help="dtype of recurrent state layers.")
@click.option(
    "--plot",
    "plot_path",
    default=None,
    help="Draw cache memory against context to this .png, .svg or .pdf (plot extra).",
)
@engine_options(
    default="ideal",
    help="Whose reservation rules: ideal (whole blocks of what the layout needs), vllm, "
    "vllm-v0, sglang, trtllm, llamacpp, transformers; several as ideal,vllm.",
)
@output_options
def capacity(
    models,
    gpu,
    gpu_memory,
    tp,
    pp,
    dtype,
    context,
    batch,
    plot_path,
    engine,
    engine_opt,
    fmt,
    output,
    force,
    **given,
):
    """How many requests of a context fit on GPUs under TP/PP, and the longest context."""
    from kvplan.capacity_grid import capacity_result
    from kvplan.output import check_writable
    from kvplan.units import (
        parse_positive_int,
        parse_tokens,
        split_list,
        split_numbers,
    )

    if output:
        check_writable(output, force=force)
    if plot_path:
        _check_plot(plot_path, output, force)
    options = _options(**given)
    reservations = _reservations(engine, engine_opt, options, given["block_size"])
    _note_gb_budget(given["kv_budget"], reservations)
    result = capacity_result(
        list(models),
        gpus=split_list(gpu, field="gpu"),
        gpu_memory=_size(gpu_memory, "gpu_memory"),
        tp=split_list(tp, field="tp"),
        pp=split_list(pp, field="pp"),
        cache_dtype=split_list(dtype, field="dtype"),
        context=split_numbers(context, field="context", parse=parse_tokens),
        batch=split_numbers(batch, field="batch", parse=parse_positive_int),
        options=options,
        reservations=reservations,
    )
    if plot_path:
        _plot(result, plot_path)
    title = "Per GPU: weights, KV budget, KV bytes per token, tokens the cache holds, headroom"
    emit(result.rows, _columns(), fmt=fmt, output=output, force=force, title=title)


def _reservations(engine, engine_opt, options, block_size):
    """The ideal reservation and each named engine's, with capacity's shared settings."""
    from kvplan.engines.reservation import (
        FRACTION_KNOBS,
        EngineReservation,
        with_capacity_settings,
    )
    from kvplan.errors import KvplanError
    from kvplan.estimate import engine_profiles

    for item in engine_opt:
        if knob_name(item) in FRACTION_KNOBS:
            raise KvplanError(
                f"{item}: capacity sizes the budget itself; give --memory-fraction",
                field="engine_opt",
            )
    given_block = options.reservation.block_size if block_size is not None else None
    profiles = [
        p
        if p.name == "ideal"
        else with_capacity_settings(
            p, block_size=given_block, max_batched_tokens=options.max_batched_tokens
        )
        for p in engine_profiles(engine)
    ]
    return [
        options.reservation
        if p.name == "ideal"
        else EngineReservation(
            profile=p,
            shared_prefix_tokens=options.reservation.shared_prefix_tokens,
        )
        for p in profiles_with_options(profiles, engine_opt)
    ]


def _check_plot(path: str, output: str | None, force: bool) -> None:
    """Before any work: a .png/.svg/.pdf file path, writable, not the --output file, and
    matplotlib installed (the plot extra). Every error names `plot`."""
    from pathlib import Path

    from kvplan.errors import KvplanError, OutputError
    from kvplan.output import check_writable

    target = Path(path)
    if target.is_dir():
        raise OutputError(
            f"{path} is a folder; give a .png, .svg or .pdf file", field="plot"
        )
    if target.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise OutputError(
            f"{path}: expected a .png, .svg or .pdf file for the plot", field="plot"
        )
    if output and Path(output).resolve() == target.resolve():
        raise OutputError(
            f"{path} is also the --output file; give the plot its own file",
            field="plot",
        )
    try:
        check_writable(target, force=force)
    except OutputError as error:
        raise OutputError(error.args[0], field="plot") from None
    try:
        import matplotlib  # noqa: F401  (checked now, used after the rows are built)
    except ImportError:
        raise KvplanError(
            'drawing needs matplotlib: pip install "kvplan[plot]"', field="plot"
        ) from None


def _note_gb_budget(kv_budget: str | None, reservations) -> None:
    """A budget in GB (10^9) beside an engine whose logs say GB for GiB: show both readings."""
    import re

    from kvplan.units import parse_bytes_rounded

    if not kv_budget or not re.search(
        r"\dGB\s*$", str(kv_budget).strip(), re.IGNORECASE
    ):
        return
    names = [
        r.name
        for r in reservations
        if getattr(getattr(r, "profile", None), "prints_gib_as_gb", False)
    ]
    if not names:
        return
    number = str(kv_budget).strip()[:-2]
    decimal, _ = parse_bytes_rounded(f"{number}GB", field="kv_budget")
    binary, _ = parse_bytes_rounded(f"{number}GiB", field="kv_budget")
    note(
        f"--kv-budget {kv_budget} is read as {number} x 10^9 B = {decimal / 2**30:,.2f}"
        f" GiB; {', '.join(names)} prints 'GB' meaning GiB, so a figure copied from its"
        f" log is {number}GiB = {binary:,} B ({binary / 10**9:,.2f} GB): give it as"
        f" --kv-budget {number}GiB"
    )


def _plot(result, path) -> None:
    from kvplan.plot import capacity_plot

    written = capacity_plot(
        result.plans, context=result.contexts[0], batch=result.batches[0], path=path
    )
    click.echo(f"wrote the plot to {written}", err=True)


@click.command()
@output_options
def gpus(fmt, output, force):
    """List the GPU catalog: memory as stated and as the runtime sees it, bandwidth, FLOP/s."""
    from kvplan.gpus import CATALOG
    from kvplan.output import TableColumn, check_writable
    from kvplan.rows import Rows
    from kvplan.units import GIB

    if output:
        check_writable(output, force=force)
    rows = [
        {
            "name": g.name,
            "vendor": g.vendor,
            "memory_stated": g.memory_stated,
            "memory_bytes": g.memory_bytes,
            "visible_bytes": g.visible_bytes,
            "budget_basis": g.budget_basis,
            "bandwidth_bytes_per_s": g.bandwidth_bytes_per_s,
            "bf16_flops": g.bf16_flops,
            "fp8_flops": g.fp8_flops,
            "aliases": " ".join(g.aliases),
            "source": g.source,
            "visible_source": g.visible_source,
            "note": g.note,
        }
        for g in CATALOG
    ]

    def tera(v):
        return "" if v is None else f"{v / 1e12:,.1f}"

    text = {"numeric": False}
    columns = [
        TableColumn("name", "name", **text),
        TableColumn("memory (vendor)", "memory_stated", **text),
        TableColumn("bytes", "memory_bytes", lambda v: f"{v / GIB:,.2f} GiB"),
        TableColumn(
            "runtime sees",
            "visible_bytes",
            lambda v: "" if v is None else f"{v / GIB:,.2f} GiB",
        ),
        TableColumn("HBM TB/s", "bandwidth_bytes_per_s", lambda v: f"{v / 1e12:,.2f}"),
        TableColumn("BF16 TFLOP/s", "bf16_flops", tera),
        TableColumn("FP8 TFLOP/s", "fp8_flops", tera),
        TableColumn("aliases", "aliases", **text),
    ]
    emit(
        Rows.from_dicts(rows, list(rows[0])),
        columns,
        fmt=fmt,
        output=output,
        force=force,
    )
