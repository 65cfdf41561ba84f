"""Layer-group breakdowns: the `--by-layer` rows and the `--explain` formula with numbers in it."""

from kvplan.formats import get_format
from kvplan.rows import Rows
from kvplan.sizing import GroupCost, ModelCost, model_cost
from kvplan.spec import ModelSpec
from kvplan.units import format_gib


def _geometry(g: GroupCost) -> tuple[int, int, int]:
    """(KV heads, K row values, V row values) as stored: an MLA latent is 1 x latent x 0."""
    if not g.row_values:
        return 0, 0, 0
    has_v = len(g.row_values) >= 2 and g.rows_per_token[1] == g.rows_per_token[0] > 1
    has_v = has_v or (g.layer.kind != "mla" and len(g.row_values) == 2)
    return g.rows_per_token[0], g.row_values[0], g.row_values[1] if has_v else 0


def _group_row(g: GroupCost, context: int, batch: int) -> dict:
    per_sequence = g.sequence_bytes(context)
    layer = g.layer
    kv_heads, head_dim_k, head_dim_v = _geometry(g)
    return {
        "layers": g.count,
        "kind": layer.kind,
        "layer_type": layer.label,
        "kv_heads": kv_heads,
        "head_dim_k": head_dim_k,
        "head_dim_v": head_dim_v,
        "tokens_held": g.held(context) if g.bytes_per_token else 0,
        "compressed_entries": g.compressed_entries(context),
        "bytes_per_token_per_layer": g.bytes_per_token,
        "state_bytes_per_layer": g.state_bytes,
        "kv_bytes_per_sequence": per_sequence,
        "kv_bytes": batch * per_sequence + g.count * g.tensor_bytes,
    }


def by_layer_rows(specs, contexts, batches, dtypes, *, mla: str, state_dtype) -> Rows:
    """One row per (model, dtype, context, batch, layer group)."""
    from kvplan.estimate import BY_LAYER_COLUMNS, spec_notes

    rows, notes = [], []
    for spec in specs:
        notes += spec_notes(spec, dtypes)
        for dtype in dtypes:
            cost = model_cost(spec, dtype, mla_mode=mla, state_dtype=state_dtype)
            has_mla = any(g.layer.kind == "mla" for g in cost.groups)
            head = {
                "model": spec.name,
                "engine": "ideal",
                "engine_versions": "",
                "cache_dtype": get_format(dtype, model_dtype=spec.dtype).name,
                "mla_mode": mla if has_mla else "",
            }
            for context in contexts:
                for batch in batches:
                    for index, g in enumerate(cost.groups):
                        base = {
                            **head,
                            "context": context,
                            "batch": batch,
                            "group": index,
                        }
                        rows.append({**base, **_group_row(g, context, batch)})
    return Rows.from_dicts(rows, BY_LAYER_COLUMNS, notes)


def _tensor_terms(g: GroupCost, fmt) -> str:
    """The per-token factor of a group: `2 (K,V) x 8 KV heads x 128 head dim x 2 B` or rows."""
    layer = g.layer
    plain = fmt.group_overhead_bytes == 0 and fmt.value_bits % 8 == 0
    names = ("K", "V") if len(g.row_values) >= 2 and layer.head_dim_k else ("latent",)
    if plain and len(set(g.row_values[:2])) == 1 and len(g.row_values) == 2:
        return (
            f"2 (K,V) x {layer.n_kv_heads} KV heads x {g.row_values[0]} head dim"
            f" x {fmt.value_bits // 8} B"
        )
    if layer.kind == "mla" and len(g.rows_per_token) and g.rows_per_token[0] == 1:
        names = ("latent",)
    if layer.kind == "mla" and layer.index_head_dim:
        names = (*names[: len(g.row_values) - 1], "indexer key")
    parts = []
    for name, rows, values in zip(names, g.rows_per_token, g.row_values, strict=False):
        parts.append(f"{name} {rows} x ({values} values: {fmt.row_formula(values)})")
    return "(" + " + ".join(parts) + ")"


def _group_line(g: GroupCost, fmt, state_fmt_name: str, context: int) -> str:
    layer = g.layer
    if layer.kind == "shared":
        return f"{g.count} shared layers: 0 B (they read another layer's K and V)"
    if layer.kind == "state":
        return (
            f"{g.count} {layer.label} layers x ({layer.conv_values} conv + {layer.ssm_values} "
            f"state values) x {g.state_bytes // max(layer.conv_values + layer.ssm_values, 1)} B "
            f"({state_fmt_name}) = {g.sequence_bytes(context):,} B, whatever the context"
        )
    held = g.held(context)
    cap = f" (capped at {g.cap_tokens})" if g.cap_tokens and held < context else ""
    return (
        f"{g.count} {layer.label} layers x {_tensor_terms(g, fmt)} x {held} tokens{cap}"
        f" = {g.sequence_bytes(context):,} B"
    )


def explain_lines(
    spec: ModelSpec, dtype: str, context: int, batch: int, **options
) -> list[str]:
    """The formula for one estimate, one layer group to a line, with the model's numbers in it."""
    cost: ModelCost = model_cost(spec, dtype, **options)
    fmt = get_format(dtype, model_dtype=spec.dtype)
    state_name = options.get("state_dtype") or spec.state_dtype or spec.dtype
    lines = [
        f"{spec.name} ({spec.layout}), cache {fmt.name}, context {context}, batch {batch}:"
    ]
    lines += ["  " + _group_line(g, fmt, state_name, context) for g in cost.groups]
    per_sequence = cost.sequence_bytes(context)
    total = cost.total_bytes(context, batch)
    lines.append(f"  per sequence = {per_sequence:,} B")
    scales = ""
    if cost.fixed_bytes:
        scales = f" + {cost.fixed_bytes:,} B per-tensor scales ({fmt.tensor_scale_bytes} B each)"
    lines.append(
        f"  total = {batch} x {per_sequence:,} B{scales} = {total:,} B = {format_gib(total)}"
    )
    return lines
