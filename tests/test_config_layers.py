"""Layer kinds read from real configs, each checked with its arithmetic written out."""

import pytest

from kvplan.configs import load_config, spec_from_config
from kvplan.errors import SpecError
from kvplan.estimate import estimate
from kvplan.sizing import model_cost

from .conftest import CONFIGS


def kv(spec, context, *, batch=1, dtype="bf16", **options):
    return estimate(spec, context=context, batch=batch, cache_dtype=dtype, **options)[0]


def test_mistral_v01_caps_every_layer_at_its_window():
    spec = load_config(CONFIGS / "Mistral-7B-v0.1.json")
    per_token = 32 * 2 * 8 * 128 * 2
    assert kv(spec, 4096)["kv_bytes"] == per_token * 4096
    assert kv(spec, 32768)["kv_bytes"] == per_token * 4096  # capped at the 4096 window
    assert kv(spec, 32768)["kv_bytes_per_extra_token"] == 0


def test_gemma2_9b_alternates_local_and_global():
    spec = load_config(CONFIGS / "Gemma-2-9b-it.json")
    assert spec.layout == "21 sliding(4096) + 21 full"
    assert spec.layers[0].kind == "sliding" and spec.layers[1].kind == "full"
    per_layer_token = 2 * 8 * 256 * 2
    local = 21 * per_layer_token * 4096
    glob = 21 * per_layer_token * 8192
    assert kv(spec, 8192)["kv_bytes"] == local + glob
    assert kv(spec, 8192)["kv_bytes_per_extra_token"] == 21 * per_layer_token


def gemma3_27b_config():
    # google/gemma-3-27b-it text_config values (the published file is sparse like the 4B one)
    return {
        "model_type": "gemma3",
        "text_config": {
            "model_type": "gemma3_text",
            "num_hidden_layers": 62,
            "hidden_size": 5376,
            "num_attention_heads": 32,
            "num_key_value_heads": 16,
            "head_dim": 128,
            "sliding_window": 1024,
        },
    }


def test_gemma3_27b_five_local_to_one_global():
    spec = spec_from_config(gemma3_27b_config(), name="gemma-3-27b")
    # layer i is global when (i + 1) % 6 == 0: i = 5, 11, ..., 59 -> 10 global, 52 local
    assert spec.layout == "52 sliding(1024) + 10 full"
    assert [i for i, x in enumerate(spec.layers) if x.kind == "full"] == list(
        range(5, 62, 6)
    )
    per_layer_token = 2 * 16 * 128 * 2
    assert kv(spec, 131072)["kv_bytes"] == (52 * 1024 + 10 * 131072) * per_layer_token
    assert kv(spec, 512)["kv_bytes"] == 62 * 512 * per_layer_token  # below the window


def test_gpt_oss_120b_below_and_above_its_128_token_window():
    spec = load_config(CONFIGS / "gpt-oss-120b.json")
    below = kv(spec, 100)
    assert below["kv_bytes_per_token"] == 36 * 2 * 8 * 64 * 2 == 73_728
    assert below["kv_bytes_per_extra_token"] == 73_728
    above = kv(spec, 1000)
    assert above["kv_bytes_per_extra_token"] == 18 * 2 * 8 * 64 * 2 == 36_864
    assert above["kv_bytes"] == 18 * 2048 * 128 + 18 * 2048 * 1000


def test_deepseek_v3_latent_and_expanded():
    spec = load_config(CONFIGS / "DeepSeek-V3.json")
    assert spec.layout == "61 mla(512+64)"
    assert kv(spec, 1)["kv_bytes_per_token"] == 61 * (512 + 64) * 2 == 70_272
    expanded = kv(spec, 1, mla="expanded")
    # 128 heads x (K: 128 nope + 64 rope, V: 128) per layer
    assert (
        expanded["kv_bytes_per_token"] == 61 * 128 * ((128 + 64) + 128) * 2 == 4_997_120
    )
    assert expanded["mla_mode"] == "expanded"


