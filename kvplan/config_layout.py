"""Which kind each layer is when a config.json does not list them: each type's own rule.

Transformers' config classes derive `layer_types` from their defaults when a config leaves it
out: gpt-oss alternates sliding and full, OLMo-3 makes every 4th layer full, MiniMax alternates
full and linear attention, Bamba puts attention only on `attn_layer_indices`. kvplan applies
the same rule for each type in RULES (read from transformers 5.25's classes, named beside each
rule, or the model's remote code); tests/test_config_layout.py checks every rule against the
class. A type whose class derives a layout kvplan has no rule for (DERIVED_LAYOUT_TYPES) is
refused unless the config lists its layers: kvplan never reads it as "every layer the same".
The hybrid and recurrent types' rules live in config_layout_hybrid.py.

Kind words: full, sliding, chunked, state (a recurrent state: Mamba, linear attention, a short
convolution), hybrid (attention and a Mamba mixer side by side), mlp (no cache).
"""

from collections.abc import Callable

from kvplan.config_layout_hybrid import (
    Kinds,
    all_state,
    bamba,
    check_list,
    kimi_linear,
    lfm2,
    minimax,
    minimax_m2,
    nemotron_h,
    recurrent_gemma,
)
from kvplan.config_reader import ConfigReader
from kvplan.errors import SpecError

__all__ = [
    "RULES",
    "check_list",
    "default_kinds",
    "every",
    "ordinal",
    "refuse_recurrent",
]


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


def _cohere2(reader: ConfigReader, n: int) -> Kinds:
    # Cohere2Config: sliding unless (i + 1) % sliding_window_pattern == 0. The first release's
    # configs also carry its older spelling: layer_switch (the period, which must agree) and
    # order_of_interleaved_layers "local_attn_first" (sliding layers first in each period,
    # the one order transformers and vLLM implement).
    order = reader.get("order_of_interleaved_layers", default="local_attn_first")
    if order != "local_attn_first":
        raise SpecError(
            f"{reader.where}: order_of_interleaved_layers {order!r}: kvplan knows only "
            "'local_attn_first' (sliding layers first, as transformers' Cohere2 code runs "
            "them); add layer_types, or write a spec YAML (docs/specs.md)",
            field="order_of_interleaved_layers",
        )
    period = reader.integer("sliding_window_pattern", "layer_switch")
    return every(n, period, hit="full", miss="sliding"), (
        f"cohere2: every {ordinal(period)} layer full, the sliding layers first "
        "(sliding_window_pattern)"
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
    "minimax": minimax,
    "minimax_text_01": minimax,  # MiniMax-Text-01 / M1 remote code: attn_type_list
    "minimax_m1": minimax,
    "minimax_m2": minimax_m2,
    "cohere2": _cohere2,
    "bamba": bamba,
    "granitemoehybrid": all_state,  # GraniteMoeHybridConfig: every layer Mamba-2
    "mamba": all_state,
    "falcon_mamba": all_state,
    "mamba2": all_state,
    "nemotron_h": nemotron_h,
    "kimi_linear": kimi_linear,
    "recurrent_gemma": recurrent_gemma,
    "lfm2": lfm2,
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
