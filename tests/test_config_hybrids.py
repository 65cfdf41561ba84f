"""Hybrid and recurrent layouts read from configs, each with its arithmetic written out.

The configs live in tests/data/more_configs/, each with the repo it describes in `_source`.
"""

import json

import pytest

from kvplan.config_layout import ordinal
from kvplan.configs import load_config, spec_from_config
from kvplan.errors import SpecError
from kvplan.estimate import estimate

from .conftest import DATA

MORE = DATA / "more_configs"


def llama(**keys) -> dict:
    """A small llama config with `keys` added or replaced."""
    return {
        "model_type": "llama",
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "hidden_size": 256,
        **keys,
    }


def row(spec, context, *, dtype="bf16", **options):
    return estimate(spec, context=context, cache_dtype=dtype, **options)[0]


def config(name: str) -> dict:
    return json.loads((MORE / name).read_text())


def test_bamba_attention_only_on_attn_layer_indices():
    spec = load_config(MORE / "Bamba-9B.json")
    assert spec.layout == "29 state(mamba2) + 3 full"
    assert [i for i, x in enumerate(spec.layers) if x.kind == "full"] == [9, 18, 27]
    # Mamba-2: inner = 2 x 4096 = 8192 = 128 heads x 64; conv (8192 + 2 x 1 x 128) x (4 - 1)
    conv, ssm = (8192 + 2 * 1 * 128) * 3, 128 * 64 * 128
    assert (spec.layers[0].conv_values, spec.layers[0].ssm_values) == (
        25_344,
        1_048_576,
    )
    state = 29 * (conv + ssm) * 2
    attention = 3 * 2 * 8 * 128 * 2  # per token
    got = row(spec, 8192)
    assert got["kv_bytes_per_token"] == attention == 12_288
    assert got["state_bytes_per_sequence"] == state == 62_287_360
    assert got["kv_bytes"] == attention * 8192 + state == 162_950_656


def test_minimax_text_01_attn_type_list_and_lightning_state():
    spec = load_config(MORE / "MiniMax-Text-01.json")
    # attn_type_list: one softmax layer (1) after every 7 lightning layers (0)
    assert [i for i, x in enumerate(spec.layers) if x.kind == "full"] == list(
        range(7, 80, 8)
    )
    assert spec.layout == "70 state(lightning) + 10 full"
    state_values = 64 * 128 * 128  # heads x head_dim x head_dim: one K^T V matrix
    got = row(spec, 8192)
    assert got["state_bytes_per_sequence"] == 70 * state_values * 2 == 146_800_640
    assert got["kv_bytes_per_token"] == 10 * 2 * 8 * 128 * 2 == 40_960


def test_minimax_type_reads_attn_type_list_and_alternates_without_it():
    data = config("MiniMax-M1-hf-attn_type_list.json")
    assert load_config(MORE / "MiniMax-M1-hf-attn_type_list.json").layout == (
        "70 state(lightning) + 10 full"
    )
    del data["attn_type_list"]
    spec = spec_from_config(data, name="minimax")
    # MiniMaxConfig: layer i full when (i + 1) % 2, so layers 0, 2, 4, ... are full
    assert [x.kind for x in spec.layers[:4]] == ["full", "state", "full", "state"]
    assert spec.layout == "40 full + 40 state(lightning)"


def test_minimax_layer_types_with_linear_attention_is_lightning_not_mamba():
    data = config("MiniMax-M1-hf-attn_type_list.json")
    data["layer_types"] = ["linear_attention", "full_attention"] * 40
    del data["attn_type_list"]
    spec = spec_from_config(data, name="minimax")
    assert spec.layout == "40 state(lightning) + 40 full"
    assert spec.layers[0].ssm_values == 64 * 128 * 128