def test_mla_latent_in_int8_has_one_scale_per_token_per_layer():
    spec = load_config(CONFIGS / "DeepSeek-V3.json")
    assert kv(spec, 1, dtype="int8")["kv_bytes_per_token"] == 61 * (576 + 2)


def test_deepseek_v32_indexer_key_is_counted():
    config = {
        "model_type": "deepseek_v32",
        "num_hidden_layers": 61,
        "num_attention_heads": 128,
        "hidden_size": 7168,
        "kv_lora_rank": 512,
        "qk_rope_head_dim": 64,
        "qk_nope_head_dim": 128,
        "v_head_dim": 128,
        "index_head_dim": 128,
        "index_n_heads": 64,
    }
    spec = spec_from_config(config, name="ds32")
    assert kv(spec, 1)["kv_bytes_per_token"] == 61 * (576 + 128) * 2


def test_llama4_scout_chunked_local_layers():
    spec = load_config(CONFIGS / "Llama-4-Scout-17B-16E-Instruct.json")
    assert (
        spec.layout == "36 chunked(8192) + 12 full"
    )  # every 4th layer is global (NoPE)
    per_layer_token = 2 * 8 * 128 * 2
    assert kv(spec, 131072)["kv_bytes"] == (36 * 8192 + 12 * 131072) * per_layer_token


def test_jamba_attention_and_mamba_split_with_a_fixed_state():
    spec = load_config(CONFIGS / "AI21-Jamba-1.5-Mini.json")
    assert spec.layout == "28 state(mamba) + 4 full"
    assert [i for i, x in enumerate(spec.layers) if x.kind == "full"] == [4, 12, 20, 28]
    inner = 2 * 4096  # mamba_expand x hidden_size
    state = (
        28 * (inner * (4 - 1) + inner * 16) * 2
    )  # conv (d_conv - 1) + SSM (d_state), bf16
    row = kv(spec, 1000, batch=2)
    assert row["state_bytes_per_sequence"] == state
    assert row["kv_bytes"] == 2 * (4 * 2 * 8 * 128 * 2 * 1000 + state)
    assert kv(spec, 2000)["state_bytes_per_sequence"] == state  # constant in context


def test_nemotron_h_pattern_string():
    spec = load_config(CONFIGS / "Nemotron-H-56B-Base-8K.json")
    assert spec.layout == "54 state(mamba2) + 54 mlp + 10 full"
    inner = 256 * 64  # mamba_num_heads x mamba_head_dim
    conv = (inner + 2 * 8 * 256) * (
        4 - 1
    )  # (inner + 2 x n_groups x d_state) x (kernel - 1)
    ssm = 256 * 64 * 256  # heads x head_dim x d_state
    assert kv(spec, 1)["state_bytes_per_sequence"] == 54 * (conv + ssm) * 2


def qwen3_next_config():
    # Qwen/Qwen3-Next-80B-A3B-Instruct values
    return {
        "model_type": "qwen3_next",
        "num_hidden_layers": 48,
        "hidden_size": 2048,
        "num_attention_heads": 16,
        "num_key_value_heads": 2,
        "head_dim": 256,
        "full_attention_interval": 4,
        "linear_num_key_heads": 16,
        "linear_num_value_heads": 32,
        "linear_key_head_dim": 128,
        "linear_value_head_dim": 128,
        "linear_conv_kernel_dim": 4,
    }


def test_linear_attention_hybrid():
    spec = spec_from_config(qwen3_next_config(), name="qwen3-next")
    assert spec.layout == "36 state(linear_attention) + 12 full"
    conv = (2 * 16 * 128 + 32 * 128) * (4 - 1)
    recurrent = 32 * 128 * 128  # value heads x key dim x value dim
    row = kv(spec, 4096)
    assert row["state_bytes_per_sequence"] == 36 * (conv + recurrent) * 2
    assert row["kv_bytes_per_token"] == 12 * 2 * 2 * 256 * 2


