"""kvplan.capacity: budgets per GPU, TP/PP, blocks, shared prefixes, floors and real engine logs."""

from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from kvplan.capacity import CapacityOptions
from kvplan.capacity_grid import capacity
from kvplan.errors import DoesNotFitError, KvplanError, SpecError
from kvplan.reservation import IdealReservation

from .conftest import DATA

GIB = 2**30
SPECS = DATA / "specs"
LLAMA_8B_TOKEN = (
    32 * 2 * 8 * 128 * 2
)  # 131,072 B: layers x K,V x KV heads x head dim x 2 B


def one(model, **kwargs) -> dict:
    """The single row of a capacity run."""
    options = kwargs.pop("options", None) or CapacityOptions()
    rows = capacity(model, options=options, **kwargs)
    assert len(rows) == 1
    return rows[0]


def budget(size: int, block_size: int = 16, **extra) -> CapacityOptions:
    """Options with a given KV budget per GPU (as an engine log prints it)."""
    reservation = extra.pop("reservation", None) or IdealReservation(
        block_size=block_size
    )
    return CapacityOptions(kv_budget_bytes=size, reservation=reservation, **extra)


def test_llama_31_8b_on_one_80_gib_gpu_budget_from_memory_weights_and_reserve():
    row = one("llama-3.1-8b", gpu_memory=80 * GIB, context="128k", batch=4)
    memory = 80 * GIB * 9 // 10  # --memory-fraction 0.9
    weights = 8_030_261_248 * 2  # bf16
    reserve = (
        GIB + 8192 * (4 * 4096 + 3 * 14336) * 2
    )  # 1 GiB + batched tokens x activations
    kv_budget = memory - weights - reserve
    assert kv_budget == 59_202_068_480
    assert row["weight_bytes_per_gpu"] == weights
    assert row["reserve_bytes_per_gpu"] == reserve
    assert row["kv_budget_bytes_per_gpu"] == kv_budget
    assert row["cache_blocks"] == kv_budget // (LLAMA_8B_TOKEN * 16) == 28229
    assert row["cache_tokens"] == 28229 * 16
    assert row["max_concurrency"] == pytest.approx(
        kv_budget / (131072 * LLAMA_8B_TOKEN)
    )
    assert row["max_requests"] == 3
    assert row["fits"] is False  # 4 x 16 GiB do not fit in 55.14 GiB
    # four requests of L tokens fit while 4 x ceil(L / 16) blocks fit: 7057 blocks each
    assert row["max_context"] == kv_budget // (4 * LLAMA_8B_TOKEN * 16) * 16 == 112_912


def test_an_80_gib_kv_budget_holds_five_128k_requests_of_llama_31_8b():
    row = one("llama-3.1-8b", context="128k", batch=5, options=budget(80 * GIB))
    assert row["cache_tokens"] == 80 * GIB // LLAMA_8B_TOKEN == 655_360
    assert row["max_concurrency"] == 5.0
    assert (row["fits"], row["headroom_bytes_per_gpu"]) == (True, 0)
    assert row["max_context"] == 131072


def test_tp8_with_eight_kv_heads_keeps_one_head_per_gpu():
    row = one("llama-3.1-70b", gpus="h200", tp=8, context="32k")
    assert row["kv_bytes_per_token_per_gpu"] == 80 * 2 * 1 * 128 * 2  # 8 heads / 8 GPUs
    assert (row["kv_heads_per_gpu"], row["kv_replicated"]) == (1, False)


def test_tp8_with_four_kv_heads_replicates_one_head_per_gpu():
    tp4 = capacity("qwen3-235b-a22b", gpus="h200", tp=4, context="32k")
    tp8 = capacity("qwen3-235b-a22b", gpus="h200", tp=8, context="32k")
    per_gpu = 94 * 2 * 1 * 128 * 2  # each GPU holds one whole head at TP 4 and at TP 8
    assert tp4[0]["kv_bytes_per_token_per_gpu"] == tp8[0]["kv_bytes_per_token_per_gpu"]
    assert tp8[0]["kv_bytes_per_token_per_gpu"] == per_gpu == 48_128
    assert (tp4[0]["kv_replicated"], tp8[0]["kv_replicated"]) == (False, True)
    assert any("exceeds its 4 KV heads" in n and "replica" in n for n in tp8.notes)


def test_pp2_on_an_odd_layer_count_is_bound_by_the_larger_first_stage():
    rows = capacity(
        "deepseek-v2-lite", pp=2, context="16k", options=budget(10 * GIB, block_size=1)
    )
    row = rows[0]
    per_token = 14 * (512 + 64) * 2  # 27 layers: 14 on the first stage, 13 on the last
    assert row["stage"] == 1
    assert row["kv_bytes_per_token_per_gpu"] == per_token == 16_128
    assert row["cache_tokens"] == 10 * GIB // per_token
    assert any("stages of 14, 13 layers" in n for n in rows.notes)


