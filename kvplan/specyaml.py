"""ModelSpec -> spec YAML (the inverse of catalog.spec_from_mapping), compact and readable.

A repeating layer pattern is written once with `repeat`, so Gemma-3-27B's 62 layers read as
`repeat: 10` of 5 sliding + 1 full, then 2 sliding.
"""

from kvplan.spec import Layer, ModelSpec


def _entry(layer: Layer, count: int, spec: ModelSpec) -> dict:
    """One `layers` entry: the kind, and only the fields that differ from the top level."""
    entry: dict = {"kind": layer.kind}
    if layer.kind in ("full", "sliding", "chunked", "mla"):
        default_kv = spec.n_heads if layer.kind == "mla" else spec.n_kv_heads
        if layer.n_kv_heads != default_kv:
            entry["n_kv_heads"] = layer.n_kv_heads
        if layer.head_dim_k == layer.head_dim_v and layer.kind != "mla":
            if layer.head_dim_k != spec.head_dim:
                entry["head_dim"] = layer.head_dim_k
        else:
            entry["head_dim_k"] = layer.head_dim_k
            entry["head_dim_v"] = layer.head_dim_v
    if layer.window_tokens is not None:
        entry["window"] = layer.window_tokens
    for name in (
        "kv_lora_rank",
        "rope_dim",
        "index_head_dim",
        "conv_values",
        "ssm_values",
    ):
        if getattr(layer, name):
            entry[name] = getattr(layer, name)
    if layer.state_kind:
        entry["state_kind"] = layer.state_kind
    if layer.kv_shared:
        entry["kv_shared"] = True
    if layer.compress_ratio:
        entry["compress_ratio"] = layer.compress_ratio
        entry["compressed_dims"] = list(layer.compressed_dims)
    if count > 1:
        entry["count"] = count
    return entry


def _runs(layers: list[Layer]) -> list[tuple[Layer, int]]:
    runs: list[tuple[Layer, int]] = []
    for layer in layers:
        if runs and runs[-1][0] == layer:
            runs[-1] = (layer, runs[-1][1] + 1)
        else:
            runs.append((layer, 1))
    return runs


def _period(layers: list[Layer]) -> int:
    """The shortest period p > 1 run that repeats at least twice, or 0."""
    n = len(layers)
    for p in range(2, n // 2 + 1):
        if len(_runs(layers[:p])) > 1 and all(
            layers[i] == layers[i % p] for i in range(n)
        ):
            return p
    return 0


def layer_entries(spec: ModelSpec) -> list[dict]:
    """The `layers` list for a spec YAML."""
    layers = list(spec.layers)
    period = _period(layers)
    if not period:
        return [_entry(layer, count, spec) for layer, count in _runs(layers)]
    times, tail = divmod(len(layers), period)
    block = [_entry(layer, count, spec) for layer, count in _runs(layers[:period])]
    entries: list[dict] = [{"repeat": times, "layers": block}]
    entries += [_entry(layer, count, spec) for layer, count in _runs(layers[:tail])]
    return entries


def spec_to_mapping(spec: ModelSpec) -> dict:
    """The spec as a mapping in the spec YAML vocabulary."""
    data: dict = {"name": spec.name}
    if spec.source:
        data["source"] = spec.source
    if spec.model_type:
        data["model_type"] = spec.model_type
    data.update(
        dtype=spec.dtype,
        n_layers=spec.n_layers,
        n_heads=spec.n_heads,
        n_kv_heads=spec.n_kv_heads,
        head_dim=spec.head_dim,
        hidden_size=spec.hidden_size,
    )
    if spec.max_positions:
        data["max_positions"] = spec.max_positions
    if spec.state_dtype:
        data["state_dtype"] = spec.state_dtype
    if spec.ssm_dtype:
        data["ssm_dtype"] = spec.ssm_dtype
    data["layers"] = layer_entries(spec)
    if spec.weights is not None:
        from kvplan.weight_shape import weight_shape_to_mapping

        data["weights"] = weight_shape_to_mapping(spec.weights)
    notes = [*spec.notes, *spec.readings]
    notes += [f"default used: {text}" for text in spec.defaults_used]
    if notes:
        data["notes"] = notes
    return data


def _flow(entry: dict) -> str:
    import yaml

    return yaml.safe_dump(entry, default_flow_style=True, width=1000).strip()


def _layers_yaml(entries: list[dict], indent: str = "") -> list[str]:
    lines = []
    for entry in entries:
        if "repeat" in entry:
            lines.append(f"{indent}- repeat: {entry['repeat']}")
            lines.append(f"{indent}  layers:")
            lines += _layers_yaml(entry["layers"], indent + "  ")
        else:
            lines.append(f"{indent}- {_flow(entry)}")
    return lines


def spec_to_yaml(spec: ModelSpec) -> str:
    """The spec as YAML text that `load_spec` reads back to an equal spec."""
    import yaml

    data = spec_to_mapping(spec)
    entries = data.pop("layers")
    weights = {"weights": data.pop("weights")} if "weights" in data else {}
    notes = {"notes": data.pop("notes")} if "notes" in data else {}
    text = yaml.safe_dump(data, sort_keys=False, width=96)
    text += "layers:\n" + "\n".join(_layers_yaml(entries)) + "\n"
    if weights:
        text += yaml.safe_dump(weights, sort_keys=False, width=96)
    if notes:
        text += yaml.safe_dump(
            notes, sort_keys=False, width=96, default_flow_style=False
        )
    return text