def test_global_layers_with_their_own_kv_heads_and_head_dim():
    # Gemma-4 style: global layers take global_head_dim and num_global_key_value_heads
    config = {
        "model_type": "gemma4_text",
        "num_hidden_layers": 12,
        "hidden_size": 2048,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "global_head_dim": 512,
        "num_global_key_value_heads": 2,
        "attention_k_eq_v": True,
        "sliding_window": 512,
    }
    spec = spec_from_config(config, name="g4")
    full = [x for x in spec.layers if x.kind == "full"]
    assert len(full) == 2 and full[0].n_kv_heads == 2 and full[0].head_dim_k == 512
    row = kv(spec, 4096)
    assert row["kv_bytes"] == 10 * 2 * 4 * 256 * 2 * 512 + 2 * 2 * 2 * 512 * 2 * 4096


def test_per_layer_kv_head_lists():
    config = {
        "model_type": "llama",
        "num_hidden_layers": 3,
        "hidden_size": 512,
        "num_attention_heads": 8,
        "num_key_value_heads": [1, 2, 4],
        "head_dim": 64,
    }
    spec = spec_from_config(config, name="per-layer")
    assert kv(spec, 10)["kv_bytes"] == (1 + 2 + 4) * 2 * 64 * 2 * 10


def test_shared_kv_layers_store_nothing():
    config = {
        "model_type": "gemma3n_text",
        "num_hidden_layers": 30,
        "hidden_size": 2048,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "head_dim": 256,
        "sliding_window": 512,
        "num_kv_shared_layers": 10,
        "layer_types": ["sliding_attention"] * 4 * 6 + ["full_attention"] * 6,
    }
    config["layer_types"] = (["sliding_attention"] * 4 + ["full_attention"]) * 6
    spec = spec_from_config(config, name="g3n")
    assert spec.layout == "16 sliding(512) + 4 full + 10 shared"
    assert kv(spec, 1000)["kv_bytes"] == (16 * 512 + 4 * 1000) * 2 * 2 * 256 * 2


def test_cla_share_factor():
    config = {
        "model_type": "hunyuan_v1_dense",
        "num_hidden_layers": 4,
        "hidden_size": 512,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "head_dim": 64,
        "use_cla": True,
        "cla_share_factor": 2,
    }
    spec = spec_from_config(config, name="cla")
    assert spec.layout == "2 full + 2 shared"


def test_qwen25_sliding_window_switched_off():
    spec = load_config(CONFIGS / "Qwen2.5-7B.json")
    assert spec.layout == "28 full"
    assert any("use_sliding_window is false" in text for text in spec.readings)


def test_qwen2_sliding_window_switched_on_uses_max_window_layers():
    config = {
        "model_type": "qwen2",
        "num_hidden_layers": 4,
        "hidden_size": 512,
        "num_attention_heads": 8,
        "num_key_value_heads": 2,
        "use_sliding_window": True,
        "sliding_window": 1024,
        "max_window_layers": 2,
    }
    spec = spec_from_config(config, name="q")
    assert [x.kind for x in spec.layers] == ["full", "full", "sliding", "sliding"]


def test_layer_types_win_over_patterns():
    config = {
        "model_type": "gemma3_text",
        "num_hidden_layers": 3,
        "hidden_size": 512,
        "num_attention_heads": 4,
        "num_key_value_heads": 1,
        "head_dim": 64,
        "sliding_window": 16,
        "sliding_window_pattern": 2,
        "layer_types": ["full_attention", "sliding_attention", "sliding_attention"],
    }
    spec = spec_from_config(config, name="x")
    assert [x.kind for x in spec.layers] == ["full", "sliding", "sliding"]


def test_unknown_layer_type_is_refused_with_the_key_named():
    config = {
        "model_type": "llama",
        "num_hidden_layers": 2,
        "hidden_size": 512,
        "num_attention_heads": 8,
        "layer_types": ["full_attention", "warp_attention"],
    }
    with pytest.raises(SpecError, match="layer_types.*warp_attention"):
        spec_from_config(config, name="x")


