"""Weight shapes read from real config.json files: MoE widths, and which configs give none."""

import pytest

from kvplan.catalog import load_spec
from kvplan.configs import load_config
from kvplan.weights import param_count

from .conftest import CONFIGS, DATA

MORE = DATA / "more_configs"


def test_deepseek_v3_config_counts_what_its_shipped_spec_counts():
    # intermediate_size 18432 is the 3 dense layers' MLP, moe_intermediate_size 2048 each
    # routed expert's: two quantities, both read (the config once was refused for them).
    hidden, vocab = 7168, 129280
    mla = (
        1536 * hidden + 1536  # q_a_proj, q_a_layernorm
        + 128 * 192 * 1536  # q_b_proj
        + 576 * hidden + 512  # kv_a_proj_with_mqa, kv_a_layernorm
        + 128 * 256 * 512  # kv_b_proj
        + 128 * 128 * hidden  # o_proj
    )  # fmt: skip
    dense_mlp = 3 * hidden * 18432
    moe = 256 * hidden + 256 + 257 * 3 * hidden * 2048  # router, bias, 256 + 1 shared
    total = (
        3 * (mla + 2 * hidden + dense_mlp)
        + 58 * (mla + 2 * hidden + moe)
        + 2 * vocab * hidden
        + hidden
    )
    assert total == 671_026_419_200
    from_config = param_count(load_config(CONFIGS / "DeepSeek-V3.json")).total
    assert from_config == param_count(load_spec("deepseek-v3")).total == total


def test_qwen3_235b_config_reads_the_expert_width_not_intermediate_size():
    # 94 layers, every one MoE: 128 experts of width 1536 (moe_intermediate_size); the
    # config's intermediate_size 12288 sizes no layer of this model.
    hidden, vocab = 4096, 151936
    attention = (
        hidden * 64 * 128 * 2 + hidden * 4 * 128 * 2 + 2 * 128
    )  # q,o; k,v; qk norm
    moe = 128 * hidden + 128 * 3 * hidden * 1536  # router, experts
    total = 94 * (attention + moe + 2 * hidden) + 2 * vocab * hidden + hidden
    assert total == 235_093_634_560
    spec = load_config(CONFIGS / "Qwen3-235B-A22B.json")
    assert spec.weights.moe.intermediate_size == 1536
    assert param_count(spec).total == total
    assert param_count(load_spec("qwen3-235b-a22b")).total == total


def test_qwen3_vl_moe_text_model_counts_as_qwen3_moe():
    # Qwen3-VL-235B-A22B's text model has Qwen3-235B-A22B's shape (the vision tower is not
    # counted): the same 235,093,634,560 as the test above works out.
    spec = load_config(MORE / "Qwen3-VL-235B-A22B-Instruct.json")
    assert spec.model_type == "qwen3_vl_moe_text"
    assert param_count(spec).total == 235_093_634_560


def test_mixtral_intermediate_size_is_the_experts_width():
    # No moe_intermediate_size: intermediate_size 14336 is each of the 8 experts' width.
    spec = load_config(CONFIGS / "Mixtral-8x7B-v0.1.json")
    assert spec.weights.moe.intermediate_size == 14336
    assert spec.weights.intermediate_size == 0  # no dense MLP in any layer


