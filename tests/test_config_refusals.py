"""Which config keys refuse a config: real configs that once were refused on keys that do not
shape the cache now load, with their bytes worked out by hand; keys that do still refuse.

The configs are real published ones (tests/data/more_configs/, `_source` in each).
"""

import json

import pytest

from kvplan.catalog import load_spec
from kvplan.configs import load_config, spec_from_config
from kvplan.errors import SpecError
from kvplan.sizing import model_cost

from .conftest import DATA

MORE = DATA / "more_configs"
K32 = 32768


def cache_bytes(spec, context: int = K32) -> int:
    """Bytes one bf16 sequence of `context` tokens holds (KV, latents and states)."""
    return model_cost(spec, "bf16").sequence_bytes(context)


def config(name: str) -> dict:
    return json.loads((MORE / name).read_text())


# Shipped specs built from these configs: the configs, refused until now on keys that do not
# shape the cache (use_bidirectional_attention 'vision', mtp_num_hidden_layers,
# mtp_transformer_layers, num_hash_layers), must give the spec's layers and bytes.
SHIPPED = [
    (
        "gemma-4-26B-A4B.json",
        "gemma-4-26b-a4b",
        # 25 sliding layers, 8 KV heads x 256, window 1024; 5 full layers, 2 KV heads x 512
        25 * 2 * 8 * 256 * 2 * 1024 + 5 * 2 * 2 * 512 * 2 * K32,
    ),
    (
        "Qwen3.5-27B.json",
        "qwen3.5-27b",
        # 16 full layers, 4 KV heads x 256; 48 gated-delta layers: conv (2 x 16 x 128 +
        # 48 x 128) x 3 values in bf16, state 48 heads x 128 x 128 values in fp32
        16 * 2 * 4 * 256 * 2 * K32 + 48 * ((2 * 16 * 128 + 48 * 128) * 3 * 2 + 48 * 128 * 128 * 4),
    ),
    ("MiniMax-M2.5.json", "minimax-m2.5", 62 * 2 * 8 * 128 * 2 * K32),
    (
        "DeepSeek-V4-Flash.json",
        "deepseek-v4-flash",
        # one K=V head of 512 in a 128-token window on all 43 layers; 21 CSA layers add
        # 512 + 128 values per 4 tokens, 20 HCA layers 512 values per 128 tokens
        43 * 128 * 512 * 2 + 21 * (K32 // 4) * 640 * 2 + 20 * (K32 // 128) * 512 * 2,
    ),
]  # fmt: skip


@pytest.mark.parametrize(("name", "shipped", "expected"), SHIPPED)
def test_real_configs_of_shipped_specs_load_and_give_the_specs_bytes(
    name, shipped, expected
):
    spec = load_config(MORE / name)
    assert spec.layers == load_spec(shipped).layers
    assert cache_bytes(spec) == cache_bytes(load_spec(shipped)) == expected


# Real configs once refused on a key that does not shape the cache (the key in the comment).
LOADED = [
    # num_beam_groups (a generation setting): MLA, 61 layers x (512 + 64) latent values
    ("Kimi-K2.5.json", 61 * (512 + 64) * 2 * K32),
    # indexer_rope_interleave (a rotary setting): 78 MLA layers, latent 576 + indexer key 128
    ("GLM-5.json", 78 * (512 + 64 + 128) * 2 * K32),
    # share_expert_dim (MoE): 12 full + 33 sliding(512) layers of 8 KV heads x 128
    ("Step-3.7-Flash.json", 12 * 2 * 8 * 128 * 2 * K32 + 33 * 2 * 8 * 128 * 2 * 512),
    # attn_type_list all 1 and mtp_transformer_layers: every layer softmax attention
    ("MiniMax-M2.7.json", 62 * 2 * 8 * 128 * 2 * K32),
    # use_sliding_window false beside sliding_window and max_window_layers: no window
    ("MiMo-7B-Base.json", 36 * 2 * 8 * 128 * 2 * K32),
    # order_of_interleaved_layers 'local_attn_first', layer_switch 4: 16 full + 48 sliding
    (
        "Command-A-03-2025-legacy-keys.json",
        16 * 2 * 8 * 128 * 2 * K32 + 48 * 2 * 8 * 128 * 2 * 4096,
    ),
    # dtype beside torch_dtype, both bfloat16
    ("Llama-3.1-8B-dtype-and-torch_dtype.json", 32 * 2 * 8 * 128 * 2 * K32),
]  # fmt: skip


@pytest.mark.parametrize(("name", "expected"), LOADED)
def test_real_configs_refused_on_keys_that_do_not_shape_the_cache_load(name, expected):
    assert cache_bytes(load_config(MORE / name)) == expected


def test_mtp_layers_are_read_and_said_to_be_left_out():
    # Qwen3.6-35B-A3B: 10 of 40 layers full attention (2 KV heads x 256); mtp_num_hidden_layers 1
    spec = load_config(MORE / "Qwen3.6-35B-A3B.json")
    assert model_cost(spec, "bf16").bytes_per_token == 10 * 2 * 2 * 256 * 2
    assert any(
        "multi-token prediction (mtp_num_hidden_layers = 1)" in r for r in spec.readings
    )


def test_bidirectional_attention_over_every_token_is_refused():
    data = config("gemma-4-26B-A4B.json")
    data["text_config"]["use_bidirectional_attention"] = "all"
    with pytest.raises(SpecError, match="use_bidirectional_attention = 'all'"):
        spec_from_config(data, name="x")


def test_dtype_and_torch_dtype_that_disagree_are_refused_naming_both():
    data = config("Llama-3.1-8B-dtype-and-torch_dtype.json")
    data["dtype"] = "float16"
    with pytest.raises(
        SpecError, match="torch_dtype = 'bfloat16' and dtype = 'float16' name different"
    ):
        spec_from_config(data, name="x")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "order_of_interleaved_layers",
            "global_attn_first",
            "knows only 'local_attn_first'",
        ),
        ("layer_switch", 6, "sliding_window_pattern = 4 and layer_switch = 6 disagree"),
    ],
)
def test_cohere2_legacy_keys_that_change_the_layout_are_refused(key, value, message):
    data = config("Command-A-03-2025-legacy-keys.json")
    data[key] = value
    with pytest.raises(SpecError, match=message):
        spec_from_config(data, name="x")


