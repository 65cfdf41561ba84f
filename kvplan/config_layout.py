"""Which kind each layer is when a config.json does not list them: each type's own rule.

Transformers' config classes derive `layer_types` from their defaults when a config leaves it
out: gpt-oss alternates sliding and full, OLMo-3 makes every 4th layer full, MiniMax alternates
full and linear attention, Bamba puts attention only on `attn_layer_indices`. kvplan applies
the same rule for each type in RULES (read from transformers 5.25's classes, named beside each
rule, or the model's remote code); tests/test_config_layout.py checks every rule against the
class. A type whose class derives a layout kvplan has no rule for (DERIVED_LAYOUT_TYPES) is
refused unless the config lists its layers: kvplan never reads it as "every layer the same".

Kind words: full, sliding, chunked, state (a recurrent state: Mamba, linear attention, a short
convolution), hybrid (attention and a Mamba mixer side by side), mlp (no cache).
"""

from collections.abc import Callable

from kvplan.config_reader import ConfigReader
from kvplan.errors import SpecError

Kinds = tuple[list[str], str]


def every(n: int, interval: int, *, hit: str, miss: str) -> list[str]:
    """Layer i is `hit` when (i + 1) is a multiple of `interval`, else `miss`."""
    return [hit if (i + 1) % interval == 0 else miss for i in range(n)]


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 12th, 21st."""
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def _window(reader: ConfigReader):
    """The configured window, or None (absent, null or 0 mean no window)."""
    return reader.get("sliding_window", default=None) or None


def _gpt_oss(reader: ConfigReader, n: int) -> Kinds:
    # GptOssConfig: "sliding_attention" if (i + 1) % 2 else "full_attention"
    return every(n, 2, hit="full", miss="sliding"), (
        "gpt_oss alternates sliding (even layers) and full (odd layers)"
    )


def _fixed_every(
    model_type: str, interval: int
) -> Callable[[ConfigReader, int], Kinds]:
    def rule(reader: ConfigReader, n: int) -> Kinds:
        return every(n, interval, hit="full", miss="sliding"), (
            f"{model_type}: every {ordinal(interval)} layer full, the others sliding"
        )

    return rule


def _afmoe(reader: ConfigReader, n: int) -> Kinds:
    interval = reader.integer("global_attn_every_n_layers")
    return every(n, interval, hit="full", miss="sliding"), (
        f"every {ordinal(interval)} layer full (global_attn_every_n_layers), the others sliding"
    )


def _mimo_v2_flash(reader: ConfigReader, n: int) -> Kinds:
    # MiMoV2FlashConfig: full for the first layer and every 6th layer, sliding elsewhere
    kinds = ["full" if i == 0 or (i + 1) % 6 == 0 else "sliding" for i in range(n)]
    return kinds, "mimo_v2_flash: layer 0 and every 6th layer full, the others sliding"


def _gemma2(reader: ConfigReader, n: int) -> Kinds:
    kinds = ["sliding" if i % 2 == 0 else "full" for i in range(n)]
    return kinds, "gemma2 alternates sliding (even layers) and full (odd layers)"


def _window_every_layer(reader: ConfigReader, n: int) -> Kinds:
    # Mistral, Mixtral, Phi-3, Starcoder2, Ministral: the window applies to every layer
    window = _window(reader)
    if window is None:
        return ["full"] * n, ""
    return ["sliding"] * n, f"sliding_window {window} applies to every layer"


def _use_sliding_window(reader: ConfigReader) -> bool:
    """Qwen's switch: windows only when use_sliding_window is true and a window is set."""
    on = reader.flag("use_sliding_window")
    for key in (
        "max_window_layers",
        "sliding_window",
    ):  # read: they matter only when on
        reader.present(key)
    return on and _window(reader) is not None


def _qwen2(reader: ConfigReader, n: int) -> Kinds:
    # Qwen2Config / Qwen3Config: sliding for i >= max_window_layers when windows are on
    if not _use_sliding_window(reader):
        return ["full"] * n, "use_sliding_window is false: every layer full"
    first = reader.integer("max_window_layers")
    kinds = ["sliding" if i >= first else "full" for i in range(n)]
    return kinds, f"use_sliding_window: layers from max_window_layers ({first}) sliding"


def _qwen2_moe(reader: ConfigReader, n: int) -> Kinds:
    # Qwen2MoeConfig: sliding where (i + 1) % 2 and i < max_window_layers, when windows are on
    if not _use_sliding_window(reader):
        return ["full"] * n, "use_sliding_window is false: every layer full"
    first = reader.integer("max_window_layers")
    kinds = ["sliding" if (i + 1) % 2 and i < first else "full" for i in range(n)]
    return kinds, (
        f"use_sliding_window: even layers below max_window_layers ({first}) sliding"
    )