# Configs in tests/data that give no weight shape, each with why: a family kvplan does not
# count, or a trimmed copy. Every other config there must give one.
NO_WEIGHTS = {
    "Bamba-9B.json": "bamba: Mamba-2 + attention hybrid not counted",
    "Command-A-03-2025-legacy-keys.json": "cohere2: parallel block not counted",
    "DeepSeek-V4-Flash.json": "deepseek_v4: compressors, hyper-connections not counted",
    "GLM-5.json": "glm_moe_dsa: not counted",
    "MiMo-7B-Base.json": "mimo: remote-code type not counted",
    "Step-3.7-Flash.json": "step3p7: not counted",
    "gemma-4-26B-A4B.json": "gemma4_text: MoE beside a dense MLP, K=V layers not counted",
    "DBRX-Instruct.json": "dbrx: fused Wqkv, its own MoE layout not counted",
    "Falcon-new-decoder-no-kv.json": "hand-written trim without vocab_size",
    "GPTBigCode-multi-query-false.json": "hand-written trim without vocab_size",
    "Kimi-Linear-48B-A3B.json": "kimi_linear: delta attention not counted",
    "LFM2-1.2B.json": "lfm2: short convolutions not counted",
    "Llama-3.3-Nemotron-Super-49B-v1.json": "nemotron-nas: per-layer MLP widths not counted",
    "Llama-4-Scout-17B-16E-published.json": "the published text_config omits vocab_size",
    "Mamba-2.8b-hf.json": "mamba: not counted",
    "MiniMax-M1-hf-attn_type_list.json": "minimax: lightning attention not counted",
    "MiniMax-Text-01.json": "minimax_text_01: lightning attention not counted",
    "RecurrentGemma-2b.json": "recurrent_gemma: RG-LRU not counted",
}
# Configs refused outright (tested where their refusal is): no spec, so no weights.
REFUSED = {
    "BaichuanM1-like.json",
    "Llama-3.2-11B-Vision.json",
    "Nemotron-H-56B-no-pattern.json",
}


def _config_files():
    files = sorted(CONFIGS.glob("*.json")) + sorted(MORE.glob("*.json"))
    return [f for f in files if f.name not in REFUSED]


def test_every_config_of_a_counted_family_gives_a_weight_shape():
    missing = {f.name for f in _config_files() if load_config(f).weights is None}
    assert missing == set(NO_WEIGHTS)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_the_refused_configs_are_still_refused(name):
    from kvplan.errors import SpecError

    with pytest.raises(SpecError):
        load_config(MORE / name)


def test_qwen36_moe_without_a_dense_width_counts_its_experts():
    # Qwen3.6-35B-A3B gives moe_intermediate_size 512 and no intermediate_size: every layer
    # is MoE (256 experts + one gated shared expert), 30 gated-delta layers, 10 attention.
    hidden, vocab = 2048, 248320
    attention = hidden * (2 * 16 * 256 + 2 * 2 * 256) + 16 * 256 * hidden + 2 * 256
    delta = (
        (2 * 2048 + 2 * 4096) * hidden  # in_proj q, k, v, z (16 x 128 keys, 32 x 128 values)
        + 2 * 32 * hidden  # in_proj b, a
        + (2 * 2048 + 4096) * 4 + 2 * 32 + 128  # conv1d, dt_bias and A_log, gated norm
        + 4096 * hidden  # out_proj
    )  # fmt: skip
    moe = 256 * hidden + 257 * 3 * hidden * 512 + hidden  # router, experts, shared gate
    total = (
        10 * (attention + moe + 2 * hidden)
        + 30 * (delta + moe + 2 * hidden)
        + 2 * vocab * hidden
        + hidden
    )
    assert total == 34_660_610_688
    assert param_count(load_config(MORE / "Qwen3.6-35B-A3B.json")).total == total


def _specs_from_test_configs():
    """Shipped specs whose weights: note names the tests/data config they were read from."""
    import re

    from kvplan.catalog import shipped_files

    pairs = []
    for name in shipped_files():
        for text in load_spec(name).notes:
            found = re.search(r"tests/data/((?:more_)?configs/\S+?\.json)", text)
            if found:
                pairs.append((name, found.group(1)))
    return pairs


@pytest.mark.parametrize(("name", "path"), _specs_from_test_configs())
def test_a_config_gives_the_weights_and_layers_of_the_spec_read_from_it(name, path):
    spec, from_config = load_spec(name), load_config(DATA / path)
    assert from_config.weights == spec.weights
    assert from_config.layers == spec.layers


def test_the_specs_read_from_test_configs_include_the_moe_ones():
    names = {name for name, _ in _specs_from_test_configs()}
    assert {"deepseek-v3", "qwen3-235b-a22b", "mixtral-8x7b"} <= names
