"""DeepSeek-V4-style compressed attention read from a config: a K=V sliding window per layer,
plus compressed entries kept for the whole context on CSA and HCA layers.

Per layer type (transformers' deepseek_v4 cache layers, read 2026-12):
- sliding_attention: one K=V tensor of `sliding_window` tokens x num_key_value_heads x head_dim
- compressed_sparse_attention (CSA): the window, plus one compressed entry of head_dim values
  and one indexer key of index_head_dim values per `compress_rates[csa]` tokens (default 4)
- heavily_compressed_attention (HCA): the window, plus one head_dim entry per
  `compress_rates[hca]` tokens (default 128)
The compressors' partial-window buffers (under one window of source tokens) are not counted.
"""

from kvplan.config_reader import ConfigReader
from kvplan.errors import SpecError
from kvplan.spec import Layer

CSA = "compressed_sparse_attention"
HCA = "heavily_compressed_attention"
SLIDING = "sliding_attention"
_DEFAULT_RATES = {CSA: 4, HCA: 128}
_RATIO_TYPES = {0: SLIDING, 4: CSA, 128: HCA}


def is_compressed(reader: ConfigReader) -> bool:
    """Whether the config describes compressed attention layers."""
    types = reader.data.get("layer_types") or []
    return bool(
        reader.present("compress_ratios")
        or reader.model_type == "deepseek_v4"
        or any(t in (CSA, HCA) for t in types)
    )


def _layer_types(reader: ConfigReader, n_layers: int) -> list[str]:
    if reader.present("layer_types"):
        types = reader.data["layer_types"]
    elif reader.present("compress_ratios"):
        ratios = reader.data["compress_ratios"]
        unknown = sorted({r for r in ratios if r not in _RATIO_TYPES})
        if unknown:
            raise SpecError(
                f"{reader.where}: compress_ratios has {unknown[0]}, expected 0, 4 or 128",
                field="compress_ratios",
            )
        types = [_RATIO_TYPES[r] for r in ratios]
        if len(types) > n_layers:
            reader.readings.append(
                f"compress_ratios lists {len(types)} layers for {n_layers}: the first "
                f"{n_layers} are read (the rest belong to prediction-only layers)"
            )
    elif reader.model_type == "deepseek_v4":
        # DeepseekV4Config's default: two HCA layers, then CSA and HCA alternating
        types = [HCA] * min(n_layers, 2) + [
            CSA if i % 2 else HCA for i in range(max(n_layers - 2, 0))
        ]
        reader.readings.append(
            "no layer_types / compress_ratios: deepseek_v4's default, two HCA layers then "
            "CSA and HCA alternating"
        )
    else:
        raise SpecError(
            f"{reader.where}: missing layer_types / compress_ratios",
            field="layer_types",
        )
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise SpecError(
            f"{reader.where}: layer_types must be a list of layer type names",
            field="layer_types",
        )
    if len(types) < n_layers:
        raise SpecError(
            f"{reader.where}: {len(types)} layer types for {n_layers} layers",
            field="layer_types",
        )
    return types[:n_layers]


def compressed_layers(reader: ConfigReader, *, n_layers, n_kv_heads, head_dim) -> tuple:
    """Every layer of a compressed-attention model."""
    rates = {**_DEFAULT_RATES, **(reader.get("compress_rates", default=None) or {})}
    reader.present("qk_rope_head_dim")  # the rotary part of head_dim, already in it
    window = reader.integer("sliding_window")
    index_dim = reader.integer("index_head_dim")
    layers = []
    for kind in _layer_types(reader, n_layers):
        if kind not in (SLIDING, CSA, HCA):
            raise SpecError(
                f"{reader.where}: layer type {kind!r} is unknown to kvplan",
                field="layer_types",
            )
        dims = {SLIDING: (), CSA: (head_dim, index_dim), HCA: (head_dim,)}[kind]
        layers.append(
            Layer(
                kind="sliding",
                n_kv_heads=n_kv_heads,
                head_dim_k=head_dim,
                head_dim_v=head_dim,
                window_tokens=window,
                kv_shared=True,
                compress_ratio=rates.get(kind, 0) if dims else 0,
                compressed_dims=dims,
            )
        )
    reader.readings.append(
        f"compressed attention: K=V window of {window} tokens on every layer; CSA layers add "
        f"{head_dim} + {index_dim} values per {rates[CSA]} tokens, HCA layers {head_dim} per "
        f"{rates[HCA]} (compressor buffers under one window not counted)"
    )
    return tuple(layers)
