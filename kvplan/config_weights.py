"""Hugging Face config -> WeightShape: vocabulary, MLP widths, biases, norms, experts, mixers.

Each supported model type's fixed traits (which linears carry biases, LayerNorm or RMSNorm, how
many norms a layer has, a learned position table) come from its modeling code in transformers
(or the model's remote code), written in `_TRAITS`; the sizes come from the config's keys. A
type not in `_TRAITS`, or a config missing a size, gives no WeightShape: the spec still sizes
the cache, and `kvplan capacity` asks for `--weights` or `--params`, naming both.
"""

from kvplan.config_reader import ConfigReader
from kvplan.errors import SpecError
from kvplan.weight_shape import MixerShape, MoeShape, WeightShape

# Fixed traits per model type (WeightShape fields); sizes are read from the config.
_GPT2_LIKE = {
    "gated_mlp": False,
    "attention_bias": "all",
    "mlp_bias": True,
    "norm_bias": True,
}
_TRAITS: dict[str, dict] = {
    "llama": {},
    "mistral": {},
    "mixtral": {},
    "qwen2": {"attention_bias": "qkv"},
    "qwen2_moe": {"attention_bias": "qkv"},
    "qwen2_vl_text": {"attention_bias": "qkv"},
    "qwen2_5_vl_text": {"attention_bias": "qkv"},
    "qwen3": {"qk_norm": "head"},
    "qwen3_moe": {"qk_norm": "head"},
    "qwen3_vl_text": {"qk_norm": "head"},
    "qwen3_vl_moe_text": {"qk_norm": "head"},  # Qwen3-VL-MoE: qwen3_moe's text layers
    "gemma": {},
    "gemma2": {"norms_per_layer": 4},
    "gemma3_text": {"norms_per_layer": 4, "qk_norm": "head"},
    "phi3": {},
    "olmo2": {"qk_norm": "full"},
    "cohere": {"norms_per_layer": 1},  # parallel attention and MLP after one LayerNorm
    "baichuan": {},
    "chatglm": {},
    "gpt2": {**_GPT2_LIKE},
    "gpt_bigcode": {**_GPT2_LIKE},
    "gpt_neox": {**_GPT2_LIKE},
    "bloom": {**_GPT2_LIKE, "embedding_norm": True},
    "starcoder2": {"gated_mlp": False, "norm_bias": True},
    "gptj": {
        "gated_mlp": False,
        "mlp_bias": True,
        "norm_bias": True,
        "norms_per_layer": 1,
        "lm_head_bias": True,
    },
    "falcon": {"gated_mlp": False, "norm_bias": True},
    "deepseek_v2": {},
    "deepseek_v3": {},
    "deepseek_v32": {},
    "kimi_k2": {},
    "gpt_oss": {"attention_bias": "all", "attention_sinks": True},
    "llama4_text": {},
    "jamba": {},
    "minimax_m2": {"qk_norm": "full"},
    "qwen3_next": {"qk_norm": "head"},
    "qwen3_5_text": {"qk_norm": "head"},
    "qwen3_5_moe_text": {"qk_norm": "head"},
    "nemotron_h": {"gated_mlp": False, "norms_per_layer": 1, "block_mlp": False},
}

# Types whose attention multiplies its output by a gate that q_proj also emits.
_GATED_ATTENTION = ("qwen3_next", "qwen3_5_text", "qwen3_5_moe_text")

# Types whose MLP width defaults to 4 x hidden when the config leaves it out.
_FOUR_X_HIDDEN = ("gpt2", "gpt_bigcode", "gptj", "falcon", "bloom")


def read_weights(
    reader: ConfigReader, *, n_layers: int, hidden: int, top: dict | None = None
) -> WeightShape | None:
    """The WeightShape a config gives, or None with a reading that says why not."""
    traits = _TRAITS.get(reader.model_type)
    if traits is None:
        reader.readings.append(
            f"parameter count not read: kvplan does not know the layer layout of model "
            f"type {reader.model_type!r} (kvplan capacity then needs --weights or --params)"
        )
        return None
    try:
        return _shape(reader, dict(traits), n_layers=n_layers, hidden=hidden, top=top)
    except SpecError as error:
        reader.readings.append(
            f"parameter count not read ({error.args[0]}); "
            "kvplan capacity then needs --weights or --params"
        )
        return None


