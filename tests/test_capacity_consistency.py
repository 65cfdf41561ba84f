"""Every engine's capacity row agrees with itself: concurrency, request bytes and the pool.

For every profile x a set of models covering each layout (full, interleaved and all-sliding
windows, Mamba and linear-attention hybrids, MLA) x several contexts:

- max_concurrency x request_bytes_per_gpu fits in the pool the engine allocates for the budget
  (the budget itself, or TensorRT-LLM's whole blocks, up to one block past it);
- max_requests == floor(max_concurrency), except where the engine prints a concurrency defined
  otherwise, which the rows then say in a note (vLLM V0: tokens / context, no block rounding);
- cache_tokens and max_context agree where the pool is one uniform group of full layers.
These hold by construction of the rows, not by tuning: the test names the engine that breaks
them.
"""

import math

import pytest

from kvplan.capacity import CapacityOptions
from kvplan.capacity_grid import capacity_result
from kvplan.engines import ENGINE_NAMES, get_profile
from kvplan.engines.reservation import EngineReservation
from kvplan.reservation import IdealReservation

GIB = 2**30
MODELS = (
    "llama-3.1-8b",  # full attention
    "gpt-oss-20b",  # sliding(128) + full
    "gemma-3-27b",  # 52 sliding(1024) + 10 full
    "phi-3-mini-4k",  # every layer sliding(2047)
    "granite-4.0-h-tiny",  # Mamba-2 + full attention
    "qwen3-next-80b-a3b",  # linear attention + full attention
    "deepseek-v2-lite",  # MLA
)
CONTEXTS = (1000, 8192, 100_000)
# engines whose printed concurrency is defined otherwise than pool / request bytes
BY_DESIGN = {"vllm-v0": "does not round a request up to whole blocks"}


def _reservation(name: str):
    if name == "ideal":
        return IdealReservation()
    return EngineReservation(profile=get_profile(name))


def _rows(name: str):
    options = CapacityOptions(
        kv_budget_bytes=20 * GIB, params=8 * 10**9, reservation=_reservation(name)
    )
    return capacity_result(list(MODELS), options=options, context=list(CONTEXTS))


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_concurrency_times_request_bytes_fits_the_pool(name):
    result = _rows(name)
    assert result.rows, name
    per_plan = len(CONTEXTS)
    for index, row in enumerate(result.rows):
        stage = result.plans[index // per_plan].stages[0]
        concurrency, request = row["max_concurrency"], row["request_bytes_per_gpu"]
        where = f"{name} {row['model']} at {row['context']:,}"
        if name in BY_DESIGN:
            continue
        assert math.floor(concurrency) * request <= stage.pool_bytes, where
        # transformers' concurrency counts the update's peak, not the bytes held
        if name == "transformers":
            continue
        # and the other way: as many requests as the pool's bytes hold (none left unused)
        room = (
            stage.pool_bytes
            - stage.cost.fixed_bytes
            - row["shared_prefix_bytes_per_gpu"]
        )
        assert math.floor(concurrency) >= room // request - 1, where
        # Split pools round: SGLang floors its Mamba state slots before sizing the KV pool
        # from the rest, TensorRT-LLM rounds each window's pool up to whole blocks; either
        # leaves a pool less than one request larger than its share of the budget
        slack = request if name in ("sglang", "trtllm") else 0
        assert concurrency * request <= stage.pool_bytes * (1 + 1e-12) + slack, where
        assert stage.pool_bytes <= stage.budget_bytes + request, where


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_whole_requests_are_the_floor_of_the_concurrency(name):
    result = _rows(name)
    for row in result.rows:
        where = f"{name} {row['model']} at {row['context']:,}"
        if name in BY_DESIGN:
            assert row["max_requests"] <= math.floor(row["max_concurrency"]), where
            assert any(BY_DESIGN[name] in note for note in result.rows.notes)
            continue
        assert row["max_requests"] == math.floor(row["max_concurrency"]), where


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_one_request_of_the_longest_context_fits_and_one_more_token_does_not(name):
    result = _rows(name)
    per_plan = len(CONTEXTS)
    for index, row in enumerate(result.rows):
        longest = row["max_context"]
        if longest is None:  # every layer bounded: a note says any length fits
            continue
        p = result.plans[index // per_plan]
        reservation, stage = p.options.reservation, p.stages[0]
        room = stage.pool_bytes - stage.cost.fixed_bytes
        assert reservation.request_bytes(stage.cost, longest) <= room
        assert reservation.request_bytes(stage.cost, longest + 1) > room


def test_uniform_full_attention_pool_tokens_equal_the_longest_context():
    # Llama-3.1-8B: one group of 32 full layers, 131,072 B per token at bf16 (32 x 2 x 8 x
    # 128 x 2); 20 GiB hold 163,840 tokens, in 16-token blocks (vLLM), 32-token blocks
    # (TensorRT-LLM, 5,120 blocks exactly), cells of 256 (llama.cpp) or pages of 1 (SGLang)
    assert 20 * GIB // (32 * 2 * 8 * 128 * 2) == 163_840
    for name in ("ideal", "vllm", "sglang", "trtllm", "llamacpp"):
        row = _rows(name).rows[0]
        assert row["model"] == "Llama-3.1-8B"
        assert row["cache_tokens"] == row["max_context"] == 163_840, name
