"""Layer kinds from a Hugging Face config: windows, chunks, MLA, state-space and shared layers.

The per-layer kind list comes from the first source a config has, in this order: an explicit
`layer_types` list, `layers_block_type`, `hybrid_override_pattern`; the model type's own rule
(kvplan/config_layout.py: gpt-oss alternation, Bamba's `attn_layer_indices`, MiniMax's
`attn_type_list`, Kimi-Linear's `linear_attn_config`, ...); the self-describing keys
`attn_layer_period`/`attn_layer_offset`, `attention_chunk_size`, `full_attention_interval`,
`sliding_window_pattern`; else every layer is full attention. A `sliding_window` that no rule
places is refused: kvplan does not guess which layers slide. Each choice is recorded in the
spec's readings.
"""

from kvplan.config_blocks import block_kinds, has_blocks
from kvplan.config_extras import refuse_cross_attention, without_mtp_entries
from kvplan.config_layout import check_list, default_kinds, every, ordinal
from kvplan.config_reader import ConfigReader
from kvplan.errors import SpecError
from kvplan.spec import Layer

# What each spelling of a layer type means: full, sliding, chunked, state, hybrid (attention
# and a state side by side), mlp (a block with no cache), indexed (MLA with an indexer key).
_TYPE_WORDS = {
    "full_attention": "full",
    "attention": "full",
    "global": "full",
    "global_attention": "full",
    "full": "full",
    "sliding_attention": "sliding",
    "sliding": "sliding",
    "local": "sliding",
    "local_attention": "sliding",
    "chunked_attention": "chunked",
    "linear_attention": "state",
    "mamba": "state",
    "mamba2": "state",
    "conv": "state",
    "recurrent": "state",
    "m": "state",
    "*": "full",
    "-": "mlp",
    "e": "mlp",
    "mlp": "mlp",
    "moe": "mlp",
    "hybrid": "hybrid",
    "indexed_attention": "indexed",
}


def _words(reader: ConfigReader, key: str, values, n_layers: int) -> list[str]:
    values = without_mtp_entries(reader, key, values, n_layers)
    check_list(reader, key, values, n_layers)
    kinds = []
    for value in values:
        word = _TYPE_WORDS.get(str(value).lower())
        if word is None:
            raise SpecError(
                f"{reader.where}: {key} has layer type {value!r}, unknown to kvplan; expected "
                "full_attention, sliding_attention, chunked_attention, linear_attention, "
                "mamba, conv, hybrid or mlp",
                field=key,
            )
        kinds.append(word)
    return kinds


def _listed_kinds(reader: ConfigReader, n_layers: int) -> tuple[list[str], str] | None:
    """Kinds from a key that lists every layer, or None when the config has none."""
    for key in ("layer_types", "layers_block_type"):
        if reader.present(key):
            return _words(reader, key, reader.data[key], n_layers), key
    if reader.present("hybrid_override_pattern"):
        pattern = reader.data["hybrid_override_pattern"]
        if not isinstance(pattern, str):
            raise SpecError(
                f"{reader.where}: hybrid_override_pattern must be a string such as "
                f"'M-M*', got {pattern!r}",
                field="hybrid_override_pattern",
            )
        return _words(reader, "hybrid_override_pattern", list(pattern), n_layers), (
            "hybrid_override_pattern (M = Mamba, * = attention, - = MLP, E = MoE)"
        )
    return None


# Keys that derive a layout; an explicit per-layer list supersedes them (as in transformers).
_DERIVING_KEYS = (
    "sliding_window_pattern",
    "full_attention_interval",
    "no_rope_layers",
    "no_rope_layer_interval",
    "attn_layer_period",
    "attn_layer_offset",
    "attn_layer_indices",
    "attn_type_list",
    "max_window_layers",
    "global_attn_every_n_layers",
    "block_types",
    "full_attn_idxs",
    "layer_switch",
    "order_of_interleaved_layers",
)