def _qwen3_moe(reader: ConfigReader, n: int) -> Kinds:
    # Qwen3MoeConfig keeps the window only when use_sliding_window; then every layer slides
    if not _use_sliding_window(reader):
        return ["full"] * n, "use_sliding_window is false: every layer full"
    return ["sliding"] * n, "use_sliding_window: every layer sliding"


def _dots1(reader: ConfigReader, n: int) -> Kinds:
    # Dots1Config: sliding where a window is set and i >= max_window_layers (default 62)
    if _window(reader) is None:
        return ["full"] * n, ""
    first = reader.integer("max_window_layers")
    kinds = ["sliding" if i >= first else "full" for i in range(n)]
    return kinds, f"layers from max_window_layers ({first}) sliding"


def _no_rope_flags(reader: ConfigReader, n: int) -> list[int]:
    """no_rope_layers (1 = RoPE, 0 = NoPE); empty or absent: every interval-th layer NoPE."""
    flags = reader.get("no_rope_layers", default=None)
    reader.present("no_rope_layer_interval")  # read: used when the list is empty
    if flags:
        if not isinstance(flags, list) or len(flags) != n:
            raise SpecError(
                f"{reader.where}: no_rope_layers must list one 0/1 flag per layer "
                f"({n}), got {_length(flags)}",
                field="no_rope_layers",
            )
        return [int(bool(flag)) for flag in flags]
    interval = reader.integer("no_rope_layer_interval")
    return [int((i + 1) % interval != 0) for i in range(n)]


def _length(value) -> str:
    return f"{len(value)} entries" if isinstance(value, list) else repr(value)


def _llama4(reader: ConfigReader, n: int) -> Kinds:
    # Llama4TextConfig: RoPE layers chunked (when a chunk is set), NoPE layers full;
    # an empty no_rope_layers is derived from no_rope_layer_interval
    chunk = reader.get("attention_chunk_size", default=None)
    flags = _no_rope_flags(reader, n)
    if chunk is None:
        return ["full"] * n, "attention_chunk_size is null: every layer full"
    kinds = ["chunked" if flag else "full" for flag in flags]
    return kinds, "RoPE layers chunked, NoPE layers full (no_rope_layers)"


def _smollm3(reader: ConfigReader, n: int) -> Kinds:
    # SmolLM3Config: sliding on NoPE layers when use_sliding_window and a window are set
    if not reader.flag("use_sliding_window") or _window(reader) is None:
        for key in ("no_rope_layers", "no_rope_layer_interval", "sliding_window"):
            reader.present(key)  # read: they place windows only when windows are on
        return ["full"] * n, ""
    flags = _no_rope_flags(reader, n)
    kinds = ["full" if flag else "sliding" for flag in flags]
    return kinds, "use_sliding_window: the NoPE layers (no_rope_layers 0) sliding"


def _minimax(reader: ConfigReader, n: int) -> Kinds:
    # MiniMax's checkpoints list attn_type_list (1 = softmax attention, 0 = lightning
    # linear attention); without it transformers' MiniMaxConfig alternates, full first
    if reader.present("attn_type_list"):
        flags = reader.data["attn_type_list"]
        check_list(reader, "attn_type_list", flags, n)
        if any(flag not in (0, 1) for flag in flags):
            raise SpecError(
                f"{reader.where}: attn_type_list holds 0 (linear) or 1 (full), got "
                f"{sorted({f for f in flags if f not in (0, 1)}, key=str)[0]!r}",
                field="attn_type_list",
            )
        kinds = ["full" if flag == 1 else "state" for flag in flags]
        return (
            kinds,
            "attn_type_list (1 = full attention, 0 = lightning linear attention)",
        )
    if reader.model_type != "minimax":
        raise _needs(reader, "attn_type_list")
    kinds = ["full" if (i + 1) % 2 else "state" for i in range(n)]
    return (
        kinds,
        "minimax alternates full (even layers) and linear attention (odd layers)",
    )


def _bamba(reader: ConfigReader, n: int) -> Kinds:
    # BambaConfig: full attention on attn_layer_indices, Mamba-2 elsewhere
    indices = reader.get("attn_layer_indices", default=None) or []
    _check_indices(reader, "attn_layer_indices", indices, n, base=0)
    kinds = ["full" if i in indices else "state" for i in range(n)]
    return kinds, f"attention on attn_layer_indices {indices}, Mamba-2 elsewhere"