def test_kimi_linear_full_attn_layers_are_mla_the_others_kda():
    spec = load_config(MORE / "Kimi-Linear-48B-A3B.json")
    # full_attn_layers are 1-indexed: 4, 8, ..., 24, 27 -> indices 3, 7, ..., 23, 26
    assert [i for i, x in enumerate(spec.layers) if x.kind == "mla"] == [
        3, 7, 11, 15, 19, 23, 26,
    ]  # fmt: skip
    assert spec.layout == "20 state(kda) + 7 mla(512+64)"
    kda = spec.layers[0]
    assert kda.conv_values == 3 * 32 * 128 * (4 - 1) == 36_864  # q, k, v short convs
    assert kda.ssm_values == 32 * 128 * 128 == 524_288
    got = row(spec, 8192)
    assert got["kv_bytes_per_token"] == 7 * (512 + 64) * 2 == 8_064
    assert got["state_bytes_per_sequence"] == 20 * (36_864 + 524_288) * 2 == 22_446_080


def test_recurrentgemma_local_attention_and_fp32_lru_state():
    spec = load_config(MORE / "RecurrentGemma-2b.json")
    # block_types (recurrent, recurrent, attention) repeated over 26 layers
    assert [i for i, x in enumerate(spec.layers) if x.kind == "sliding"] == list(
        range(2, 26, 3)
    )
    assert spec.layout == "18 state(rg_lru) + 8 sliding(2048)"
    assert spec.ssm_dtype == "fp32"
    got = row(spec, 8192)
    attention = 8 * 2 * 1 * 256 * 2 * 2048  # capped at the 2048 window
    # conv: 2560 x (4 - 1) values at bf16; RG-LRU: 2560 values at fp32
    state = 18 * (2560 * 3 * 2 + 2560 * 4)
    assert got["state_bytes_per_sequence"] == state == 460_800
    assert got["kv_bytes"] == attention + state == 17_238_016


def test_lfm2_conv_layers_keep_a_short_convolution_state():
    spec = load_config(MORE / "LFM2-1.2B.json")
    assert spec.layout == "10 state(short_conv) + 6 full"
    got = row(spec, 8192)
    assert (
        got["kv_bytes_per_token"] == 6 * 2 * 8 * 64 * 2 == 12_288
    )  # head_dim 2048 / 32
    assert got["state_bytes_per_sequence"] == 10 * 2048 * (3 - 1) * 2 == 81_920


def test_mamba_has_no_kv_and_its_state():
    spec = load_config(MORE / "Mamba-2.8b-hf.json")
    assert spec.layout == "64 state(mamba)"
    assert (spec.n_heads, spec.n_kv_heads, spec.head_dim) == (0, 0, 0)
    got = row(spec, 8192)
    inner = 2 * 2560  # expand x hidden_size
    per_layer = (inner * (4 - 1) + inner * 16) * 4  # conv + SSM, float32 checkpoint
    assert got["kv_bytes_per_token"] == 0
    assert got["kv_bytes"] == 64 * per_layer == 24_903_680


def test_mllama_cross_attention_is_refused_by_name():
    with pytest.raises(SpecError, match="8 of 40 layers attend to image") as error:
        load_config(MORE / "Llama-3.2-11B-Vision.json")
    assert error.value.field == "cross_attention_layers"


def test_baichuan_m1_window_layers_are_refused_not_ignored():
    with pytest.raises(SpecError) as error:
        load_config(MORE / "BaichuanM1-like.json")
    assert error.value.field == "sliding_window"
    data = config("BaichuanM1-like.json")
    data["sliding_window"] = None
    with pytest.raises(SpecError, match="sliding_window_layers") as error:
        spec_from_config(data, name="m1")
    assert error.value.field == "conv_window"  # the first of the unread keys named


def test_gpt_oss_without_layer_types_alternates_as_its_class_does():
    spec = load_config(MORE / "gpt-oss-20b-no-layer-types.json")
    assert [x.kind for x in spec.layers[:2]] == ["sliding", "full"]
    assert spec.layout == "12 sliding(128) + 12 full"
    per_layer_token = 2 * 8 * 64 * 2
    assert row(spec, 8192)["kv_bytes"] == 12 * per_layer_token * (128 + 8192)


def test_nemotron_h_without_its_pattern_names_the_key():
    with pytest.raises(SpecError, match="4 layers") as error:
        load_config(MORE / "Nemotron-H-56B-no-pattern.json")
    assert error.value.field == "hybrid_override_pattern"


