"""What each supported model type assumes for keys its config.json may omit.

Values are those of the type's own config class (transformers, or the model's remote code for
types transformers does not ship); tests/test_config_defaults.py checks every entry against
transformers' classes. Two markers stand for rules rather than numbers:

- DERIVED: the type's code takes head_dim = hidden_size / num_attention_heads
- SAME_AS_HEADS: the type's code takes num_key_value_heads = num_attention_heads (MHA)

A key that a config omits and this table does not list is an error naming the key: kvplan
never guesses from hidden/heads for a type whose head_dim is its own key.
"""

DERIVED = "hidden_size / num_attention_heads"
SAME_AS_HEADS = "num_attention_heads (MHA)"

_LLAMA_LIKE = {"num_key_value_heads": SAME_AS_HEADS, "head_dim": DERIVED}

TYPE_DEFAULTS: dict[str, dict[str, object]] = {
    "llama": {
        **_LLAMA_LIKE,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "hidden_size": 4096,
        "max_position_embeddings": 2048,
    },
    "mistral": {
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": DERIVED,
        "hidden_size": 4096,
        "max_position_embeddings": 131072,
        "sliding_window": 4096,
    },
    "mixtral": {
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": DERIVED,
        "hidden_size": 4096,
        "max_position_embeddings": 131072,
        "sliding_window": None,
    },
    "qwen2": {
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "head_dim": DERIVED,
        "hidden_size": 4096,
        "max_position_embeddings": 32768,
        "use_sliding_window": False,
        "max_window_layers": 28,
    },
    "qwen2_moe": {
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
        "head_dim": DERIVED,
        "hidden_size": 2048,
        "max_position_embeddings": 32768,
        "use_sliding_window": False,
        "max_window_layers": 28,
    },
    "qwen3": {
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "head_dim": 128,
        "hidden_size": 4096,
        "max_position_embeddings": 32768,
        "use_sliding_window": False,
        "max_window_layers": 28,
    },
    "qwen3_moe": {
        "num_hidden_layers": 24,
        "num_attention_heads": 32,
        "num_key_value_heads": 4,
        "head_dim": DERIVED,
        "hidden_size": 2048,
        "max_position_embeddings": 32768,
        "use_sliding_window": False,
    },
    "qwen3_next": {
        "num_hidden_layers": 48,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "head_dim": 256,
        "hidden_size": 2048,
        "max_position_embeddings": 32768,
        "full_attention_interval": 4,
        "linear_num_key_heads": 16,
        "linear_num_value_heads": 32,
        "linear_key_head_dim": 128,
        "linear_value_head_dim": 128,
        "linear_conv_kernel_dim": 4,
    },
    "gemma": {
        "num_hidden_layers": 28,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
        "head_dim": 256,
        "hidden_size": 3072,
        "max_position_embeddings": 8192,
    },
    "gemma2": {
        "num_hidden_layers": 26,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "hidden_size": 2304,
        "max_position_embeddings": 8192,
        "sliding_window": 4096,
    },
    "gemma3_text": {
        "num_hidden_layers": 26,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "hidden_size": 2304,
        "max_position_embeddings": 131072,
        "sliding_window": 4096,
        "sliding_window_pattern": 6,
    },
    "gemma3n_text": {
        "num_hidden_layers": 35,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "head_dim": 256,
        "hidden_size": 2048,
        "max_position_embeddings": 32768,
        "sliding_window": 512,
    },
    "gemma4_text": {
        "num_hidden_layers": 30,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "hidden_size": 2304,
        "max_position_embeddings": 131072,
        "sliding_window": 512,
        "sliding_window_pattern": 6,
        "global_head_dim": 512,
        "num_kv_shared_layers": 0,
    },
    "cohere": {
        **_LLAMA_LIKE,
        "num_hidden_layers": 40,
        "num_attention_heads": 64,
        "hidden_size": 8192,
        "max_position_embeddings": 8192,
    },
    "cohere2": {
        **_LLAMA_LIKE,
        "num_hidden_layers": 40,
        "num_attention_heads": 64,
        "hidden_size": 8192,
        "max_position_embeddings": 8192,
        "sliding_window": 4096,
        "sliding_window_pattern": 4,
    },
    "phi3": {
        **_LLAMA_LIKE,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "hidden_size": 3072,
        "max_position_embeddings": 4096,
        "sliding_window": None,
    },
    "gpt2": {
        **_LLAMA_LIKE,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "hidden_size": 768,
        "max_position_embeddings": 1024,
    },
    "gpt_bigcode": {
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "head_dim": DERIVED,
        "hidden_size": 768,
        "max_position_embeddings": 1024,
        "multi_query": True,
    },
    "gptj": {
        **_LLAMA_LIKE,
        "num_hidden_layers": 28,
        "num_attention_heads": 16,
        "hidden_size": 4096,
        "max_position_embeddings": 2048,
    },
    "gpt_neox": {
        **_LLAMA_LIKE,
        "num_hidden_layers": 44,
        "num_attention_heads": 64,
        "hidden_size": 6144,
        "max_position_embeddings": 2048,
    },
    "falcon": {
        "num_hidden_layers": 32,
        "num_attention_heads": 71,
        "num_key_value_heads": SAME_AS_HEADS,
        "head_dim": DERIVED,
        "hidden_size": 4544,
        "max_position_embeddings": 2048,
        "multi_query": True,
        "new_decoder_architecture": False,
    },
    "bloom": {
        **_LLAMA_LIKE,
        "num_hidden_layers": 2,
        "num_attention_heads": 8,
        "hidden_size": 64,
    },
    "olmo2": {
        **_LLAMA_LIKE,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "hidden_size": 4096,
        "max_position_embeddings": 2048,
    },
    "starcoder2": {
        "num_hidden_layers": 30,
        "num_attention_heads": 24,
        "num_key_value_heads": 2,
        "head_dim": DERIVED,
        "hidden_size": 3072,
        "max_position_embeddings": 4096,
        "sliding_window": None,
    },
    "deepseek_v2": {
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "hidden_size": 4096,
        "max_position_embeddings": 2048,
        "kv_lora_rank": 512,
        "qk_rope_head_dim": 64,
        "qk_nope_head_dim": 128,
        "v_head_dim": 128,
    },
    "deepseek_v3": {
        "num_hidden_layers": 61,
        "num_attention_heads": 128,
        "hidden_size": 7168,
        "max_position_embeddings": 4096,
        "kv_lora_rank": 512,
        "qk_rope_head_dim": 64,
        "qk_nope_head_dim": 128,
        "v_head_dim": 128,
    },
    "gpt_oss": {
        "num_hidden_layers": 36,
        "num_attention_heads": 64,
        "num_key_value_heads": 8,
        "head_dim": 64,
        "hidden_size": 2880,
        "max_position_embeddings": 131072,
        "sliding_window": 128,
    },
    "llama4_text": {
        "num_hidden_layers": 48,
        "num_attention_heads": 40,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "hidden_size": 5120,
        "max_position_embeddings": 131072,
        "attention_chunk_size": 8192,
        "no_rope_layer_interval": 4,
    },
    "jamba": {
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": DERIVED,
        "hidden_size": 4096,
        "max_position_embeddings": 262144,
        "attn_layer_period": 8,
        "attn_layer_offset": 4,
        "mamba_d_state": 16,
        "mamba_d_conv": 4,
        "mamba_expand": 2,
    },
    # Types transformers does not ship: their remote code's rules (checked by hand, not tests).
    "baichuan": {**_LLAMA_LIKE},
    "chatglm": {"multi_query_attention": False},
    "internlm2": {**_LLAMA_LIKE},
}