def _shape(reader: ConfigReader, traits: dict, *, n_layers: int, hidden: int, top):
    """The WeightShape from a config known to be of a supported type."""
    kind = reader.model_type
    traits.update(_biases(reader, kind))
    if kind == "falcon":
        traits["norms_per_layer"] = _falcon_norms(reader)
    if kind in ("gpt2", "gpt_bigcode"):
        traits["position_embeddings"] = reader.integer(
            "n_positions", "max_position_embeddings"
        )
    if kind == "cohere" and reader.flag("use_qk_norm"):
        traits["qk_norm"] = "full"
    if kind in _GATED_ATTENTION:
        traits["attention_output_gate"] = bool(
            reader.get("attn_output_gate", default=True)
        )
    if reader.present("q_lora_rank"):
        traits["q_lora_rank"] = reader.integer("q_lora_rank")
    if reader.present("index_n_heads"):
        traits["index_n_heads"] = reader.integer("index_n_heads")
    moe = _moe(reader, kind)
    return WeightShape(
        vocab_size=reader.integer("vocab_size", "padded_vocab_size"),
        intermediate_size=_mlp_width(reader, kind, hidden, moe, n_layers),
        tie_embeddings=_tied(reader, top or {}),
        moe=moe,
        mixer=_mixer(reader, kind, hidden),
        **traits,
    )


def _tied(reader: ConfigReader, top: dict) -> bool:
    """tie_word_embeddings of the text config, else of the outer (multimodal) config.

    Types that tie by default say so in config_defaults; the others' classes default to
    untied embeddings.
    """
    if reader.present("tie_word_embeddings") or "tie_word_embeddings" not in top:
        return bool(reader.get("tie_word_embeddings", default=False))
    reader.readings.append("tie_word_embeddings read from the outer config")
    return bool(top["tie_word_embeddings"])


def _biases(reader: ConfigReader, kind: str) -> dict:
    """Bias traits that a config key switches (attention_bias, mlp_bias, bias, use_bias)."""
    out: dict = {}
    if kind in ("llama", "mistral", "qwen3", "qwen3_moe", "olmo2", "cohere"):
        if reader.flag("attention_bias"):
            out["attention_bias"] = "all"
        if reader.flag("mlp_bias"):
            out["mlp_bias"] = True
    if kind == "chatglm":
        out["attention_bias"] = "qkv" if reader.flag("add_qkv_bias") else "none"
        if reader.flag("add_bias_linear"):
            out.update(attention_bias="all", mlp_bias=True)
    if kind == "gpt_neox" and not reader.get("attention_bias", default=True):
        out["attention_bias"] = "none"
    if kind == "falcon" and reader.flag("bias"):
        out.update(attention_bias="all", mlp_bias=True)
    if kind == "starcoder2" and reader.get("use_bias", default=True):
        out.update(attention_bias="all", mlp_bias=True)
    return out


def _falcon_norms(reader: ConfigReader) -> int:
    """Falcon: two LayerNorms (attention and MLP) in the new decoder, else one or two."""
    if reader.flag("new_decoder_architecture"):
        return reader.get("num_ln_in_parallel_attn", default=None) or 2
    return 1 if reader.get("parallel_attn", default=True) else 2


def _mlp_width(reader, kind, hidden, moe, n_layers) -> int:
    """The dense MLP's width; 0 when every layer is MoE and no key names a dense width."""
    if kind == "llama4_text":
        return reader.integer("intermediate_size_mlp")
    if kind == "bloom":
        return 4 * hidden  # Bloom's MLP is 4 x hidden by construction (no config key)
    if kind == "chatglm":
        return reader.integer("ffn_hidden_size")
    if kind in _FOUR_X_HIDDEN:
        width = reader.get(
            "intermediate_size", "ffn_hidden_size", "n_inner", default=None
        )
        return width or 4 * hidden
    if moe is not None and all(moe.is_moe_layer(i) for i in range(n_layers)):
        if not reader.present("moe_intermediate_size", "expert_intermediate_size"):
            return 0  # intermediate_size is the experts' width (Mixtral, gpt-oss)
        if not reader.present("intermediate_size"):
            return 0  # Qwen3.5-MoE gives no dense width: no layer has one
        return reader.integer("intermediate_size")  # kept, though no layer uses it
    return reader.integer("intermediate_size")


