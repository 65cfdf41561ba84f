"""`kvplan capacity --engine`: capacity rows under an engine's own reservation rules."""

import pytest

from kvplan.capacity import CapacityOptions
from kvplan.capacity_grid import capacity
from kvplan.engines import get_profile
from kvplan.engines.reservation import EngineReservation, with_capacity_settings
from kvplan.errors import KvplanError
from kvplan.reservation import IdealReservation

from .test_cli_estimate import kvplan

GIB = 2**30
# gpt-oss-120b: 36 layers alternating sliding(128) and full, 8 KV heads of 64 values:
LAYER_TOKEN = (
    2 * 8 * 64 * 2
)  # 2,048 B per token per layer at bf16 (K,V x heads x dim x 2 B)


def rows_for(reservation, **kwargs):
    options = CapacityOptions(kv_budget_bytes=10 * GIB, reservation=reservation)
    return capacity("gpt-oss-120b", options=options, context="128k", **kwargs)


def test_vllm_rows_are_vllms_own_figures_for_a_sliding_window_model():
    row = rows_for(EngineReservation(profile=get_profile("vllm")))[0]
    # two KV cache groups of 18 layers (full, sliding); a block id spans 16 tokens x 18 layers
    block_bytes = 16 * LAYER_TOKEN * 18
    assert block_bytes == 589_824
    num_blocks = 10 * GIB // block_bytes
    assert num_blocks == 18_204
    # per request of 131,072 tokens: full cdiv(131072, 16) = 8192 blocks; sliding
    # cdiv(min(128 - 1 + 8192 batched, 131072), 16) + 1 = 520 + 1 = 521 blocks
    request_blocks = 8192 + 521
    assert row["engine"] == "vllm"
    assert row["block_size"] == 16
    assert row["request_bytes_per_gpu"] == request_blocks * block_bytes
    assert row["cache_blocks"] == num_blocks
    assert row["cache_tokens"] == num_blocks // 2 * 16 == 145_632  # per group x block
    assert row["max_concurrency"] == pytest.approx(num_blocks / request_blocks)  # 2.09
    assert row["max_requests"] == 2


def test_the_ideal_row_keeps_only_the_window_in_sliding_layers():
    row = rows_for(IdealReservation(block_size=16))[0]
    full = 18 * LAYER_TOKEN * 131072
    sliding = (
        18 * LAYER_TOKEN * 144
    )  # the window's widest span: ceil((128 + 15) / 16) = 9 blocks
    assert row["engine"] == "ideal"
    assert row["request_bytes_per_gpu"] == full + sliding == 4_837_146_624
    assert row["max_concurrency"] == pytest.approx(10 * GIB / (full + sliding))  # 2.22


def test_trtllm_takes_its_fraction_of_the_memory_left_after_loading():
    options = dict(gpu_memory=80 * GIB, context="8k")
    given = dict(weight_bytes=16 * GIB, reserve_bytes=2 * GIB)
    trt = EngineReservation(profile=get_profile("trtllm"))
    ideal_row = capacity("llama-3.1-8b", options=CapacityOptions(**given), **options)[0]
    trt_row = capacity(
        "llama-3.1-8b", options=CapacityOptions(reservation=trt, **given), **options
    )[0]
    # ideal (vLLM, SGLang): 80 GiB x 0.9 - 16 GiB - 2 GiB = 54 GiB
    assert ideal_row["kv_budget_bytes_per_gpu"] == 54 * GIB
    # TensorRT-LLM: (80 GiB - 16 GiB - 2 GiB) x 0.9, floored to a byte
    assert trt_row["kv_budget_bytes_per_gpu"] == 62 * GIB * 9 // 10 == 59_914_793_779
    assert trt_row["block_size"] == 32  # tokens_per_block


def test_capacity_settings_reach_the_engine():
    vllm = with_capacity_settings(
        get_profile("vllm"), block_size=32, max_batched_tokens=2048
    )
    assert vllm.block_size == 32 and vllm.max_num_batched_tokens == 2048
    llamacpp = with_capacity_settings(get_profile("llamacpp"), max_batched_tokens=2048)
    assert llamacpp == get_profile("llamacpp")  # it has no max_num_batched_tokens


