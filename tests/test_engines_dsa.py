"""DeepSeek-V3.2's sparse attention as each engine stores it (kvplan/engines/dsa.py).

DeepSeek-V3.2 (model_specs/deepseek-v3.2.yaml): 61 MLA layers, kv_lora_rank 512, rope 64,
index_head_dim 128. The layout counts the indexer key in the cache dtype; vLLM and SGLang keep
it as 128 fp8 values + one fp32 scale = 132 B of uint8, and with an fp8 cache store the latent
as a 656-byte row (512 fp8 + 4 fp32 scales + 64 bf16 rope values).
"""

import pytest

from kvplan.catalog import load_spec
from kvplan.engines import EngineRuleError, get_profile
from kvplan.estimate import estimate

V32 = load_spec("deepseek-v3.2")


def per_token(engine, dtype, **knobs):
    profile = get_profile(engine, **knobs)
    return profile.token_bytes(profile.cost(V32, dtype))


def test_vllm_stores_the_indexer_key_as_132_bytes_in_any_cache_dtype():
    # bf16: 61 x (576 x 2 B latent + 128 + 128 // 128 x 4 B key) = 61 x 1,284
    assert per_token("vllm", "bf16") == 61 * (576 * 2 + 128 + 4) == 78324
    # fp8 (fp8_ds_mla): 61 x ((512 + 512 // 128 x 4 + 64 x 2) + 132) = 61 x 788
    assert per_token("vllm", "fp8") == 61 * (512 + 16 + 128 + 132) == 48068


def test_vllm_layout_counts_differ_from_vllm_storage():
    # the layout (ideal): bf16 61 x (576 + 128) x 2 B, fp8 61 x (576 + 128) x 1 B
    ideal = get_profile("ideal")
    assert ideal.token_bytes(ideal.cost(V32, "bf16")) == 61 * 704 * 2 == 85888
    assert ideal.token_bytes(ideal.cost(V32, "fp8")) == 61 * 704 == 42944


def test_vllm_sparse_mla_uses_64_token_blocks_of_both_specs():
    vllm = get_profile("vllm")
    cost = vllm.cost(V32, "fp8")
    plan = vllm.plan(cost)
    # one group; a block id spans 64 tokens of 61 latent pages and 61 indexer pages
    assert plan.uniform and plan.min_block_size == 64
    assert plan.block_bytes == 64 * 61 * (656 + 132)
    # 100 tokens take cdiv(100, 64) = 2 blocks
    assert vllm.request_bytes(cost, 100) == 2 * 64 * 61 * 788


def test_vllm_refuses_a_cache_dtype_flashmla_sparse_does_not_take():
    with pytest.raises(
        EngineRuleError, match="bf16 or fp8 .fp8_ds_mla. cache, not fp16"
    ):
        get_profile("vllm").cost(V32, "fp16")


def test_vllm_keeps_deepseek_v3_latent_as_the_layout_counts_it():
    # no indexer: 61 x 576 x 2 B, blocks of the profile's 16 tokens
    vllm = get_profile("vllm")
    cost = vllm.cost(load_spec("deepseek-v3"), "bf16")
    assert vllm.token_bytes(cost) == 61 * 576 * 2
    assert vllm.plan(cost).min_block_size == 16


def test_estimate_engine_rows_for_v32():
    rows = estimate(V32, context=[32768], cache_dtype=["bf16", "fp8"], engine=["vllm"])
    by_dtype = {row["cache_dtype"]: row for row in rows}
    assert by_dtype["bf16"]["kv_bytes_per_token"] == 78324
    # 32,768 tokens = 512 blocks of 64; no per-tensor scales with inline ones
    assert by_dtype["fp8"]["kv_bytes"] == 512 * 64 * 48068
    assert by_dtype["fp8"]["fixed_bytes"] == 0


def test_sglang_cell_and_pool_of_sparse_attention():
    sglang = get_profile("sglang")
    bf16 = sglang.cost(V32, "bf16")
    # bf16: the cell is what the pool stores, 61 x (1,152 + 132)
    assert sglang._cells(bf16) == (61 * 1284, 0, 0)
    fp8 = sglang.cost(V32, "fp8")
    # fp8: the profiler counts 576 x 1 B + 132 per layer, the pool stores 656 + 132
    assert sglang._cells(fp8) == (61 * (576 + 132), 0, 0)
    assert sglang.token_bytes(fp8) == 61 * (656 + 132)
    # pages of 64 tokens: a budget of 1,000.5 cells holds 1,000 // 64 x 64 = 960 tokens
    assert sglang.pool_tokens(fp8, 61 * 708 * 1000 + 61 * 354) == 960


def test_sglang_kv_size_line_of_sparse_attention():
    # sglang pull request 11309 (DeepSeek-V3.2-Exp, fp8 on B200): "#tokens: 975424, KV size:
    # 43.67 GB": 61 x ((975,424 + 64) x 656 + (975,424 + 64 + 1) // 64 x 64 x 132) B
    sglang = get_profile("sglang")
    sizes = sglang.printed_sizes(sglang.cost(V32, "fp8"), 975424)
    expected = 61 * (975488 * 656 + 975488 * 132)  # 975,489 // 64 = 15,242 pages
    assert sizes == {"kv": expected}
    assert f"{expected / 2**30:.2f}" == "43.67"


def test_llamacpp_counts_the_indexer_key_in_the_k_type():
    # q8_0 K: latent 576 = 18 blocks x 34 B = 612, key 128 = 4 x 34 = 136; type_v unused
    assert per_token("llamacpp", "q8_0", type_v="q4_0") == 61 * (612 + 136)


def test_capacity_counts_v32_as_vllm_stores_it():
    from kvplan.capacity import CapacityOptions
    from kvplan.capacity_grid import capacity
    from kvplan.engines.reservation import EngineReservation

    reservation = EngineReservation(profile=get_profile("vllm"))
    options = CapacityOptions(kv_budget_bytes=2**30, reservation=reservation)
    row = capacity(V32, options=options, context="32k", cache_dtype="fp8")[0]
    # a block id: 64 tokens x 61 layers x (656 + 132) B = 3,076,352 B; 2^30 // that = 349
    assert row["cache_blocks"] == 2**30 // (64 * 61 * 788) == 349
    assert row["cache_tokens"] == 349 * 64
