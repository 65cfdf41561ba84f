"""Layer kinds from a Hugging Face config: windows, chunks, MLA, state-space and shared layers.

The per-layer kind list comes from the first source a config has, in this order: an explicit
`layer_types` list, `layers_block_type`, `hybrid_override_pattern`, Jamba's
`attn_layer_period`/`attn_layer_offset`, Llama-4's `attention_chunk_size` (with `no_rope_layers`),
`full_attention_interval` (linear-attention hybrids), `sliding_window_pattern` or Gemma-2's
alternation, Qwen's `use_sliding_window`/`max_window_layers`, a plain `sliding_window`; else all
layers are full. Each choice is recorded in the spec's readings.
"""

from kvplan.configs import ConfigReader
from kvplan.errors import SpecError
from kvplan.spec import Layer

# What each spelling of a layer type means: full, sliding, chunked, state, hybrid (attention
# and a state side by side), mlp (a block with no cache), mla_indexed.
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
    "m": "state",
    "*": "full",
    "-": "mlp",
    "e": "mlp",
    "mlp": "mlp",
    "moe": "mlp",
    "hybrid": "hybrid",
    "indexed_attention": "full",
}

_MAMBA1_TYPES = ("jamba", "mamba", "falcon_mamba")
_HYBRID_TYPES = ("falcon_h1",)


def _words(reader: ConfigReader, key: str, values, n_layers: int) -> list[str]:
    if len(values) != n_layers:
        raise SpecError(
            f"{reader.where}: {key} lists {len(values)} layers but the model has {n_layers}",
            field=key,
        )
    kinds = []
    for value in values:
        word = _TYPE_WORDS.get(str(value).lower())
        if word is None:
            raise SpecError(
                f"{reader.where}: {key} has layer type {value!r}, unknown to kvplan; expected "
                "full_attention, sliding_attention, chunked_attention, linear_attention, mamba",
                field=key,
            )
        kinds.append(word)
    return kinds


def _every(n_layers: int, interval: int, *, hit: str, miss: str) -> list[str]:
    """Layer i is `hit` when (i + 1) is a multiple of `interval`, else `miss`."""
    return [hit if (i + 1) % interval == 0 else miss for i in range(n_layers)]


def _pattern_kinds(reader: ConfigReader, n_layers: int) -> tuple[list[str], str]:
    """The per-layer kind words and a sentence saying where they came from."""
    if reader.present("layer_types"):
        types = reader.data["layer_types"]
        return _words(reader, "layer_types", types, n_layers), "layer_types"
    if reader.present("layers_block_type"):
        types = reader.data["layers_block_type"]
        return _words(reader, "layers_block_type", types, n_layers), "layers_block_type"
    if reader.present("hybrid_override_pattern"):
        pattern = list(str(reader.data["hybrid_override_pattern"]))
        return _words(reader, "hybrid_override_pattern", pattern, n_layers), (
            "hybrid_override_pattern (M = Mamba, * = attention, - = MLP)"
        )
    if reader.model_type in _HYBRID_TYPES:
        return [
            "hybrid"
        ] * n_layers, f"{reader.model_type}: attention and Mamba in every layer"
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
    """Kinds for attention-only models: chunked, interval, pattern, Qwen, plain window."""
    if reader.present("attention_chunk_size") or reader.model_type == "llama4_text":
        if reader.get("attention_chunk_size", default=None) is None:
            return ["full"] * n_layers, "attention_chunk_size is null: every layer full"
        if reader.present("no_rope_layers"):
            flags = reader.data["no_rope_layers"]
            kinds = ["chunked" if flag else "full" for flag in flags]
            return _words(reader, "no_rope_layers", kinds, n_layers), (
                "no_rope_layers: RoPE layers chunked, NoPE layers full"
            )
        interval = reader.integer("no_rope_layer_interval")
        return _every(n_layers, interval, hit="full", miss="chunked"), (
            f"every {interval}th layer full (NoPE), the others chunked"
        )
    if (
        reader.present("full_attention_interval")
        or "full_attention_interval" in reader.defaults
    ):
        interval = reader.integer("full_attention_interval")
        return _every(n_layers, interval, hit="full", miss="state"), (
            f"every {interval}th layer full attention, the others linear attention"
        )
    if (
        reader.present("sliding_window_pattern")
        or "sliding_window_pattern" in reader.defaults
    ):
        pattern = reader.integer("sliding_window_pattern")
        kinds = _every(n_layers, pattern, hit="full", miss="sliding")
        if reader.model_type == "gemma4_text":
            kinds[-1] = "full"  # the model's code forces its last layer global
        return (
            kinds,
            f"every {pattern}th layer full, the others sliding (sliding_window_pattern)",
        )
    if reader.model_type == "gemma2":
        kinds = ["sliding" if i % 2 == 0 else "full" for i in range(n_layers)]
        return kinds, "gemma2 alternates sliding (even layers) and full (odd layers)"
    return _window_kinds(reader, n_layers)