def test_an_engine_that_shares_no_prefix_refuses_a_shared_prefix():
    with pytest.raises(KvplanError, match="llamacpp does not share"):
        EngineReservation(profile=get_profile("llamacpp"), shared_prefix_tokens=2048)


def test_cli_compares_engines_in_one_table():
    result = kvplan(
        "capacity", "gpt-oss-120b", "--kv-budget", "10GiB", "-c", "128k",
        "-e", "ideal,vllm", "-f", "csv",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("model,engine,gpu,")
    assert [line.split(",")[1] for line in lines[1:]] == ["ideal", "vllm"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("-e", "vllm", "-E", "gpu_memory_utilization=0.8"), "give --memory-fraction"),
        (("-e", "llamacpp", "--shared-prefix", "2k"), "does not share"),
        (("-e", "vlm"), "did you mean"),
    ],
)
def test_engine_bad_input_is_one_line_exit_2(args, message):
    result = kvplan("capacity", "llama-3.1-8b", "--kv-budget", "10GiB", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_trtllm_rows_count_its_whole_blocks():
    # Llama-3.1-8B at bf16: 131,072 B per token; 10 GiB buy 81,920 tokens = 2,560 blocks of 32
    trt = EngineReservation(profile=get_profile("trtllm"))
    options = CapacityOptions(kv_budget_bytes=10 * GIB, reservation=trt)
    row = capacity("llama-3.1-8b", options=options, context="8k")[0]
    assert 10 * GIB // 131072 == 81920 == 2560 * 32
    assert row["cache_blocks"] == 2560
    assert row["cache_tokens"] == row["max_context"] == 81920
    assert row["max_concurrency"] == 2560 / (8192 // 32)  # 10 requests of 256 blocks


def test_an_engine_that_refuses_a_model_leaves_its_rows_out_of_the_grid():
    # TensorRT-LLM's profile does not model Mamba layers: granite's trtllm rows are left
    # out with a note, the others stay
    options = CapacityOptions(kv_budget_bytes=10 * GIB, params=8 * 10**9)
    from kvplan.capacity_grid import capacity_result

    result = capacity_result(
        ["granite-4.0-h-tiny", "llama-3.1-8b"],
        options=options,
        reservations=[
            IdealReservation(),
            EngineReservation(profile=get_profile("trtllm")),
        ],
    )
    kept = [(r["model"], r["engine"]) for r in result.rows]
    assert ("granite-4.0-h-tiny", "trtllm") not in kept
    assert ("granite-4.0-h-tiny", "ideal") in kept and (
        "Llama-3.1-8B",
        "trtllm",
    ) in kept
    assert any(
        n.startswith("left out: engine: granite-4.0-h-tiny under trtllm")
        for n in result.rows.notes
    )


def test_trtllm_budget_note_shows_its_own_formula():
    trt = EngineReservation(profile=get_profile("trtllm"))
    rows = capacity(
        "llama-3.1-8b",
        gpu_memory=80 * GIB,
        options=CapacityOptions(
            weight_bytes=16 * GIB, reserve_bytes=2 * GIB, reservation=trt
        ),
    )
    assert any(
        "KV budget = (80.00 GiB (given memory) - weights - reserve 2.00 GiB) x 0.9" in n
        for n in rows.notes
    ), rows.notes


def test_sglang_split_pools_bound_the_longest_context_by_the_full_pool():
    row = rows_for(EngineReservation(profile=get_profile("sglang")))[0]
    # 18 full and 18 sliding layers of 2,048 B per token: 10 GiB // (2 x 18 x 2,048) tokens
    # if both pools were equal, regrown so that sliding tokens = 0.8 x full tokens:
    capacity = 10 * GIB // (36 * LAYER_TOKEN)
    full_tokens = (
        capacity * 36 * 5 // (18 * 5 + 18 * 4)
    )  # x (18 + 18) / (18 + 0.8 x 18)
    assert full_tokens == 161_816
    assert row["cache_tokens"] == row["max_context"] == full_tokens
    assert row["max_concurrency"] == pytest.approx(full_tokens / 131072)  # 1.23