def test_layer_types_of_the_wrong_length_are_refused():
    config = {
        "model_type": "llama",
        "num_hidden_layers": 3,
        "hidden_size": 512,
        "num_attention_heads": 8,
        "layer_types": ["full_attention"],
    }
    with pytest.raises(SpecError, match="1 layers but the model has 3"):
        spec_from_config(config, name="x")


def test_sliding_layers_without_a_window_are_refused():
    config = {
        "model_type": "llama",
        "num_hidden_layers": 2,
        "hidden_size": 512,
        "num_attention_heads": 8,
        "layer_types": ["sliding_attention"] * 2,
    }
    with pytest.raises(SpecError, match="sliding_window"):
        spec_from_config(config, name="x")


def test_by_layer_rows_sum_to_the_total():
    spec = load_config(CONFIGS / "Gemma-2-9b-it.json")
    groups = estimate(spec, context=8192, batch=2, by_layer=True)
    total = kv(spec, 8192, batch=2)["kv_bytes"]
    assert sum(r["kv_bytes"] for r in groups) == total
    assert [(r["layers"], r["layer_type"], r["tokens_held"]) for r in groups] == [
        (21, "sliding(4096)", 4096),
        (21, "full", 8192),
    ]


def test_state_dtype_option():
    spec = load_config(CONFIGS / "AI21-Jamba-1.5-Mini.json")
    bf16 = model_cost(spec, "bf16").state_bytes
    assert model_cost(spec, "bf16", state_dtype="fp32").state_bytes == 2 * bf16


def deepseek_v4_flash_config():
    # deepseek-ai/DeepSeek-V4-Flash values (the compress_ratios list has one extra MTP entry)
    return {
        "model_type": "deepseek_v4",
        "num_hidden_layers": 43,
        "hidden_size": 4096,
        "num_attention_heads": 64,
        "num_key_value_heads": 1,
        "head_dim": 512,
        "qk_rope_head_dim": 64,
        "sliding_window": 128,
        "index_head_dim": 128,
        "index_n_heads": 64,
        "index_topk": 512,
        "compress_ratios": [0, 0] + [4, 128] * 20 + [4, 0],
    }


def test_compressed_attention_window_plus_compressed_entries():
    spec = spec_from_config(deepseek_v4_flash_config(), name="v4")
    assert spec.layout == (
        "2 sliding(128) + 21 sliding(128)+compressed(1/4) + 20 sliding(128)+compressed(1/128)"
    )
    window = 43 * 128 * 512 * 2  # one K=V tensor of the last 128 tokens, every layer
    csa = (
        21 * (131072 // 4) * (512 + 128) * 2
    )  # an entry and an indexer key per 4 tokens
    hca = 20 * (131072 // 128) * 512 * 2  # one entry per 128 tokens
    assert kv(spec, 131072)["kv_bytes"] == window + csa + hca == 907_411_456
    assert kv(spec, 100)["kv_bytes_per_token"] == 43 * 512 * 2  # K=V: no separate V


def test_compressed_entries_grow_once_per_ratio():
    spec = spec_from_config(deepseek_v4_flash_config(), name="v4")
    # token 1000 closes a CSA window (1000 % 4 == 0) but no HCA window (1000 % 128 != 0)
    assert kv(spec, 999)["kv_bytes_per_extra_token"] == 21 * (512 + 128) * 2
    assert kv(spec, 1000)["kv_bytes_per_extra_token"] == 0
    assert kv(spec, 1023)["kv_bytes_per_extra_token"] == 21 * 1280 + 20 * 1024


def test_ssm_state_dtype_from_the_config():
    config = qwen3_next_config() | {"mamba_ssm_dtype": "float32"}
    spec = spec_from_config(config, name="q")
    conv = (2 * 16 * 128 + 32 * 128) * (4 - 1) * 2  # conv state in bf16
    recurrent = 32 * 128 * 128 * 4  # recurrent state in fp32
    assert kv(spec, 1)["state_bytes_per_sequence"] == 36 * (conv + recurrent)