def _superseded(reader: ConfigReader, source: str) -> None:
    """Mark the keys an explicit layer list supersedes as read, and say so."""
    present = [key for key in _DERIVING_KEYS if reader.present(key)]
    reader.present("sliding_window")  # the list says which layers use it
    if present:
        reader.readings.append(f"{source} supersedes {', '.join(present)}")


def _pattern_kinds(reader: ConfigReader, n_layers: int) -> tuple[list[str], str]:
    """The per-layer kind words and a sentence saying where they came from."""
    if has_blocks(reader):
        return block_kinds(reader, n_layers)
    listed = _listed_kinds(reader, n_layers)
    if listed is not None:
        _superseded(reader, listed[1])
        return listed
    ruled = default_kinds(reader, n_layers)
    if ruled is not None:
        return ruled
    if reader.present("attn_layer_period") or reader.model_type == "jamba":
        period = reader.integer("attn_layer_period")
        offset = reader.get("attn_layer_offset")
        kinds = ["full" if i % period == offset else "state" for i in range(n_layers)]
        return (
            kinds,
            f"attention where layer % attn_layer_period ({period}) == {offset}",
        )
    return _attention_kinds(reader, n_layers)


def _attention_kinds(reader: ConfigReader, n_layers: int) -> tuple[list[str], str]:
    """Kinds for attention-only models: chunked, interval, pattern; else every layer full."""
    if reader.present("attention_chunk_size"):
        chunk = reader.get("attention_chunk_size", default=None)
        if chunk is None:
            return ["full"] * n_layers, "attention_chunk_size is null: every layer full"
        interval = reader.integer("no_rope_layer_interval")
        return every(n_layers, interval, hit="full", miss="chunked"), (
            f"every {ordinal(interval)} layer full (NoPE), the others chunked"
        )
    if (
        reader.present("full_attention_interval")
        or "full_attention_interval" in reader.defaults
    ):
        interval = reader.integer("full_attention_interval")
        return every(n_layers, interval, hit="full", miss="state"), (
            f"every {ordinal(interval)} layer full attention, the others linear attention"
        )
    if (
        reader.present("sliding_window_pattern")
        or "sliding_window_pattern" in reader.defaults
    ):
        pattern = reader.integer("sliding_window_pattern")
        kinds = every(n_layers, pattern, hit="full", miss="sliding")
        if reader.model_type == "gemma4_text":
            kinds[-1] = "full"  # the model's code forces its last layer global
        return (
            kinds,
            f"every {ordinal(pattern)} layer full, the others sliding "
            "(sliding_window_pattern)",
        )
    return _unplaced_window(reader, n_layers)


def _unplaced_window(reader: ConfigReader, n_layers: int) -> tuple[list[str], str]:
    """Every layer full; a window that no rule places is refused, never guessed."""
    window = reader.get("sliding_window", default=None)
    if not window:
        reader.present("max_window_layers")  # places a window; there is none
        return ["full"] * n_layers, ""
    if "use_sliding_window" in reader.data and not reader.flag("use_sliding_window"):
        reader.present("max_window_layers")  # places windows only when they are on
        return ["full"] * n_layers, (
            f"use_sliding_window false: sliding_window {window} is switched off, every "
            "layer full"
        )
    known = (
        f"model type {reader.model_type!r}"
        if reader.model_type
        else "a config without model_type"
    )
    raise SpecError(
        f"{reader.where}: sliding_window {window!r} is set, but kvplan does not know which "
        f"layers of {known} use it (its code takes them from layer_types); add "
        "layer_types, set sliding_window to null, or write a spec YAML (docs/specs.md)",
        field="sliding_window",
    )