def test_minimax_m2_with_a_linear_attention_layer_is_refused():
    data = config("MiniMax-M2.7.json")
    data["attn_type_list"][5] = 0
    with pytest.raises(SpecError, match="lists 0 .* for layer 5"):
        spec_from_config(data, name="x")


def test_use_sliding_window_true_on_an_unknown_type_still_refuses_the_window():
    data = config("MiMo-7B-Base.json")
    data["use_sliding_window"] = True
    with pytest.raises(SpecError, match="sliding_window 32768 is set"):
        spec_from_config(data, name="x")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("kv_compression_ratio", 4),  # a compression
        ("rope_head_dim", 64),  # a rotary key naming a dimension
        ("num_swa_kv_heads", 2),  # KV heads
        ("global_attn_layers", [1, 3]),  # a layer list
    ],
)
def test_keys_that_may_shape_the_cache_still_refuse(key, value):
    data = config("MiniMax-M2.5.json")
    data[key] = value
    with pytest.raises(SpecError, match=f"does not read {key} = "):
        spec_from_config(data, name="x")


@pytest.mark.parametrize(
    "key",
    ["num_beam_groups", "indexer_rope_interleave", "share_expert_dim", "num_hash_layers",
     "use_grouped_topk", "mrope_section", "moe_router_scaling_factor", "attn_implementation",
     "image_token_index", "clip_qkv", "freeze_text_layers", "loss_ignore_index"],
)  # fmt: skip
def test_generation_rotary_and_routing_keys_do_not_refuse(key):
    data = config("MiniMax-M2.5.json")
    data[key] = 3
    assert cache_bytes(spec_from_config(data, name="x")) == 62 * 2 * 8 * 128 * 2 * K32


def test_layer_types_padded_with_the_mtp_layers_read_the_model_layers():
    # Step-3.x configs may list 45 + 3 layer types: the 3 trailing ones are MTP layers
    data = config("Step-3.7-Flash.json")
    data["layer_types"] += ["full_attention"] * data["num_nextn_predict_layers"]
    assert len(data["layer_types"]) == 48
    spec = spec_from_config(data, name="x")
    assert cache_bytes(spec) == 12 * 2 * 8 * 128 * 2 * K32 + 33 * 2 * 8 * 128 * 2 * 512
    data["layer_types"].append("full_attention")  # 49: no longer the MTP padding
    with pytest.raises(
        SpecError, match="layer_types lists 49 layers but the model has 45"
    ):
        spec_from_config(data, name="x")


def test_max_window_layers_beside_a_null_window_is_read_and_unused():
    data = config("MiMo-7B-Base.json")
    data.pop("use_sliding_window")
    data["sliding_window"] = None  # no window: max_window_layers places nothing
    assert cache_bytes(spec_from_config(data, name="x")) == 36 * 2 * 8 * 128 * 2 * K32