def _moe(reader: ConfigReader, kind: str) -> MoeShape | None:
    """Routed experts, from whichever keys the type uses."""
    experts = reader.get(
        "num_local_experts", "num_experts", "n_routed_experts", default=None
    )
    if not experts:
        return None
    if reader.get("mlp_only_layers", default=None):
        raise SpecError("mlp_only_layers is not supported", field="mlp_only_layers")
    fields: dict = {
        "experts": experts,
        "experts_per_token": reader.integer("num_experts_per_tok", "experts_per_token"),
        "intermediate_size": _expert_width(reader),
    }
    fields.update(_moe_layers(reader, kind))
    fields.update(_shared_experts(reader, kind, fields["intermediate_size"]))
    if kind == "gpt_oss":
        fields.update(router_bias=True, expert_bias=True)
    if reader.get("topk_method", default="") == "noaux_tc" or reader.flag(
        "use_routing_bias"
    ):
        fields["router_bias"] = True  # a per-expert score correction bias
    return MoeShape(**fields)


def _expert_width(reader: ConfigReader) -> int:
    """One routed expert's MLP width.

    moe_intermediate_size where the config gives it: intermediate_size is then a different
    quantity, the dense layers' (or the unused dense) MLP width, as in DeepSeek-V3, Qwen3-MoE
    and Kimi-K2. Without it, intermediate_size is the experts' width (Mixtral, gpt-oss).
    """
    if reader.present("moe_intermediate_size", "expert_intermediate_size"):
        return reader.integer("moe_intermediate_size", "expert_intermediate_size")
    return reader.integer("intermediate_size")


def _moe_layers(reader: ConfigReader, kind: str) -> dict:
    """Which layers are MoE: first_dense_layers, then index % period == offset."""
    if kind == "jamba":
        return {
            "layer_period": reader.integer("expert_layer_period"),
            "layer_offset": reader.get("expert_layer_offset"),
        }
    if reader.present("first_k_dense_replace", "moe_layer_freq"):
        return {
            "first_dense_layers": reader.get("first_k_dense_replace", default=0) or 0,
            "layer_period": reader.integer("moe_layer_freq", default=1),
        }
    step = reader.get("decoder_sparse_step", "interleave_moe_layer_step", default=1)
    return {"layer_period": step, "layer_offset": step - 1}  # (i + 1) % step == 0


def _shared_experts(reader: ConfigReader, kind: str, expert_width: int) -> dict:
    """Shared experts: DeepSeek's n_shared_experts, Qwen2-MoE's gated one, Llama-4's one."""
    if kind == "llama4_text":
        return {"shared_experts": 1, "shared_intermediate_size": expert_width}
    width = reader.get("shared_expert_intermediate_size", default=None)
    if width:
        return {
            "shared_experts": 1,
            "shared_intermediate_size": width,
            "shared_gate": True,
        }
    count = reader.get("n_shared_experts", default=0) or 0
    if count:
        return {"shared_experts": count, "shared_intermediate_size": expert_width}
    return {}


def _mixer(reader: ConfigReader, kind: str, hidden: int) -> MixerShape | None:
    """The mixer of hybrid types: Jamba's Mamba-1, Nemotron-H's Mamba-2, Qwen's linear attention."""
    if kind == "jamba":
        return MixerShape(
            kind="mamba",
            inner=reader.integer("mamba_expand") * hidden,
            state=reader.integer("mamba_d_state"),
            conv_kernel=reader.integer("mamba_d_conv"),
            dt_rank=reader.integer("mamba_dt_rank"),
            conv_bias=bool(reader.get("mamba_conv_bias", default=True)),
            proj_bias=reader.flag("mamba_proj_bias"),
            inner_norms=True,
        )
    if kind == "nemotron_h":
        return MixerShape(
            kind="mamba2",
            heads=reader.integer("mamba_num_heads"),
            head_dim=reader.integer("mamba_head_dim"),
            groups=reader.integer("n_groups"),
            state=reader.integer("ssm_state_size"),
            conv_kernel=reader.integer("conv_kernel"),
            conv_bias=bool(reader.get("use_conv_bias", default=True)),
            proj_bias=reader.flag("mamba_proj_bias"),
        )
    if kind in _GATED_ATTENTION:
        return MixerShape(
            kind="linear_attention",
            key_heads=reader.integer("linear_num_key_heads"),
            key_head_dim=reader.integer("linear_key_head_dim"),
            value_heads=reader.integer("linear_num_value_heads"),
            value_head_dim=reader.integer("linear_value_head_dim"),
            conv_kernel=reader.integer("linear_conv_kernel_dim"),
            conv_bias=False,
        )
    return None