def test_the_most_loaded_pp_stage_bounds_capacity():
    whole = one("llama-3.1-8b", gpus="l4", context="4k")
    split = one("llama-3.1-8b", gpus="l4", pp=2, context="4k")
    table = 128256 * 4096 * 2  # embeddings on stage 1, the LM head on stage 2
    layer = (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336 + 2 * 4096) * 2
    assert whole["weight_bytes_per_gpu"] == 32 * layer + 2 * table + 4096 * 2
    # 16 layers each; stage 2 also holds the final norm, so it has less room and bounds
    assert split["stage"] == 2
    assert split["weight_bytes_per_gpu"] == 16 * layer + table + 4096 * 2
    assert split["kv_bytes_per_token_per_gpu"] == LLAMA_8B_TOKEN // 2


def test_block_rounding_at_a_context_not_a_multiple_of_the_block():
    row = one("llama-3.1-8b", context=1000, options=budget(80 * GIB))
    request = 63 * 16 * LLAMA_8B_TOKEN  # 1000 tokens take 63 blocks of 16
    assert row["request_bytes_per_gpu"] == request == 132_120_576
    assert row["max_requests"] == 80 * GIB // request == 650
    exact = one("llama-3.1-8b", context=1000, options=budget(80 * GIB, block_size=1))
    assert exact["request_bytes_per_gpu"] == 1000 * LLAMA_8B_TOKEN


def test_a_shared_prefix_is_counted_once_per_gpu():
    opts = budget(80 * GIB, reservation=IdealReservation(shared_prefix_tokens=2048))
    row = one("llama-3.1-8b", context="8k", options=opts)
    shared = 2048 * LLAMA_8B_TOKEN
    own = (8192 - 2048) * LLAMA_8B_TOKEN
    assert row["shared_prefix_bytes_per_gpu"] == shared
    assert row["request_bytes_per_gpu"] == own
    assert row["max_requests"] == (80 * GIB - shared) // own == 106
    plain = one("llama-3.1-8b", context="8k", options=budget(80 * GIB))
    assert plain["max_requests"] == 80 * GIB // (8192 * LLAMA_8B_TOKEN) == 80


def test_output_tokens_lengthen_each_request():
    opts = budget(80 * GIB, output_tokens=1024)
    row = one("llama-3.1-8b", context="32k", options=opts)
    assert row["request_tokens"] == 32768 + 1024
    assert row["request_bytes_per_gpu"] == 33792 * LLAMA_8B_TOKEN


def test_mla_latent_is_on_every_tp_rank():
    opts = CapacityOptions(weight_dtype="fp8")
    rows = capacity("deepseek-v3", gpus="h200", tp=8, context="32k", options=opts)
    row = rows[0]
    assert row["kv_bytes_per_token_per_gpu"] == 61 * (512 + 64) * 2 == 70_272
    assert (row["kv_heads_per_gpu"], row["kv_replicated"]) == (1, True)
    assert any("MLA latent" in n for n in rows.notes)
    per_block = 70_272 * 16
    assert row["cache_blocks"] == row["kv_budget_bytes_per_gpu"] // per_block


def test_a_model_of_only_sliding_layers_has_no_longest_context():
    rows = capacity("mistral-7b-v0.1", context="32k", batch=8, options=budget(20 * GIB))
    assert rows[0]["max_context"] is None
    assert any("requests of any length fit" in n for n in rows.notes)


