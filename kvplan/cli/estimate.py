"""`kvplan estimate`: KV-cache bytes for models x contexts x batches x cache dtypes."""

import click

from kvplan.cli.common import (
    complete_model,
    emit,
    engine_options,
    list_option,
    output_options,
    profiles_with_options,
)


def _columns(by_layer: bool, engines: bool = False):
    from kvplan.output import TableColumn
    from kvplan.units import format_bytes

    text = {"numeric": False}
    engine = [TableColumn("engine", "engine", **text)] if engines else []
    head = [
        TableColumn("model", "model", **text),
        *engine,
        TableColumn("cache", "cache_dtype", **text),
        TableColumn("context", "context", lambda v: f"{v:,}"),
        TableColumn("batch", "batch"),
    ]
    if by_layer:
        return head + [
            TableColumn("layers", "layers"),
            TableColumn("kind", "layer_type", **text),
            TableColumn("KV heads", "kv_heads"),
            TableColumn(
                "head dim K/V", lambda r: f"{r['head_dim_k']}/{r['head_dim_v']}"
            ),
            TableColumn("tokens held", "tokens_held", lambda v: f"{v:,}"),
            TableColumn(
                "per layer per token", "bytes_per_token_per_layer", format_bytes
            ),
            TableColumn("per sequence", "kv_bytes_per_sequence", format_bytes),
            TableColumn("total", "kv_bytes", format_bytes),
        ]
    return head + [
        TableColumn("per token", "kv_bytes_per_token", format_bytes),
        TableColumn("per extra token", "kv_bytes_per_extra_token", format_bytes),
        TableColumn("per sequence", "kv_bytes_per_sequence", format_bytes),
        TableColumn("total", "kv_bytes", format_bytes),
    ]


@click.command()
@click.argument("models", nargs=-1, required=True, shell_complete=complete_model)
@list_option(
    "--context", "-c", default="4k", help="Context tokens: 4096, 4k, 128k, 1M (k=1024)."
)
@list_option("--batch", "-b", default="1", help="Concurrent sequences.")
@list_option(
    "--dtype",
    "-d",
    default="bf16",
    help="Cache format: fp32, fp16, bf16, fp8, fp8_e5m2, int8, int4, q8_0, q4_0, auto.",
)
@click.option(
    "--mla",
    type=click.Choice(["latent", "expanded"]),
    default=None,
    help="MLA layers: the latent, or full K and V per head (default: as the engine stores them).",
)
@click.option(
    "--state-dtype",
    default=None,
    help="dtype of recurrent state layers (default: the model's dtype).",
)
@click.option("--by-layer", is_flag=True, help="One row per distinct layer group.")
@engine_options(
    default="ideal",
    help="Bytes engines reserve: ideal, vllm (vllm@0.24), vllm-v0, sglang, trtllm, "
    "llamacpp, transformers; several as ideal,vllm.",
)
@click.option(
    "--explain", is_flag=True, help="Print the formula with the model's numbers."
)
@output_options
def estimate(
    models,
    context,
    batch,
    dtype,
    mla,
    state_dtype,
    by_layer,
    engine,
    engine_opt,
    explain,
    fmt,
    output,
    force,
):
    """Exact KV-cache bytes for MODELS: shipped names, spec YAMLs or config.json paths."""
    from kvplan.catalog import load_spec
    from kvplan.estimate import engine_profiles
    from kvplan.estimate import estimate as run_estimate
    from kvplan.output import check_writable
    from kvplan.units import (
        parse_positive_int,
        parse_tokens,
        split_list,
        split_numbers,
    )

    if output:
        check_writable(output, force=force)
    profiles = profiles_with_options(engine_profiles(engine), engine_opt)
    contexts = split_numbers(context, field="context", parse=parse_tokens)
    batches = split_numbers(batch, field="batch", parse=parse_positive_int)
    dtypes = split_list(dtype, field="dtype")
    specs = [load_spec(m) for m in models]
    rows = run_estimate(
        specs,
        context=contexts,
        batch=batches,
        cache_dtype=dtypes,
        mla=mla,
        state_dtype=state_dtype,
        by_layer=by_layer,
        engine=profiles,
    )
    if explain:
        lines = _explain(
            specs, dtypes, contexts, batches[0], profiles, mla, state_dtype
        )
        click.echo("\n".join(lines), err=fmt in ("csv", "json") and not output)
    engines = [p.label for p in profiles if p.name != "ideal"]
    title = f"engine: {', '.join(engines)}" if engines else ""
    columns = _columns(by_layer, engines=bool(engines))
    emit(rows, columns, fmt=fmt, output=output, force=force, title=title)


def _explain(specs, dtypes, contexts, batch, profiles, mla, state_dtype) -> list[str]:
    """The layout's formula, then how each engine reserves the same request."""
    from kvplan.breakdown import explain_lines

    lines = []
    for spec in specs:
        for dtype in dtypes:
            for context in contexts:
                lines += explain_lines(
                    spec,
                    dtype,
                    context,
                    batch,
                    mla_mode=mla or "latent",
                    state_dtype=state_dtype,
                )
                for profile in profiles:
                    if profile.name == "ideal":
                        continue
                    mode = mla or profile.mla_mode
                    cost = profile.cost(
                        spec, dtype, mla_mode=mode, state_dtype=state_dtype
                    )
                    lines += profile.explain(cost, context)
    return lines