def _shared(reader: ConfigReader, kinds: list[str]) -> tuple[list[str], str]:
    """Mark layers that reuse another layer's K and V."""
    n_layers = len(kinds)
    shared = (
        reader.integer("num_kv_shared_layers", default=0)
        if reader.get("num_kv_shared_layers", default=0)
        else 0
    )
    if shared >= n_layers:
        raise SpecError(
            f"{reader.where}: num_kv_shared_layers {shared} leaves no layer of the "
            f"{n_layers} to store K and V",
            field="num_kv_shared_layers",
        )
    if shared:
        first = n_layers - shared
        return kinds[:first] + ["shared"] * shared, (
            f"num_kv_shared_layers: the last {shared} layers reuse earlier layers' K and V"
        )
    if reader.present("cla_share_factor") and reader.get("use_cla", default=True):
        factor = reader.integer("cla_share_factor")
        marked = [
            k if i % factor == 0 or k != "full" else "shared"
            for i, k in enumerate(kinds)
        ]
        return (
            marked,
            f"cla_share_factor {factor}: only every {ordinal(factor)} layer stores K and V",
        )
    return kinds, ""


def _per_layer(value, index: int):
    return value[index] if isinstance(value, list) else value


def _attention_layer(
    reader, kind, index, *, n_kv_heads, head_dim, window, chunk
) -> Layer:
    kv = _per_layer(n_kv_heads, index)
    dim = _per_layer(head_dim, index)
    if kind == "full":
        dim = reader.get("global_head_dim", default=dim)
        if reader.present("num_global_key_value_heads") and reader.get(
            "attention_k_eq_v", default=True
        ):
            kv = reader.integer("num_global_key_value_heads")
    size = {"sliding": window, "chunked": chunk}.get(kind)
    dim_v = reader.integer("v_head_dim", default=dim)  # MiMo-V2: K 192, V 128
    return Layer(
        kind=kind, n_kv_heads=kv, head_dim_k=dim, head_dim_v=dim_v, window_tokens=size
    )


def _mla_layer(reader: ConfigReader, n_heads: int) -> Layer:
    rank = reader.integer("kv_lora_rank")
    rope = reader.integer("qk_rope_head_dim")
    if reader.flag("mla_use_nope"):
        reader.readings.append(
            "mla_use_nope: no rotary embedding on the MLA layers; the latent still stores "
            "kv_lora_rank + qk_rope_head_dim values per token"
        )
    nope = reader.integer("qk_nope_head_dim")
    v_dim = reader.integer("v_head_dim")
    return Layer(
        kind="mla",
        n_kv_heads=n_heads,
        head_dim_k=nope + rope,
        head_dim_v=v_dim,
        kv_lora_rank=rank,
        rope_dim=rope,
        index_head_dim=reader.get("index_head_dim", default=0) or 0,
    )


def _sliding_window(
    reader: ConfigReader, kinds: list[str]
) -> tuple[list[str], int | None]:
    """The window of the sliding layers; an explicit null window makes them full."""
    if "sliding" not in kinds:
        return kinds, None
    window = _window_value(reader)
    switched_off = reader.present("use_sliding_window") and not reader.flag(
        "use_sliding_window"
    )
    if switched_off:
        reader.readings.append(
            "use_sliding_window is false: the sliding layers keep every token (no window)"
        )
        return ["full" if k == "sliding" else k for k in kinds], None
    if window is None:
        if "sliding_window" not in reader.data:
            raise SpecError(
                f"{reader.where}: sliding layers need sliding_window (tokens)",
                field="sliding_window",
            )
        reader.readings.append(
            "sliding_window is null: the sliding layers keep every token (no window)"
        )
        return ["full" if k == "sliding" else k for k in kinds], None
    return kinds, window


def _window_value(reader: ConfigReader):
    """sliding_window (Gemma-2's old sliding_window_size must agree), checked, or None."""
    if (
        reader.model_type == "recurrent_gemma"
    ):  # its class maps sliding_window to this key
        return reader.integer("attention_window_size")
    window = reader.get("sliding_window", default=None)
    old = reader.data.get("sliding_window_size")
    reader.present("sliding_window_size")
    if old is not None and window is not None and old != window:
        raise SpecError(
            f"{reader.where}: sliding_window {window!r} and sliding_window_size {old!r} "
            "disagree; kvplan will not pick one",
            field="sliding_window",
        )
    if window is None:
        return None
    return reader.integer("sliding_window")