def _window_kinds(reader: ConfigReader, n_layers: int) -> tuple[list[str], str]:
    uses = (
        reader.present("use_sliding_window") or "use_sliding_window" in reader.defaults
    )
    if uses and not reader.flag("use_sliding_window"):
        reader.present("max_window_layers")  # read: it only matters with windows on
        if reader.present("sliding_window"):
            return [
                "full"
            ] * n_layers, "use_sliding_window is false: sliding_window ignored"
        return ["full"] * n_layers, ""
    window = reader.get("sliding_window", default=None)
    if not window:
        return ["full"] * n_layers, ""
    if uses:
        first = reader.integer("max_window_layers")
        kinds = ["sliding" if i >= first else "full" for i in range(n_layers)]
        return (
            kinds,
            f"use_sliding_window: layers from max_window_layers ({first}) sliding",
        )
    return ["sliding"] * n_layers, f"sliding_window {window} applies to every layer"


def _shared(reader: ConfigReader, kinds: list[str]) -> tuple[list[str], str]:
    """Mark layers that reuse another layer's K and V."""
    n_layers = len(kinds)
    shared = reader.get("num_kv_shared_layers", default=0) or 0
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
            f"cla_share_factor {factor}: only every {factor}th layer stores K and V",
        )
    return kinds, ""


def _state_values(reader: ConfigReader, hidden: int) -> tuple[int, int, str]:
    """(conv values, recurrent values, kind) one state layer keeps per sequence."""
    if (
        reader.present("linear_num_value_heads")
        or "linear_num_value_heads" in reader.defaults
    ):
        n_k = reader.integer("linear_num_key_heads")
        n_v = reader.integer("linear_num_value_heads")
        d_k = reader.integer("linear_key_head_dim")
        d_v = reader.integer("linear_value_head_dim")
        kernel = reader.integer("linear_conv_kernel_dim")
        conv_channels = 2 * n_k * d_k + n_v * d_v
        return conv_channels * (kernel - 1), n_v * d_k * d_v, "linear_attention"
    if reader.model_type in _MAMBA1_TYPES:
        if (
            reader.model_type == "jamba"
        ):  # its intermediate_size is the MLP's, not Mamba's
            inner = reader.integer("mamba_expand") * hidden
        else:
            inner = reader.integer("intermediate_size")
        conv = reader.integer("mamba_d_conv", "conv_kernel", "d_conv")
        state = reader.integer("mamba_d_state", "state_size", "ssm_state_size")
        return inner * (conv - 1), inner * state, "mamba"
    return _mamba2_values(reader, hidden)


def _mamba2_values(reader: ConfigReader, hidden: int) -> tuple[int, int, str]:
    head_dim = reader.integer("mamba_head_dim", "mamba_d_head", "mamba_headdim")
    heads = reader.get("mamba_num_heads", "mamba_n_heads", default=None)
    if heads is None:
        expand = reader.integer("mamba_expand", "expand")
        inner = reader.integer("mamba_d_ssm", default=expand * hidden)
        heads = inner // head_dim
    inner = reader.integer("mamba_d_ssm", default=heads * head_dim)
    groups = reader.integer("n_groups", "mamba_n_groups", "mamba_ngroups")
    state = reader.integer("ssm_state_size", "mamba_d_state", "state_size")
    conv = reader.integer("conv_kernel", "mamba_d_conv", "d_conv")
    conv_channels = inner + 2 * groups * state
    return conv_channels * (conv - 1), heads * head_dim * state, "mamba2"


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
    return Layer(
        kind=kind, n_kv_heads=kv, head_dim_k=dim, head_dim_v=dim, window_tokens=size
    )


def _mla_layer(reader: ConfigReader, n_heads: int) -> Layer:
    rank = reader.integer("kv_lora_rank")
    rope = reader.integer("qk_rope_head_dim")
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


def read_layers(reader: ConfigReader, *, n_layers, n_heads, n_kv_heads, head_dim):
    """Every layer's kind and geometry, in order."""
    from kvplan.config_compressed import compressed_layers, is_compressed

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
    window = reader.get("sliding_window", default=None) if "sliding" in kinds else None
    if "sliding" in kinds and not window:
        raise SpecError(
            f"{reader.where}: sliding layers need sliding_window",
            field="sliding_window",
        )
    chunk = (
        reader.get("attention_chunk_size", default=None) if "chunked" in kinds else None
    )
    mla = _mla_layer(reader, n_heads) if reader.present("kv_lora_rank") else None
    if mla is not None:
        reader.readings.append(
            f"MLA: each attention layer caches one latent of kv_lora_rank + qk_rope_head_dim "
            f"= {mla.kv_lora_rank} + {mla.rope_dim} values; num_key_value_heads is not the cache"
        )
    state = None
    if any(k in ("state", "hybrid") for k in kinds):
        conv, ssm, label = _state_values(
            reader, reader.integer("hidden_size", "n_embd", "d_model")
        )
        state = {"conv_values": conv, "ssm_values": ssm, "state_kind": label}
    return tuple(
        _layer(
            reader,
            kind,
            index,
            mla=mla,
            state=state,
            n_kv_heads=n_kv_heads,
            head_dim=head_dim,
            window=window,
            chunk=chunk,
        )
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