def _all_state(reader: ConfigReader, n: int) -> Kinds:
    return ["state"] * n, f"{reader.model_type}: every layer a recurrent state"


def _nemotron_h(reader: ConfigReader, n: int) -> Kinds:
    # NemotronHConfig's default is the 4-layer list (Mamba, MoE, attention, MLP)
    if n != 4:
        raise SpecError(
            f"{reader.where}: missing hybrid_override_pattern / layers_block_type; "
            f"nemotron_h's own default lists 4 layers (M E * -), not {n}",
            field="hybrid_override_pattern",
        )
    return ["state", "mlp", "full", "mlp"], "nemotron_h default layers (M E * -)"


def _kimi_linear(reader: ConfigReader, n: int) -> Kinds:
    # KimiLinearConfig: linear_attn_config lists full_attn_layers and kda_layers, 1-indexed;
    # without them layer i is full when i > 0 and i % 4 == 0
    config = reader.get("linear_attn_config", default=None) or {}
    if "full_attn_layers" in config and "kda_layers" in config:
        full, kda = config["full_attn_layers"], config["kda_layers"]
        _check_indices(reader, "linear_attn_config.full_attn_layers", full, n, base=1)
        _check_indices(reader, "linear_attn_config.kda_layers", kda, n, base=1)
        kinds = ["full" if i + 1 in full else "state" for i in range(n)]
        if sorted([*full, *kda]) != list(range(1, n + 1)):
            raise SpecError(
                f"{reader.where}: linear_attn_config's full_attn_layers and kda_layers "
                f"must together list layers 1 to {n} once each",
                field="linear_attn_config",
            )
        return (
            kinds,
            "linear_attn_config: full_attn_layers MLA, kda_layers linear (1-indexed)",
        )
    kinds = ["full" if i and i % 4 == 0 else "state" for i in range(n)]
    return kinds, "kimi_linear: layers 4, 8, ... full attention, the others linear"


def _recurrent_gemma(reader: ConfigReader, n: int) -> Kinds:
    # RecurrentGemmaConfig: block_types repeated to the depth; attention blocks are local
    blocks = reader.get("block_types")
    if not isinstance(blocks, list) or not blocks:
        raise SpecError(
            f"{reader.where}: block_types must be a non-empty list", field="block_types"
        )
    words = {"recurrent": "state", "attention": "sliding"}
    unknown = [b for b in blocks if b not in words]
    if unknown:
        raise SpecError(
            f"{reader.where}: block_types has {unknown[0]!r}; expected recurrent or attention",
            field="block_types",
        )
    kinds = [words[blocks[i % len(blocks)]] for i in range(n)]
    return kinds, f"block_types {blocks} repeated; attention blocks are local (sliding)"


def _lfm2(reader: ConfigReader, n: int) -> Kinds:
    # Lfm2Config: full attention on full_attn_idxs (default: every layer), short conv elsewhere
    indices = reader.get("full_attn_idxs", default=None)
    reader.present("conv_L_cache")  # read: it sizes the conv layers, if any
    if indices is None:
        return [
            "full"
        ] * n, "no full_attn_idxs: every layer full attention (lfm2 default)"
    _check_indices(reader, "full_attn_idxs", indices, n, base=0)
    kinds = ["full" if i in indices else "state" for i in range(n)]
    return kinds, "full attention on full_attn_idxs, short convolutions elsewhere"


def check_list(reader: ConfigReader, key: str, values, n: int) -> None:
    """A per-layer list: a list, one entry per layer (else an error naming the key)."""
    if not isinstance(values, list):
        raise SpecError(
            f"{reader.where}: {key} must be a list with one entry per layer, got "
            f"{type(values).__name__} {values!r}",
            field=key,
        )
    if len(values) != n:
        raise SpecError(
            f"{reader.where}: {key} lists {len(values)} layers but the model has {n}",
            field=key,
        )


def _check_indices(
    reader: ConfigReader, key: str, values, n: int, *, base: int
) -> None:
    """A list of distinct layer indices, each in [base, n - 1 + base]."""
    ok = isinstance(values, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    )
    if not ok:
        raise SpecError(
            f"{reader.where}: {key} must be a list of layer indices, got {values!r}",
            field=key,
        )
    bad = [v for v in values if not base <= v < n + base]
    if bad or len(set(values)) != len(values):
        what = f"index {bad[0]} outside {base}..{n - 1 + base}" if bad else "repeats"
        raise SpecError(
            f"{reader.where}: {key} {what} (the model has {n} layers)", field=key
        )


def _needs(reader: ConfigReader, key: str) -> SpecError:
    return SpecError(
        f"{reader.where}: missing {key}: model type {reader.model_type!r} takes its layer "
        f"layout from it; add it, or write a spec YAML (docs/specs.md)",
        field=key,
    )