def _per_layer_values(reader: ConfigReader, key: str, value, n_layers: int) -> None:
    """A per-layer list (KV heads, head dims) must give one value per layer."""
    if isinstance(value, list) and len(value) != n_layers:
        raise SpecError(
            f"{reader.where}: {key} lists {len(value)} values but the model has "
            f"{n_layers} layers (one per layer is needed)",
            field=key,
        )


def _check_indexers(reader: ConfigReader) -> None:
    """GLM-5's indexer_types: a "shared" layer reuses another's top-k; kvplan reads "full"."""
    types = reader.get("indexer_types", default=None)
    if types is None:
        return
    if not isinstance(types, list) or any(t != "full" for t in types):
        raise SpecError(
            f"{reader.where}: indexer_types other than all 'full' (layers that share another "
            "layer's indexer) are not read by kvplan; write a spec YAML (docs/specs.md)",
            field="indexer_types",
        )


def read_layers(reader: ConfigReader, *, n_layers, n_heads, n_kv_heads, head_dim):
    """Every layer's kind and geometry, in order."""
    from kvplan.config_compressed import compressed_layers, is_compressed

    _per_layer_values(reader, "num_key_value_heads", n_kv_heads, n_layers)
    _per_layer_values(reader, "head_dim", head_dim, n_layers)
    refuse_cross_attention(reader, n_layers)
    if is_compressed(reader):
        return compressed_layers(
            reader, n_layers=n_layers, n_kv_heads=n_kv_heads, head_dim=head_dim
        )
    kinds, how = _pattern_kinds(reader, n_layers)
    if how:
        reader.readings.append(f"layer kinds from {how}")
    kinds, how = _shared(reader, kinds)
    if how:
        reader.readings.append(how)
    kinds, window = _sliding_window(reader, kinds)
    chunk = reader.integer("attention_chunk_size") if "chunked" in kinds else None
    mla = _mla_layer(reader, n_heads) if reader.present("kv_lora_rank") else None
    _check_indexers(reader)
    if mla is not None:
        reader.readings.append(
            f"MLA: each attention layer caches one latent of kv_lora_rank + qk_rope_head_dim "
            f"= {mla.kv_lora_rank} + {mla.rope_dim} values; num_key_value_heads is not the cache"
        )
    elif "indexed" in kinds:
        raise SpecError(
            f"{reader.where}: indexed_attention layers without kv_lora_rank: kvplan reads "
            "the indexer's keys only beside an MLA latent",
            field="layer_types",
        )
    state = None
    if any(k in ("state", "hybrid") for k in kinds):
        from kvplan.config_states import state_values

        conv, ssm, label = state_values(
            reader, reader.integer("hidden_size", "n_embd", "d_model")
        )
        state = {"conv_values": conv, "ssm_values": ssm, "state_kind": label}
    geometry = {
        "n_kv_heads": n_kv_heads,
        "head_dim": head_dim,
        "window": window,
        "chunk": chunk,
    }
    return tuple(
        _layer(reader, kind, index, mla=mla, state=state, **geometry)
        for index, kind in enumerate(kinds)
    )


def _layer(reader, kind, index, *, mla, state, **geometry) -> Layer:
    if kind in ("shared", "mlp"):
        return Layer(kind=kind)
    if kind == "state":
        return Layer(kind="state", **state)
    if mla is not None:
        return mla
    layer = _attention_layer(
        reader, "full" if kind == "hybrid" else kind, index, **geometry
    )
    if kind == "hybrid":
        return Layer(**{**layer.__dict__, **state})
    return layer