def test_llama4_scout_published_empty_no_rope_layers_derives_from_the_interval():
    spec = load_config(MORE / "Llama-4-Scout-17B-16E-published.json")
    # no_rope_layers [] -> every 4th layer NoPE (full), the others chunked(8192)
    assert spec.layout == "36 chunked(8192) + 12 full"
    per_layer_token = 2 * 8 * 128 * 2
    expected = 36 * per_layer_token * 8192 + 12 * per_layer_token * 131072
    assert row(spec, 131072)["kv_bytes"] == expected


def test_falcon_new_decoder_without_kv_heads_is_mha():
    spec = load_config(MORE / "Falcon-new-decoder-no-kv.json")
    assert spec.n_kv_heads == 32
    assert row(spec, 1)["kv_bytes_per_token"] == 4 * 2 * 32 * 128 * 2
    assert not any("num_attention_heads (MHA)" in text for text in spec.readings)


def test_refinedweb_note_says_the_old_type_implies_it():
    data = {"model_type": "RefinedWeb", "n_layer": 2, "n_head": 8, "hidden_size": 512}
    spec = spec_from_config(data, name="rw")
    assert spec.n_kv_heads == 8  # new_decoder_architecture without n_head_kv: MHA
    assert "new_decoder_architecture = True (implied by model_type RefinedWeb)" in (
        spec.defaults_used
    )


def test_gpt_bigcode_multi_query_false_is_mha():
    spec = load_config(MORE / "GPTBigCode-multi-query-false.json")
    assert spec.n_kv_heads == 16
    assert row(spec, 1)["kv_bytes_per_token"] == 24 * 2 * 16 * 128 * 2


def test_gemma2_null_window_means_every_layer_keeps_every_token():
    spec = load_config(MORE / "Gemma-2-2b-it-sliding-window-null.json")
    assert spec.layout == "26 full"
    assert row(spec, 8192)["kv_bytes"] == 26 * 2 * 4 * 256 * 2 * 8192


def test_qwen2_vl_flat_config_derives_head_dim():
    spec = load_config(MORE / "Qwen2-VL-7B-Instruct.json")
    assert spec.head_dim == 3584 // 28 == 128
    assert row(spec, 1)["kv_bytes_per_token"] == 28 * 2 * 4 * 128 * 2