def test_a_sliding_and_full_model_pays_the_window_and_the_context():
    row = one("gpt-oss-120b", context="128k", options=budget(40 * GIB))
    block = (
        18 * 2 * 8 * 64 * 2 * 16
    )  # 18 layers of a kind x K,V x 8 heads x 64 x 2 B x 16
    assert row["request_bytes_per_gpu"] == 9 * block + 8192 * block  # window + 128k
    assert row["max_concurrency"] == pytest.approx(40 * GIB / ((9 + 8192) * block))
    # one request of L tokens fits while 9 + ceil(L / 16) blocks fit
    assert row["max_context"] == (40 * GIB // block - 9) * 16 == 1_164_928


def test_floors_of_llama_31_8b_on_h100():
    row = one("llama-3.1-8b", gpus="h100", context="4k")
    embedding = 128256 * 4096
    read = (8_030_261_248 - embedding) * 2 + 4096 * LLAMA_8B_TOKEN  # weights + the KV
    assert row["tpot_floor_ms"] == pytest.approx(read / 3.35e12 * 1000)
    active, lm_head = 8_030_261_248 - embedding, embedding
    attention = 32 * 2 * 32 * (128 + 128) * (4096 * 4097 // 2)
    flops = 2 * 4096 * (active - lm_head) + 2 * lm_head + attention
    assert row["ttft_floor_ms"] == pytest.approx(flops / 989.5e12 * 1000)


def test_moe_decode_floor_reads_the_experts_a_token_picks():
    row = one("mixtral-8x7b", gpus="h100", tp=2, context="4k")
    kv = 4096 * 32 * 2 * 4 * 128 * 2  # 4 KV heads per GPU at TP 2
    whole = 32 * (2 * 4096 + 8 * 4096) + 4096  # norms and routers: every GPU holds them
    split = (
        12_748_853_248 - whole
    )  # the other active params (2 of 8 experts), halved by TP
    read = split * 2 // 2 + whole * 2 + kv
    assert row["tpot_floor_ms"] == pytest.approx(read / 3.35e12 * 1000)


def test_tp_that_does_not_divide_the_query_heads_is_refused():
    with pytest.raises(KvplanError, match="TP 3 does not divide the 32 query heads"):
        capacity("llama-3.1-8b", gpus="h100", tp=3)


@pytest.mark.parametrize("tp", [8, 7])
def test_a_refused_tp_suggests_only_tps_every_constraint_accepts(tp):
    # Qwen2.5-7B: 28 query heads divide by 1, 2, 4, 7, 14, 28; of those, 7 and 14 neither
    # divide its 4 KV heads nor are multiples of them, so 1, 2, 4 and 28 remain.
    with pytest.raises(
        KvplanError, match=f"TP {tp} .*; choose a TP among 1, 2, 4, 28$"
    ):
        capacity("qwen2.5-7b", gpus="h100", tp=tp)


def test_suggested_tps_also_split_state_layers():
    from kvplan.catalog import load_spec
    from kvplan.configs import load_config
    from kvplan.weights import valid_tps

    from .conftest import DATA

    # Qwen3.5-27B: 24 query heads (1, 2, 3, 4, 6, 8, 12, 24), 4 KV heads (3 and 6 out);
    # its delta-rule layers hold 30,720 = 2^11 x 15 conv and 786,432 = 2^18 x 3 state
    # values, which 8, 12 and 24 all divide.
    assert valid_tps(load_spec("qwen3.5-27b")) == [1, 2, 4, 8, 12, 24]
    # Mamba-2.8b: no attention; each layer holds 5120 x 3 = 2^10 x 15 conv values and
    # 5120 x 16 = 2^14 x 5 state values: a TP must divide their gcd 2^10 x 5 = 5120.
    mamba = load_config(DATA / "more_configs" / "Mamba-2.8b-hf.json")
    assert valid_tps(mamba) == [1, 2, 4, 5, 8, 10, 16, 20, 32, 40, 64]


def test_pp_larger_than_the_layers_is_refused():
    with pytest.raises(KvplanError, match="PP 40 is larger than the 32 layers"):
        capacity("llama-3.1-8b", gpus="h100", pp=40)


def test_weights_larger_than_the_gpu_do_not_fit():
    with pytest.raises(DoesNotFitError) as error:
        capacity("llama-3.1-70b", gpus="l4")
    message = str(error.value)
    assert "does not fit: Llama-3.1-70B weights need 131.42 GiB per GPU" in message
    # weights + reserve against 24 GiB x 0.9 = 21.60 GiB: nothing left, said so plainly
    assert "exceed the L4's 24.00 GiB x 0.9 = 21.60 GiB, leaving nothing" in message


def test_a_grid_leaves_out_what_does_not_fit_and_says_so():
    rows = capacity("llama-3.1-70b", gpus=["l4", "h200"], tp=[2, 4], context="8k")
    assert [(r["gpu"], r["tp"]) for r in rows] == [("H200", 2), ("H200", 4)]
    assert sum("left out:" in n for n in rows.notes) == 2


def test_a_spec_without_weights_needs_weights_or_params():
    weightless = str(SPECS / "qwen1.5-7b.yaml")  # a spec YAML with no weights: block
    with pytest.raises(SpecError, match="--weights 16GiB.*--params 8.03B"):
        capacity(weightless, gpus="h100")
    opts = CapacityOptions(params=7_721_324_544)
    row = one(weightless, gpus="h100", options=opts)
    assert row["weight_bytes_per_gpu"] == 7_721_324_544 * 2
    given = one(weightless, gpus="h100", options=CapacityOptions(weight_bytes=15 * GIB))
    assert given["weight_bytes_per_gpu"] == 15 * GIB


def test_the_grid_varies_the_batch_fastest():
    rows = capacity(
        ["llama-3.1-8b", "qwen2.5-7b"],
        gpus=["h100", "a100"],
        cache_dtype=["bf16", "fp8"],
        context=["4k", "32k"],
        batch=[1, 8],
    )
    assert len(rows) == 2 * 2 * 2 * 2 * 2
    first = [
        (r["model"], r["gpu"], r["cache_dtype"], r["context"], r["batch"]) for r in rows
    ]
    assert first[:3] == [
        ("Llama-3.1-8B", "H100 SXM", "bf16", 4096, 1),
        ("Llama-3.1-8B", "H100 SXM", "bf16", 4096, 8),
        ("Llama-3.1-8B", "H100 SXM", "bf16", 32768, 1),
    ]


def test_memory_fraction_scales_the_memory_before_weights():
    opts = CapacityOptions(memory_fraction=Fraction(1, 2), reserve_bytes=0)
    row = one("llama-3.2-1b", gpu_memory=16 * GIB, options=opts)
    assert row["kv_budget_bytes_per_gpu"] == 8 * GIB - 1_235_814_400 * 2


# Engine start-up logs (tests/data/engine_logs.yaml, copied from ../shared/cases): given the
# cache budget the engine printed, kvplan must give the tokens it printed within 1%.
LOGS = yaml.safe_load((Path(__file__).parent / "data" / "engine_logs.yaml").read_text())
POINTS = {p["id"]: p for p in LOGS["points"]}
CASES = {
    # id: (model, cache dtype, TP, block size, budget from the log, logged tokens, context)
    "vllm-llama31-8b-20k": ("llama-3.1-8b", "bf16", 1, 16, "kv_cache_size_gib", 20000),
    "vllm-llama31-8b-29k": ("llama-3.1-8b", "bf16", 1, 16, "kv_cache_size_gib", 29000),
    "vllm-qwen3-14b": (
        "qwen3-14b",
        "bf16",
        1,
        16,
        "available_kv_cache_memory_gib",
        32768,
    ),
    "sglang-qwen3-235b-tp4": ("qwen3-235b-a22b", "bf16", 4, 1, "k+v", None),
    "ollama-qwen2-7b-f16": ("qwen2.5-7b", "fp16", 1, 1, "kv_self_size_mib", None),
    "ikllama-deepseek-mla-q8_0": (
        "deepseek-v3",
        "q8_0",
        1,
        1,
        "kv_self_size_mib",
        None,
    ),
}


def _logged_budget(logged: dict, key: str) -> int:
    """The cache bytes the engine printed (rounded to two decimals by the engine)."""
    if key == "k+v":  # SGLang prints K and V buffers in "GB" computed with 2^30
        return int(
            (Fraction(str(logged["k_size_gb"])) + Fraction(str(logged["v_size_gb"])))
            * GIB
        )
    unit = GIB if key.endswith("_gib") else 2**20
    return int(Fraction(str(logged[key])) * unit)


def _logged_tokens(logged: dict) -> int:
    for key in ("max_tokens_in_kv_cache", "gpu_kv_cache_size_tokens", "kv_tokens"):
        if key in logged:
            return logged[key]
    if "gpu_blocks" in logged:
        return logged["gpu_blocks"] * 16
    return logged.get("kv_size_cells") or logged["n_ctx"]


@pytest.mark.parametrize("point", sorted(CASES))
def test_a_logged_cache_budget_gives_the_logged_tokens_within_one_percent(point):
    model, dtype, tp, block, key, context = CASES[point]
    logged = POINTS[point]["logged"]
    opts = CapacityOptions(
        kv_budget_bytes=_logged_budget(logged, key),
        reservation=IdealReservation(block_size=block),
    )
    row = one(model, tp=tp, cache_dtype=dtype, context=context or 4096, options=opts)
    assert row["kv_bytes_per_token_per_gpu"] == POINTS[point]["bytes_per_token_per_gpu"]
    assert row["cache_tokens"] == pytest.approx(_logged_tokens(logged), rel=0.01)
    if "max_concurrency_x" in logged:
        assert row["max_concurrency"] == pytest.approx(
            logged["max_concurrency_x"], rel=0.01
        )


def test_options_from_python_are_checked_and_exact():
    assert CapacityOptions(memory_fraction=0.9).memory_fraction == Fraction(9, 10)
    with pytest.raises(KvplanError, match="memory_fraction"):
        CapacityOptions(memory_fraction=1.5)
    with pytest.raises(KvplanError, match="tp: expected a positive integer"):
        CapacityOptions(tp=0)
    with pytest.raises(KvplanError, match="output_tokens"):
        CapacityOptions(output_tokens=-1)


def test_replication_in_some_layers_is_flagged():
    # gemma-4-31b: sliding layers have 16 KV heads, its 10 global layers 4
    rows = capacity("gemma-4-31b", tp=8, context="32k", options=budget(40 * GIB))
    assert (rows[0]["kv_heads_per_gpu"], rows[0]["kv_replicated"]) == (2, True)
    assert any("some of its layers' 4 KV heads" in n for n in rows.notes)