# The default layout of each type, from its config class (transformers 5.25) or remote code.
RULES: dict[str, Callable[[ConfigReader, int], Kinds]] = {
    "gpt_oss": _gpt_oss,
    "olmo3": _fixed_every("olmo3", 4),  # Olmo3Config: (i + 1) % 4 != 0 sliding
    "gemma3n_text": _fixed_every("gemma3n_text", 5),  # Gemma3nTextConfig
    "afmoe": _afmoe,
    "mimo_v2_flash": _mimo_v2_flash,
    "gemma2": _gemma2,
    "mistral": _window_every_layer,
    "mixtral": _window_every_layer,
    "ministral": _window_every_layer,
    "phi3": _window_every_layer,
    "starcoder2": _window_every_layer,
    "qwen2": _qwen2,
    "qwen3": _qwen2,
    "qwen2_5_omni_text": _qwen2,
    "qwen2_vl": _qwen2,
    "qwen2_5_vl": _qwen2,
    "qwen2_vl_text": _qwen2,
    "qwen2_5_vl_text": _qwen2,
    "qwen2_moe": _qwen2_moe,
    "qwen3_moe": _qwen3_moe,
    "dots1": _dots1,
    "llama4_text": _llama4,
    "smollm3": _smollm3,
    "minimax": _minimax,
    "minimax_text_01": _minimax,  # MiniMax-Text-01 / M1 remote code: attn_type_list
    "minimax_m1": _minimax,
    "bamba": _bamba,
    "granitemoehybrid": _all_state,  # GraniteMoeHybridConfig: every layer Mamba-2
    "mamba": _all_state,
    "falcon_mamba": _all_state,
    "mamba2": _all_state,
    "nemotron_h": _nemotron_h,
    "kimi_linear": _kimi_linear,
    "recurrent_gemma": _recurrent_gemma,
    "lfm2": _lfm2,
    "falcon_h1": lambda reader, n: (
        ["hybrid"] * n,
        "falcon_h1: attention and Mamba in every layer",
    ),
}

# Types whose config class derives a layout other than "every layer full attention" (for some
# settings) and for which kvplan has no rule: their configs must list the layers. From
# transformers 5.25; tests/test_config_layout.py checks the list is complete.
DERIVED_LAYOUT_TYPES = frozenset(
    {
        "bailing_hybrid", "beam", "cwm", "diffusion_gemma_text", "dory", "dots3_note_text",
        "embedding_gemma2_text", "ergo", "exaone4_5", "exaone_moe", "flint", "glm5_next_text",
        "granite_swa", "granitemoe_swa", "hy_v4", "hy_v4_vl_text", "inkling2_loop_text",
        "inkling2_text", "inkling_text", "jev", "kolibri1", "kolibri1_1", "lara_mini",
        "lfm3", "mistral_large4_text", "muse_glimmer_text", "muse_spark_text", "neomme",
        "olmo_hybrid", "qwen4_exp_text", "t5gemma2_text", "ultrabert", "unlimited_ocr_text",
        "vaultgemma", "zamba", "zamba2", "zaya", "cohere2_moe", "axk2", "modernbert-decoder",
    }
)  # fmt: skip


# Recurrent models without attention whose state kvplan does not size (transformers' rwkv and
# xlstm; the RWKV remote-code types): refused even when a config carries attention-like keys.
RECURRENT_TYPES = frozenset({"rwkv", "rwkv5", "rwkv6", "rwkv7", "xlstm"})


def refuse_recurrent(reader: ConfigReader) -> None:
    """Refuse, before any key is read, a recurrent type whose state kvplan does not size."""
    if reader.model_type in RECURRENT_TYPES:
        raise SpecError(
            f"{reader.where}: model type {reader.model_type!r} is a recurrent model without "
            "attention, whose state kvplan does not read; write a spec YAML with state "
            "layers (conv_values, ssm_values; docs/specs.md)",
            field="model_type",
        )


def default_kinds(reader: ConfigReader, n_layers: int) -> Kinds | None:
    """The layer kinds a type's own rule gives, or None when kvplan knows no rule for it."""
    rule = RULES.get(reader.model_type)
    if rule is not None:
        return rule(reader, n_layers)
    if reader.model_type in DERIVED_LAYOUT_TYPES:
        raise SpecError(
            f"{reader.where}: model type {reader.model_type!r} derives its layer layout in "
            "its own code, which kvplan does not know; add layer_types to the config, or "
            "write a spec YAML (docs/specs.md)",
            field="layer_types",
        )
    return None
