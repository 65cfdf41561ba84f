"""Engine profiles: each rule checked against numbers worked out by hand in the test."""

from fractions import Fraction

import pytest

from kvplan.catalog import load_spec
from kvplan.engines import (
    ENGINE_NAMES,
    EngineRuleError,
    get_profile,
    parse_knobs,
    rank_cost,
)
from kvplan.errors import KvplanError, UnknownNameError
from kvplan.spec import Layer, ModelSpec

GIB = 2**30


def cost_of(name, dtype="bf16", tp=1, mla_mode="latent"):
    return rank_cost(load_spec(name), dtype, tp=tp, mla_mode=mla_mode)


# ---------------------------------------------------------------------------- vLLM V1


def test_vllm_dense_model_is_one_group_of_every_layer():
    cost = cost_of("llama-3.1-8b")
    vllm = get_profile("vllm")
    plan = vllm.plan(cost)
    # one block id spans 32 layers x 16 tokens x 2 (K,V) x 8 heads x 128 x 2 B = 2 MiB
    assert plan.uniform and plan.block_bytes == 32 * 16 * 2 * 8 * 128 * 2
    # 4 GiB / 2 MiB = 2048 blocks of 16 tokens
    assert vllm.pool_tokens(cost, 4 * GIB) == 2048 * 16
    assert vllm.max_concurrency(cost, 4 * GIB, 32768) == 2048 / (32768 // 16)
    assert vllm.request_bytes(cost, 100) == 7 * 2 * 2**20  # cdiv(100, 16) = 7 blocks


def test_vllm_sliding_layers_reserve_window_plus_batch_plus_a_block():
    cost = cost_of("gpt-oss-120b")
    vllm = get_profile("vllm")  # max_num_batched_tokens 8192
    page = 16 * 2 * 8 * 64 * 2  # 32,768 B per layer per block
    full = 4096 // 16  # 256 blocks
    sliding = -(-min(128 - 1 + 8192, 4096) // 16) + 1  # the request caps it: 257 blocks
    assert vllm.request_bytes(cost, 4096) == (full + sliding) * 18 * page
    # the layout needs 18 x 4096 + 18 x 128 tokens of 2,048 B
    assert cost.sequence_bytes(4096) == (18 * 4096 + 18 * 128) * 2048
    # at 128k the window + batch is the cap: cdiv(8319, 16) + 1 = 521 blocks
    assert vllm.request_bytes(cost, 131072) == (8192 + 521) * 18 * page


def test_vllm_max_num_batched_tokens_moves_the_sliding_reservation():
    cost = cost_of("gpt-oss-120b")
    small = get_profile("vllm", max_num_batched_tokens=2048)
    page = 16 * 2 * 8 * 64 * 2
    # cdiv(128 - 1 + 2048, 16) + 1 = cdiv(2175, 16) + 1 = 136 + 1 blocks of the sliding layers
    assert small.request_bytes(cost, 131072) == (8192 + 137) * 18 * page


def test_vllm_hybrid_token_line_and_concurrency_line_disagree():
    cost = cost_of("gpt-oss-120b")
    vllm = get_profile("vllm", max_model_len=131072)
    budget = 10 * GIB
    blocks = budget // (18 * 32768)  # 18,204 block ids of 589,824 B
    assert vllm.num_blocks(cost, budget) == 18204 == blocks
    # 0.10-0.20: blocks // 2 groups x 16 tokens
    assert vllm.pool_tokens(cost, budget) == 18204 // 2 * 16 == 145632
    # a 131,072-token request needs 8,192 + 521 block ids
    assert vllm.max_concurrency(cost, budget, 131072) == 18204 / 8713
    # 0.21 on: the token line is derived from the concurrency
    newer = get_profile("vllm@0.24", max_model_len=131072)
    assert newer.pool_tokens(cost, budget) == int(18204 / 8713 * 131072)


def test_vllm_disabled_hybrid_manager_counts_sliding_layers_as_full():
    cost = cost_of("gpt-oss-120b")
    disabled = get_profile("vllm", hybrid_allocator=False)
    # every one of the 36 layers holds every token: cdiv(4096, 16) blocks x 36 pages
    assert disabled.request_bytes(cost, 4096) == 256 * 36 * 32768


def test_vllm_gemma4_pages_are_unified_by_doubling_the_full_block():
    cost = cost_of("gemma-4-31b")
    plan = get_profile("vllm").plan(cost)
    # sliding: 16 tokens x 2 x 16 heads x 256 x 2 B = 262,144 B; full: 16 x 2 x 4 x 512 x 2
    # = 131,072 B, so the full layers get blocks of 32 tokens to fill the same page
    blocks = {p.kind.kind: (p.block_size, p.groups) for p in plan.pools}
    assert blocks == {
        "sliding": (16, 5),
        "full": (32, 1),
    }  # 50 + 10 layers, groups of 10
    assert plan.block_bytes == 10 * 262144
    assert plan.n_groups == 6 and plan.padding_layers == 0


def test_vllm_gemma3_pads_the_last_sliding_group():
    cost = cost_of("gemma-3-27b")  # 52 sliding(1024) + 10 full, same page size
    plan = get_profile("vllm").plan(cost)
    # groups of 10 layers: 6 sliding groups hold 52 layers and 8 padding layers
    assert plan.group_size == 10 and plan.n_groups == 7 and plan.padding_layers == 8


def test_vllm_mamba_hybrid_grows_the_attention_block_to_hold_a_state():
    cost = cost_of("qwen3.5-27b")
    plan = get_profile("vllm").plan(cost)
    state = 30720 * 2 + 786432 * 4  # conv in bf16, SSM in fp32: 3,207,168 B
    per_token = 2 * 4 * 256 * 2  # one attention layer: 4,096 B
    block = 16 * -(-state // (16 * per_token))  # 16 x 49 = 784 tokens
    assert block == 784
    assert {p.kind.kind: p.block_size for p in plan.pools} == {
        "mamba": 784,
        "full": 784,
    }
    assert plan.block_bytes == 16 * 784 * per_token  # groups of 16 layers
    assert plan.n_groups == 4  # 48 state layers in 3 groups, 16 full layers in 1


def test_vllm_mamba_pages_count_per_request():
    cost = cost_of("qwen3.5-27b")
    vllm = get_profile("vllm", max_model_len=32768)
    blocks = 1487  # the pool vLLM 0.19 reported for this model (issue 40691)
    # a 32,768-token request: cdiv(32768, 784) = 42 full blocks + 1 page per state group
    budget = blocks * vllm.plan(cost).block_bytes
    assert vllm.max_concurrency(cost, budget) == 1487 / 45
    # both lines vLLM printed: 1487 // 4 groups x 784 = 290,864 tokens and 33.04x
    assert vllm.pool_tokens(cost, budget) == 290864
    assert f"{vllm.max_concurrency(cost, budget):.2f}" == "33.04"
    align = vllm.with_knobs(mamba_pages=2)  # prefix caching's 'align' mode
    assert (
        align.max_concurrency(cost, blocks * vllm.plan(cost).block_bytes) == 1487 / 48
    )


def test_vllm_mla_latent_is_kept_whole_on_every_rank():
    one, eight = cost_of("deepseek-v3"), cost_of("deepseek-v3", tp=8)
    vllm = get_profile("vllm")
    # 61 layers x 16 tokens x (512 + 64) x 2 B, the same at TP 8
    assert (
        vllm.plan(one).block_bytes == vllm.plan(eight).block_bytes == 61 * 16 * 576 * 2
    )


def test_vllm_kv_heads_below_tp_are_replicated():
    cost = cost_of("llama-3.1-70b", tp=16)  # 8 KV heads: each rank keeps 1
    assert get_profile("vllm").plan(cost).block_bytes == 80 * 16 * 2 * 1 * 128 * 2


def test_vllm_fp8_pages_hold_one_byte_per_value_and_no_scales():
    cost = cost_of("llama-3.1-8b", dtype="fp8")
    # the per-tensor scales are layer parameters, not pool pages
    assert get_profile("vllm").plan(cost).block_bytes == 32 * 16 * 2 * 8 * 128


def test_vllm_budget_is_utilization_minus_weights_and_activations():
    vllm = get_profile("vllm")
    total = 80 * GIB
    # 80 GiB x 0.9 = 72 GiB; less 16 GiB of weights and 3 GiB of activations
    assert vllm.kv_budget(total, 16 * GIB, 3 * GIB) == 53 * GIB


def test_vllm_v0_holds_every_layer_in_one_block():
    cost = cost_of("gpt-oss-120b")
    v0 = get_profile("vllm-v0")
    # 36 layers x 2,048 B x 16 tokens per block; sliding windows not honoured
    assert v0.request_bytes(cost, 4096) == 256 * 36 * 2048 * 16
    assert v0.max_concurrency(cost, 36 * 2048 * 16 * 1000, 4096) == 1000 * 16 / 4096


def test_vllm_versions_pick_their_rules():
    assert get_profile("vllm@0.15").token_line == "per_group"
    assert get_profile("vllm@0.24").versions == "0.21+"
    assert get_profile("vllm@0.19.1rc1.dev301+g60995c05b").versions == "0.10-0.20"
    assert get_profile("vllm@0.6.4").name == "vllm-v0"


# ---------------------------------------------------------------------------- SGLang


def test_sglang_buffers_have_one_padded_page_per_layer():
    cost = cost_of("qwen3-235b-a22b", tp=4)
    sglang = get_profile("sglang")
    # 94 layers x 1 KV head per rank x 128 x 2 B per token, plus one padded row
    assert sglang.buffer_bytes(cost, 367404, 0) == (367404 + 1) * 94 * 128 * 2
    # cell = 94 x 2 x 1 x 128 x 2 = 48,128 B per token
    assert sglang.pool_tokens(cost, 48128 * 1000) == 1000


def test_sglang_splits_the_pool_for_sliding_layers():
    cost = cost_of("gpt-oss-120b")
    sglang = get_profile("sglang")
    # full and sliding layers each cost 18 x 2,048 = 36,864 B per token; a 1000-token
    # budget holds full = int(1000 x 73,728 / (36,864 + 0.8 x 36,864)) = 1111 tokens
    assert sglang.pool_sizes(cost, 73728 * 1000) == (1111, int(1111 * Fraction(8, 10)))


def test_sglang_page_size_rounds_the_pool_down():
    cost = cost_of("llama-3.1-8b")
    assert get_profile("sglang", block_size=64).pool_tokens(cost, 131072 * 1000) == 960


# ---------------------------------------------------------------------------- TensorRT-LLM


def test_trtllm_blocks_round_up_the_tokens_the_fraction_buys():
    spec = ModelSpec(
        name="mha-7b",
        layers=(Layer(kind="full", n_kv_heads=32, head_dim_k=128, head_dim_v=128),)
        * 32,
        n_heads=32,
        n_kv_heads=32,
        head_dim=128,
        hidden_size=4096,
    )
    cost = rank_cost(spec, "bf16")
    trt = get_profile("trtllm", block_size=64)
    budget = trt.kv_budget(round(Fraction("21.89") * GIB))  # x 0.9
    # 21.89 GiB x 0.9 / 524,288 B per token = 40,347 tokens; ceil(40,347 / 64) = 631
    assert budget // (32 * 2 * 32 * 128 * 2) == 40347
    assert trt.pool_blocks(cost, budget) == {2**31 - 1: 631}


def test_trtllm_gives_each_window_a_share_by_window_and_bytes():
    cost = cost_of("gpt-oss-120b")
    trt = get_profile("trtllm", max_seq_len=8192)
    # both windows cost 18 x 2,048 = 36,864 B per token; shares 128 : 8192 of the budget
    budget = 8320 * 36864 * 32
    assert trt.pool_blocks(cost, budget) == {128: 128, 8192: 8192}
    # an 8,192-token request takes 256 full blocks and 4 sliding blocks: 32 fit either way
    assert trt.max_concurrency(cost, budget, 8192) == 32


# ---------------------------------------------------------------------------- llama.cpp


def test_llamacpp_k_and_v_types_apart():
    cost = cost_of("qwen2.5-7b", dtype="f16")
    plain = get_profile("llamacpp")
    assert plain.cache_bytes(cost, 8192) == (
        224 * 2**20,
        224 * 2**20,
    )  # ollama issue 8990
    mixed = get_profile("llamacpp", type_k="q8_0", type_v="q4_0")
    # K: 4 heads x 4 blocks of 34 B; V: 4 heads x 4 blocks of 18 B; 28 layers, 8192 cells
    assert mixed.cache_bytes(cost, 8192) == (
        28 * 4 * 4 * 34 * 8192,
        28 * 4 * 4 * 18 * 8192,
    )


def test_llamacpp_sliding_layers_get_window_plus_ubatch_cells():
    cost = cost_of("gemma-3-27b", dtype="f16")
    llama = get_profile("llamacpp")
    # 52 sliding layers: pad256(1024 + 512) = 1536 cells; 10 full layers: 32768 cells
    per_cell = 2 * 16 * 128 * 2
    assert llama.request_bytes(cost, 32768) == (52 * 1536 + 10 * 32768) * per_cell
    full = get_profile("llamacpp", swa_full=True)
    assert full.request_bytes(cost, 32768) == 62 * 32768 * per_cell


def test_llamacpp_mla_stores_the_latent_as_k_only():
    cost = cost_of("deepseek-v3", dtype="q8_0")
    # 61 layers x 576 values in q8_0 blocks of 32 (34 B): 61 x 612 = 37,332 B per cell
    assert get_profile("llamacpp").cache_bytes(cost, 32768) == (61 * 612 * 32768, 0)


def test_llamacpp_pads_the_context_to_256_cells():
    cost = cost_of("llama-3.1-8b", dtype="f16")
    assert get_profile("llamacpp").request_bytes(cost, 1000) == 1024 * 131072


# ---------------------------------------------------------------------------- registry


def test_every_profile_answers_the_interface():
    cost = cost_of("llama-3.1-8b")
    for name in ENGINE_NAMES:
        profile = (
            get_profile(name, max_seq_len=8192)
            if name == "trtllm"
            else get_profile(name)
        )
        assert profile.name == name and profile.versions is not None
        assert profile.request_bytes(cost, 8192) >= cost.sequence_bytes(8192)
        assert profile.pool_tokens(cost, 8 * GIB) > 0
        assert profile.max_concurrency(cost, 8 * GIB, 8192) > 0


def test_unknown_engine_lists_the_names():
    with pytest.raises(
        UnknownNameError, match="unknown engine 'vlm'; did you mean: vllm"
    ):
        get_profile("vlm")


def test_only_vllm_takes_a_version():
    with pytest.raises(EngineRuleError, match="only vllm takes @version"):
        get_profile("sglang@0.5")


def test_knobs_parse_by_type_and_unknown_knobs_are_named():
    vllm = get_profile("vllm")
    assert parse_knobs(
        vllm, ["max_num_batched_tokens=2k", "gpu_memory_utilization=0.95"]
    ) == {
        "max_num_batched_tokens": 2048,
        "gpu_memory_utilization": Fraction(95, 100),
    }
    with pytest.raises(KvplanError, match="vllm has no setting 'page_size'"):
        parse_knobs(vllm, ["page_size=64"])
    with pytest.raises(KvplanError, match="expected KEY=VALUE"):
        parse_knobs(vllm, ["max_num_batched_tokens"])


def test_deepseek_v4_compressed_attention_is_not_modelled_by_vllm():
    with pytest.raises(EngineRuleError, match="does not model DeepSeek-V4"):
        get_profile("vllm").plan(cost_of("deepseek-v4-flash"))


def test_estimate_rows_with_k_and_v_types_apart():
    from kvplan.estimate import estimate

    profile = get_profile("llamacpp", type_k="q8_0", type_v="q4_0")
    row = estimate("llama-3.1-8b", context="32k", engine=profile)[0]
    # 32 layers x (K: 8 heads x 4 blocks x 34 B + V: 8 heads x 4 blocks x 18 B) per token
    assert row["kv_bytes_per_token"] == 32 * (8 * 4 * 34 + 8 * 4 * 18) == 53248
    assert row["kv_bytes_per_sequence"] == 53248 * 32768
    assert (row["engine"], row["cache_dtype"]) == ("llamacpp", "q8_0/q4_0")
