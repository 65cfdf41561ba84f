"""Layer-group breakdowns: the `--by-layer` rows and the `--explain` formula with numbers in it."""

from kvplan.formats import get_format
from kvplan.rows import Rows
from kvplan.sizing import GroupCost, ModelCost, model_cost
from kvplan.spec import ModelSpec
from kvplan.units import format_bytes


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
    if plain and len(set(g.row_values[:2])) == 1 and len(g.row_values) == 2:
        return (
            f"2 (K,V) x {layer.n_kv_heads} KV heads x {g.row_values[0]} head dim"
            f" x {fmt.value_bits // 8} B"
        )
    parts = []
    for name, rows, values in zip(
        _tensor_names(g), g.rows_per_token, g.row_values, strict=True
    ):
        parts.append(f"{name} {rows} x ({values} values: {fmt.row_formula(values)})")
    return "(" + " + ".join(parts) + ")"


def _tensor_names(g: GroupCost) -> tuple[str, ...]:
    """What each per-token tensor of a group is: K, V, K=V, the latent, the indexer key."""
    layer = g.layer
    if layer.kv_shared:
        return ("K=V",)
    if layer.kind == "mla" and g.rows_per_token and g.rows_per_token[0] == 1:
        names: tuple[str, ...] = ("latent",)
    else:
        names = ("K", "V")
    if layer.kind == "mla" and layer.index_head_dim:
        names = (*names, "indexer key")
    return names[: len(g.row_values)]


def _bytes_each(fmt) -> str:
    bits = fmt.value_bits
    return f"{bits // 8} B" if bits % 8 == 0 else f"{bits / 8:g} B"


def _window_term(g: GroupCost, fmt, context: int) -> tuple[str, int] | None:
    """The tokens a layer holds: per-token tensors x tokens held."""
    if not g.bytes_per_token:
        return None
    held = g.held(context)
    cap = f" (capped at {g.cap_tokens})" if g.cap_tokens and held < context else ""
    per_token = _tensor_terms(g, fmt)
    if per_token.startswith("("):  # rows with scales or blocks: say what a token costs
        per_token = f"[{per_token} = {g.bytes_per_token:,} B]"
    return f"{per_token} x {held} tokens{cap}", g.bytes_per_token * held


def _compressed_term(g: GroupCost, fmt, context: int) -> tuple[str, int] | None:
    """DeepSeek-V4's compressed entries: one per compress_ratio tokens of the whole context."""
    if not g.compress_ratio:
        return None
    entries = g.compressed_entries(context)
    rows = " + ".join(
        f"({d} values: {fmt.row_formula(d)})" for d in g.layer.compressed_dims
    )
    return (
        f"compressed [{rows}] x {entries:,} entries (1 per {g.compress_ratio} tokens)",
        g.compressed_bytes * entries,
    )


def _state_term(g: GroupCost, conv_fmt, ssm_fmt) -> tuple[str, int] | None:
    """A recurrent state: conv values and SSM values, each at its own dtype."""
    layer = g.layer
    if not layer.conv_values + layer.ssm_values:
        return None
    parts, total = [], 0
    for name, values, fmt in (
        ("conv", layer.conv_values, conv_fmt),
        ("SSM", layer.ssm_values, ssm_fmt),
    ):
        if values:
            parts.append(f"{values:,} {name} values x {_bytes_each(fmt)} ({fmt.name})")
            total += values * fmt.row_bytes(1)
    return f"state: {' + '.join(parts)}, at any context", total


def _group_line(g: GroupCost, fmt, state_fmts, context: int) -> str:
    """One group's bytes per sequence, term by term; the terms add up to the line's total."""
    label = f"{g.count} {g.layer.label} layers"
    terms = [
        term
        for term in (
            _window_term(g, fmt, context),
            _compressed_term(g, fmt, context),
            _state_term(g, *state_fmts),
        )
        if term is not None
    ]
    total = g.sequence_bytes(context)
    if not terms:
        why = (
            "they read another layer's K and V"
            if g.layer.kind == "shared"
            else "no cache"
        )
        return f"{label} hold nothing ({why}) = 0 B"
    if len(terms) == 1 and g.bytes_per_token:
        return f"{label} x {terms[0][0]} = {total:,} B"
    shown = "; ".join(f"{text} = {n_bytes:,} B" for text, n_bytes in terms)
    return f"{label} x ({shown}) = {total:,} B"


def explain_lines(
    spec: ModelSpec, dtype: str, context: int, batch: int, **options
) -> list[str]:
    """The formula for one estimate, one layer group to a line, with the model's numbers in it."""
    from kvplan.formats import float_format
    from kvplan.sizing import state_dtypes

    cost: ModelCost = model_cost(spec, dtype, **options)
    fmt = get_format(dtype, model_dtype=spec.dtype)
    conv_name, ssm_name = state_dtypes(spec, options.get("state_dtype"))
    state_fmts = (
        float_format(conv_name, field="state_dtype"),
        float_format(ssm_name, field="state_dtype"),
    )
    lines = [
        f"{spec.name} ({spec.layout}), cache {fmt.name}, context {context}, batch {batch}:"
    ]
    lines += ["  " + _group_line(g, fmt, state_fmts, context) for g in cost.groups]
    per_sequence = cost.sequence_bytes(context)
    total = cost.total_bytes(context, batch)
    lines.append(f"  per sequence = {per_sequence:,} B")
    scales = ""
    if cost.fixed_bytes:
        scales = f" + {cost.fixed_bytes:,} B per-tensor scales ({fmt.tensor_scale_bytes} B each)"
    lines.append(
        f"  total = {batch} x {per_sequence:,} B{scales} = {total:,} B = {format_bytes(total)}"
    )
    return lines
