"""IdealReservation: whole blocks of the tokens each layer still holds, shared prefixes once."""

import pytest

from kvplan.catalog import load_spec
from kvplan.errors import KvplanError
from kvplan.reservation import IdealReservation
from kvplan.sizing import model_cost

LLAMA = model_cost(
    load_spec("llama-3.1-8b"), "bf16"
)  # 131,072 B a token, 32 full layers
MISTRAL = model_cost(load_spec("mistral-7b-v0.1"), "bf16")  # 32 sliding(4096) layers
GPT_OSS = model_cost(load_spec("gpt-oss-120b"), "bf16")  # 18 sliding(128) + 18 full


def test_a_context_not_a_multiple_of_the_block_is_rounded_up():
    ideal = IdealReservation(block_size=16)
    # 1000 tokens = 62 blocks and 8 tokens: 63 blocks of 16
    assert ideal.request_bytes(LLAMA, 1000) == 63 * 16 * 131072
    assert (
        ideal.request_bytes(LLAMA, 1008) == 63 * 16 * 131072
    )  # 1008 = 63 x 16 exactly
    assert ideal.request_bytes(LLAMA, 1009) == 64 * 16 * 131072  # one token over


def test_block_size_one_is_exact_accounting():
    ideal = IdealReservation(block_size=1)
    for context in (1, 100, 4096, 10000):
        assert ideal.request_bytes(MISTRAL, context) == MISTRAL.sequence_bytes(context)


def test_a_sliding_window_reserves_its_peak_span_of_blocks():
    ideal = IdealReservation(block_size=16)
    per_block = (
        32 * 2 * 8 * 128 * 2 * 16
    )  # 32 layers x K,V x 8 heads x 128 x 2 B x 16 tokens
    assert ideal.request_bytes(MISTRAL, 4096) == 256 * per_block  # the window, aligned
    # past the window, 4096 tokens straddle 257 blocks whenever they do not start on an edge
    assert ideal.request_bytes(MISTRAL, 4097) == 257 * per_block
    assert ideal.request_bytes(MISTRAL, 100_000) == 257 * per_block
    assert not ideal.grows_without_bound(MISTRAL)
    assert ideal.grows_without_bound(GPT_OSS)


def test_mixed_windows_pay_per_group():
    ideal = IdealReservation(block_size=16)
    sliding_block = (
        18 * 2 * 8 * 64 * 2 * 16
    )  # 18 layers x K,V x 8 heads x 64 x 2 B x 16
    full_block = sliding_block
    # at 32k: the sliding layers keep ceil((128 + 15) / 16) = 9 blocks (128 tokens that
    # straddle a block edge), the full ones 32768 / 16 = 2048
    assert ideal.request_bytes(GPT_OSS, 32768) == 9 * sliding_block + 2048 * full_block


def test_a_shared_prefix_is_held_once():
    ideal = IdealReservation(block_size=16, shared_prefix_tokens=2048)
    assert ideal.shared_bytes(LLAMA, 8192) == 2048 * 131072
    assert ideal.request_bytes(LLAMA, 8192) == (8192 - 2048) * 131072


def test_only_whole_blocks_of_a_prefix_are_shared():
    ideal = IdealReservation(block_size=16, shared_prefix_tokens=2050)  # 128 blocks + 2
    assert ideal.shared_tokens == 2048
    assert ideal.shared_bytes(LLAMA, 8192) == 128 * 16 * 131072


def test_a_prefix_slid_out_of_a_window_is_no_longer_shared():
    ideal = IdealReservation(block_size=16, shared_prefix_tokens=2048)
    per_block = 32 * 2 * 8 * 128 * 2 * 16
    # at 3000 tokens the 4096-token window still holds the whole prefix: 128 shared blocks
    assert ideal.shared_bytes(MISTRAL, 3000) == 128 * per_block
    # at 5000 tokens it holds tokens 904..4999: prefix blocks 56..127 (72 of them)
    assert ideal.shared_bytes(MISTRAL, 5000) == (128 - 904 // 16) * per_block
    # at 10000 tokens the prefix is out of every window
    assert ideal.shared_bytes(MISTRAL, 10000) == 0
    assert ideal.request_bytes(MISTRAL, 10000) == 257 * per_block


def test_a_pool_holds_whole_blocks_of_tokens():
    ideal = IdealReservation(block_size=16)
    budget = 3 * 2**30 + 5  # 3 GiB and change
    blocks = budget // (131072 * 16)
    assert ideal.pool_blocks(LLAMA, budget) == blocks == 1536
    assert ideal.pool_tokens(LLAMA, budget) == 1536 * 16


def test_fp8_scales_come_out_of_the_pool_first():
    fp8 = model_cost(load_spec("llama-3.1-8b"), "fp8")
    ideal = IdealReservation(block_size=16)
    per_block = 32 * 2 * 8 * 128 * 1 * 16
    budget = 10 * per_block + 32 * 2 * 4  # ten blocks and the per-layer K and V scales
    assert ideal.pool_blocks(fp8, budget) == 10
    assert ideal.pool_blocks(fp8, budget - 1) == 9


@pytest.mark.parametrize("size", [0, -16])
def test_block_size_must_be_positive(size):
    with pytest.raises(KvplanError, match="block_size"):
        IdealReservation(block_size=size)
