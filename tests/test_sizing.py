"""The arithmetic, checked against values worked out by hand in each test."""

import pytest

from kvplan.configs import load_config
from kvplan.estimate import estimate
from kvplan.sizing import model_cost
from kvplan.spec import Layer, ModelSpec

from .conftest import CONFIGS


def dense(
    n_layers, n_heads, n_kv_heads, head_dim, *, name="m", hidden=None
) -> ModelSpec:
    layer = Layer(
        kind="full", n_kv_heads=n_kv_heads, head_dim_k=head_dim, head_dim_v=head_dim
    )
    return ModelSpec(
        name=name,
        layers=(layer,) * n_layers,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        head_dim=head_dim,
        hidden_size=hidden or n_heads * head_dim,
    )


@pytest.mark.parametrize(
    ("config", "per_token"),
    [
        ("Llama-2-7B", 32 * 2 * 32 * 128 * 2),  # MHA: 524288
        ("Llama-3.1-70B", 80 * 2 * 8 * 128 * 2),  # GQA: 327680
        ("Falcon-7B", 32 * 2 * 1 * 64 * 2),  # MQA: 8192
        ("GPT-2", 12 * 2 * 12 * 64 * 2),  # 36864
        (
            "CodeGemma-7b-it",
            28 * 2 * 16 * 256 * 2,
        ),  # Gemma-7B shape: head_dim 256, not 3072/16
        ("Llama-3.1-8B", 32 * 2 * 8 * 128 * 2),  # 131072
    ],
)
def test_bytes_per_token_at_16_bits(config, per_token):
    spec = load_config(CONFIGS / f"{config}.json")
    assert model_cost(spec, "fp16").bytes_per_token == per_token
    assert model_cost(spec, "bf16").bytes_per_token == per_token


def test_llama_31_8b_at_128k_is_16_gib():
    rows = estimate(load_config(CONFIGS / "Llama-3.1-8B.json"), context="128k")
    assert rows[0]["kv_bytes"] == 32 * 2 * 8 * 128 * 2 * 131072 == 16 * 2**30
    assert rows[0]["kv_gib"] == 16.0


def test_batch_and_context_scale_linearly_for_full_layers():
    spec = dense(4, 8, 2, 64)
    per_token = 4 * 2 * 2 * 64 * 2
    rows = list(estimate(spec, context=[1000, 3000], batch=[1, 5]))
    assert [r["kv_bytes"] for r in rows] == [
        per_token * 1000 * 1,
        per_token * 1000 * 5,
        per_token * 3000 * 1,
        per_token * 3000 * 5,
    ]
    assert [(r["context"], r["batch"]) for r in rows] == [
        (1000, 1),
        (1000, 5),
        (3000, 1),
        (3000, 5),
    ]


@pytest.mark.parametrize(
    ("dtype", "per_token"),
    [
        ("fp32", 32 * 2 * 8 * 128 * 4),
        ("fp8", 32 * 2 * 8 * 128 * 1),
        ("int8", 32 * 2 * 8 * (128 + 2)),  # + fp16 scale per token per KV head, K and V
        ("int4", 32 * 2 * 8 * (64 + 2 * 4)),  # 2 groups of 64: fp16 scale + zero each
        ("q8_0", 32 * 2 * 8 * 4 * 34),  # blocks of 32 values in 34 bytes
        ("q4_0", 32 * 2 * 8 * 4 * 18),  # blocks of 32 values in 18 bytes
    ],
)
def test_quantized_formats_count_their_scales(dtype, per_token):
    spec = load_config(CONFIGS / "Llama-3.1-8B.json")
    assert model_cost(spec, dtype).bytes_per_token == per_token


def test_fp8_per_tensor_scales_are_held_once_not_per_sequence():
    spec = load_config(CONFIGS / "Llama-3.1-8B.json")
    row = estimate(spec, context=1000, batch=3, cache_dtype="fp8")[0]
    scales = 32 * 2 * 4  # 32 layers x (K scale + V scale) x fp32
    assert row["fixed_bytes"] == scales
    assert row["kv_bytes"] == 3 * (32 * 2 * 8 * 128 * 1 * 1000) + scales


def test_llama2_7b_q8_0_at_8k_is_2_125_gib_not_68():
    # reports.md R6: 2^31 elements x 34/32 bytes; a block size taken as bytes/element gives 68 GiB
    spec = load_config(CONFIGS / "Llama-2-7B.json")
    row = estimate(spec, context=8192, cache_dtype="q8_0")[0]
    elements = 32 * 2 * 32 * 128 * 8192
    assert elements == 2**31
    assert row["kv_bytes"] == elements * 34 // 32 == 2_281_701_376
    assert estimate(spec, context=8192, cache_dtype="q4_0")[0]["kv_gib"] == 1.125


def test_numpy_grid_equals_python_grid():
    spec = load_config(CONFIGS / "gpt-oss-120b.json")
    contexts = list(range(1, 300, 7)) + [131072]
    small = estimate(
        spec, context=contexts, batch=[1, 3], cache_dtype=["bf16", "int8", "fp8"]
    )
    assert len(small) < 4096  # python path
    big_contexts = contexts * 40  # pushes the grid over the numpy threshold
    big = estimate(
        spec, context=big_contexts, batch=[1, 3], cache_dtype=["bf16", "int8", "fp8"]
    )
    assert len(big) >= 4096
    expected = {(r["cache_dtype"], r["context"], r["batch"]): r for r in small}
    for row in big:
        assert row == expected[(row["cache_dtype"], row["context"], row["batch"])]


def test_grid_beyond_int64_stays_exact():
    spec = load_config(CONFIGS / "Llama-2-7B.json")
    # up to 2^40 tokens (the largest context kvplan accepts), to force numpy + Python ints
    contexts = [2**40 - 2047 + i for i in range(2048)]
    rows = estimate(spec, context=contexts, batch=[1, 2**30], cache_dtype="fp32")
    per_token = 32 * 2 * 32 * 128 * 4
    assert rows[len(rows) - 1]["kv_bytes"] == per_token * 2**40 * 2**30
    assert rows[len(rows) - 1]["kv_bytes"] > 2**63


def test_million_row_grid_is_vectorized_and_exact():
    spec = load_config(CONFIGS / "Llama-3.1-8B.json")
    contexts = list(range(1, 2501))
    batches = list(range(1, 101))
    rows = estimate(
        spec,
        context=contexts,
        batch=batches,
        cache_dtype=["bf16", "fp8", "int8", "int4"],
    )
    assert len(rows) == 4 * 2500 * 100 == 1_000_000
    last = rows[len(rows) - 1]
    assert (last["cache_dtype"], last["context"], last["batch"]) == ("int4", 2500, 100)
    assert last["kv_bytes"] == 32 * 2 * 8 * (64 + 2 * 4) * 2500 * 100
