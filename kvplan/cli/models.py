"""`kvplan models` lists the shipped specs; `kvplan spec` shows how a model was read."""

import click

from kvplan.cli.common import complete_model, emit, output_option, output_options


@click.command()
@output_options
def models(fmt, output, force):
    """List the shipped model specs with their layouts and bytes per token at bf16."""
    from kvplan.catalog import load_shipped, shipped_names
    from kvplan.output import TableColumn
    from kvplan.rows import Rows
    from kvplan.sizing import model_cost
    from kvplan.units import format_bytes

    rows = []
    for name in shipped_names():
        spec = load_shipped(name)
        cost = model_cost(spec, "bf16")
        latent = next((x for x in spec.layers if x.kind == "mla"), None)
        rows.append(
            {
                "name": name,
                "model": spec.name,
                "source": spec.source,
                "n_layers": spec.n_layers,
                "n_heads": spec.n_heads,
                "n_kv_heads": spec.n_kv_heads,
                "head_dim": spec.head_dim,
                "mla_latent_dim": latent.kv_lora_rank + latent.rope_dim
                if latent
                else 0,
                "layout": spec.layout,
                "kv_bytes_per_token_bf16": cost.bytes_per_token,
                "state_bytes_per_sequence_bf16": cost.state_bytes,
            }
        )
    names = list(rows[0]) if rows else []
    text = {"numeric": False}
    columns = [
        TableColumn("name", "name", **text),
        TableColumn("layers", "n_layers"),
        TableColumn("heads", "n_heads"),
        # an MLA cache is one latent per token, not KV heads x head dim
        TableColumn(
            "KV heads", lambda r: "mla" if r["mla_latent_dim"] else r["n_kv_heads"]
        ),
        TableColumn("head dim", lambda r: r["mla_latent_dim"] or r["head_dim"]),
        TableColumn("bf16 per token", "kv_bytes_per_token_bf16", format_bytes),
        TableColumn("layout", "layout", **text),
    ]
    emit(Rows.from_dicts(rows, names), columns, fmt=fmt, output=output, force=force)


@click.command()
@click.argument("model", shell_complete=complete_model)
@click.option(
    "--name", default=None, help="Name to give the spec (default: the model's)."
)
@click.option(
    "--source", default=None, help="Where it was read from, e.g. the HF repo id."
)
@output_option
@click.option("--force", is_flag=True, help="Overwrite the --output file if it exists.")
def spec(model, name, source, output, force):
    """Print MODEL's spec as YAML: what kvplan read, the defaults it took, its readings."""
    from dataclasses import replace

    from kvplan.catalog import load_spec
    from kvplan.output import write_atomic
    from kvplan.specyaml import spec_to_yaml

    loaded = load_spec(model)
    loaded = replace(loaded, name=name or loaded.name, source=source or loaded.source)
    text = spec_to_yaml(loaded)
    if output:
        write_atomic(output, text, force=force)
    else:
        click.echo(text, nl=False)