def test_dbrx_kv_heads_from_attn_config():
    spec = load_config(MORE / "DBRX-Instruct.json")
    assert (spec.n_kv_heads, spec.head_dim) == (8, 6144 // 48)
    assert row(spec, 1)["kv_bytes_per_token"] == 40 * 2 * 8 * 128 * 2


@pytest.mark.parametrize(
    ("attn_config", "kv_heads"),
    [
        ({"attn_type": "multihead_attention"}, 32),
        ({"attn_type": "multiquery_attention"}, 1),
        ({"attn_type": "grouped_query_attention", "kv_n_heads": 8}, 8),
        ({}, 32),  # MptAttentionConfig's default is multihead attention
    ],
)
def test_mpt_attn_type(attn_config, kv_heads):
    # mosaicml/mpt-7b's shape: 32 layers, 32 heads, d_model 4096
    data = {
        "model_type": "mpt",
        "n_layers": 32,
        "n_heads": 32,
        "d_model": 4096,
        "attn_config": attn_config,
    }
    spec = spec_from_config(data, name="mpt")
    assert row(spec, 1)["kv_bytes_per_token"] == 32 * 2 * kv_heads * 128 * 2


def test_original_chatglm_6b_is_mha_with_derived_head_dim():
    # THUDM/chatglm-6b: no multi_query_attention, no kv_channels
    data = {
        "model_type": "chatglm",
        "num_layers": 28,
        "num_attention_heads": 32,
        "hidden_size": 4096,
        "max_sequence_length": 2048,
        "position_encoding_2d": True,
    }
    spec = spec_from_config(data, name="chatglm-6b")
    assert row(spec, 1)["kv_bytes_per_token"] == 28 * 2 * 32 * 128 * 2


@pytest.mark.parametrize(
    ("kv_heads", "length"), [([], 0), ([8] * 31, 31), ([8] * 33, 33)]
)
def test_per_layer_kv_heads_must_list_every_layer(kv_heads, length):
    data = llama(
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=kv_heads,
        hidden_size=4096,
    )
    with pytest.raises(SpecError, match=f"lists {length} values but the model has 32"):
        spec_from_config(data, name="t")


def test_layer_types_as_a_string_is_not_a_list():
    data = llama(layer_types="full_attention")
    with pytest.raises(SpecError, match="must be a list .* got str") as error:
        spec_from_config(data, name="t")
    assert error.value.field == "layer_types"


def test_unknown_torch_dtype_is_refused_by_name():
    data = llama(torch_dtype="bogus")
    with pytest.raises(SpecError, match="torch_dtype 'bogus'") as error:
        spec_from_config(data, name="t")
    assert error.value.field == "torch_dtype"


def test_type_inferred_from_architectures_is_noted():
    data = {
        "architectures": ["LlamaForCausalLM"],
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "hidden_size": 256,
    }
    spec = spec_from_config(data, name="t")
    assert spec.model_type == "llama"
    assert any("LlamaForCausalLM" in text for text in spec.readings)


def test_missing_key_without_model_type_says_so_plainly():
    with pytest.raises(SpecError, match="the config has no model_type") as error:
        spec_from_config({"num_attention_heads": 4, "hidden_size": 256}, name="t")
    assert "no model_type has no" not in str(error.value)


def test_aliases_that_disagree_are_refused():
    data = llama(n_layer=8)
    with pytest.raises(
        SpecError, match="num_hidden_layers = 4 and n_layer = 8 disagree"
    ):
        spec_from_config(data, name="t")


def test_absurd_layer_counts_are_refused_before_building_layers():
    data = llama(num_hidden_layers=10**12)
    with pytest.raises(SpecError, match="at most 10,000 layers"):
        spec_from_config(data, name="t")


def test_a_window_no_rule_places_is_refused():
    # llama's code applies no window without layer_types: kvplan will not guess one
    data = llama(sliding_window=4096)
    with pytest.raises(SpecError, match="does not know which layers") as error:
        spec_from_config(data, name="t")
    assert error.value.field == "sliding_window"


@pytest.mark.parametrize(
    ("n", "text"),
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"),
     (13, "13th"), (21, "21st"), (22, "22nd"), (101, "101st"), (111, "111th")],
)  # fmt: skip
def test_ordinals_in_readings(n, text):
    assert ordinal(n) == text


def test_a_pattern_reading_says_2nd_not_2th():
    data = config("MiniMax-M1-hf-attn_type_list.json")
    data.update(model_type="qwen3_next", full_attention_interval=2)
    del data["attn_type_list"]
    data.update(
        linear_num_key_heads=16,
        linear_num_value_heads=32,
        linear_key_head_dim=128,
        linear_value_head_dim=128,
        linear_conv_kernel_dim=4,
    )
    spec = spec_from_config(data, name="q")
    assert any("every 2nd layer full attention" in text for text in spec.readings)


@pytest.mark.parametrize("window", [[4096], "4096", 4096.0, True])
def test_a_window_that_is_not_an_integer_names_sliding_window(window):
    with pytest.raises(SpecError, match="sliding_window must be a positive integer"):
        spec_from_config(llama(model_type="mistral", sliding_window=window), name="m")


@pytest.mark.parametrize("model_type", ["xlstm", "rwkv"])
def test_recurrent_models_without_attention_are_refused(model_type):
    # a config carrying attention-like keys must not be read as a transformer
    with pytest.raises(SpecError, match="recurrent model without attention"):
        spec_from_config(llama(model_type=model_type, num_key_value_heads=2), name="r")


def test_smollm3_windows_on_its_nope_layers():
    data = llama(
        model_type="smollm3",
        num_hidden_layers=8,
        use_sliding_window=True,
        sliding_window=64,
    )  # no no_rope_layers: every 4th layer NoPE (SmolLM3Config's interval 4)
    spec = spec_from_config(data, name="s")
    assert [x.kind for x in spec.layers] == ["full", "full", "full", "sliding"] * 2
    assert spec_from_config(llama(model_type="smollm3"), name="s").layout == "4 full"