# Nested text configs that omit model_type take the text type of their parent.
TEXT_TYPE_OF = {
    "gemma3": "gemma3_text",
    "gemma3n": "gemma3n_text",
    "gemma4": "gemma4_text",
    "llama4": "llama4_text",
    "mistral3": "mistral",
    "llava": "llama",
    "qwen2_vl": "qwen2",
    "qwen2_5_vl": "qwen2",
}

# Old or trimmed configs with no model_type: the type their architecture implies.
TYPE_OF_ARCHITECTURE = {
    "LlamaForCausalLM": "llama",
    "MistralForCausalLM": "mistral",
    "BloomForCausalLM": "bloom",
    "GPTNeoXForCausalLM": "gpt_neox",
    "GPT2LMHeadModel": "gpt2",
    "GPTJForCausalLM": "gptj",
    "FalconForCausalLM": "falcon",
    "Qwen2ForCausalLM": "qwen2",
    "GemmaForCausalLM": "gemma",
    "BaichuanForCausalLM": "baichuan",
}

# Types whose old names are aliases of a type in the table, with what the old name implies.
TYPE_ALIASES = {
    "RefinedWeb": ("falcon", {"new_decoder_architecture": True}),
    "RefinedWebModel": ("falcon", {"new_decoder_architecture": False}),
}


def type_defaults(model_type: str) -> dict[str, object]:
    """The defaults kvplan knows for a model type; empty for an unknown type."""
    return TYPE_DEFAULTS.get(model_type, {})
