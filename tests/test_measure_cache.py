"""Measured cache bytes equal predicted bytes, and both equal the arithmetic written here.

Every point runs the real thing on the CPU: the decoder fills its preallocated cache by
prefill and decode, and the bytes are the distinct storages behind the cache tensors. Context
24 with 4 decode tokens: the cache holds T = 28 tokens; batch 2.
"""

import pytest

from kvplan.errors import FormatError, KvplanError
from kvplan.measure import measure
from kvplan.spec import Layer

from .measure_specs import GQA, MHA, MLA, MQA, STATE, attention, tiny

T, BATCH = 28, 2


def measured(spec, dtype: str, **options) -> dict:
    """The one row of measuring `spec` at context 24 + 4 decode tokens, batch 2."""
    rows = measure(
        spec,
        device="cpu",
        cache_dtype=dtype,
        context=24,
        batch=BATCH,
        decode_tokens=4,
        small=True,
        **options,
    )
    (row,) = rows
    assert row["status"] == "ok"
    return row


def check(row: dict, expected: int) -> None:
    assert row["measured_kv_bytes"] == expected
    assert row["predicted_kv_bytes"] == expected
    assert row["error_pct"] == 0.0


# 2 layers x 2 (K, V) x kv heads x 16 values x T tokens x batch, at each format's row size:
# bf16 2 B a value; fp8 1 B a value + one 4 B scale per K and per V per layer; int8 1 B a
# value + one 2 B scale per row (token x KV head).
@pytest.mark.parametrize(
    ("spec", "dtype", "expected"),
    [
        (MHA, "bf16", 2 * 2 * 4 * 16 * 2 * T * BATCH),  # 57,344
        (MHA, "fp8", 2 * 2 * 4 * 16 * 1 * T * BATCH + 2 * 2 * 4),  # 28,688
        (MHA, "int8", 2 * 2 * 4 * (16 + 2) * T * BATCH),  # 32,256
        (GQA, "bf16", 2 * 2 * 2 * 16 * 2 * T * BATCH),  # 28,672
        (GQA, "fp8", 2 * 2 * 2 * 16 * 1 * T * BATCH + 2 * 2 * 4),  # 14,352
        (GQA, "int8", 2 * 2 * 2 * (16 + 2) * T * BATCH),  # 16,128
        (MQA, "bf16", 2 * 2 * 1 * 16 * 2 * T * BATCH),  # 14,336
        (MQA, "fp8", 2 * 2 * 1 * 16 * 1 * T * BATCH + 2 * 2 * 4),  # 7,184
        (MQA, "int8", 2 * 2 * 1 * (16 + 2) * T * BATCH),  # 8,064
        (GQA, "fp8_e5m2", 2 * 2 * 2 * 16 * 1 * T * BATCH + 2 * 2 * 4),
        (GQA, "fp16", 2 * 2 * 2 * 16 * 2 * T * BATCH),
        (GQA, "fp32", 2 * 2 * 2 * 16 * 4 * T * BATCH),  # 57,344
    ],
)
def test_measured_equals_predicted_for_mha_gqa_mqa(spec, dtype, expected):
    check(measured(spec, dtype), expected)


def test_sliding_layers_hold_a_ring_of_the_window():
    # window 8 < T = 28: each layer keeps 8 tokens, whatever the context
    spec = tiny(
        "sliding", attention("sliding", window=8), attention("sliding", window=8)
    )
    check(measured(spec, "bf16"), 2 * 2 * 2 * 16 * 2 * 8 * BATCH)  # 8,192


def test_sliding_window_above_the_tokens_holds_the_tokens():
    spec = tiny("wide-window", attention("sliding", window=64))
    check(measured(spec, "int8"), 1 * 2 * 2 * (16 + 2) * T * BATCH)  # 4,032


def test_chunked_layers_hold_one_chunk():
    spec = tiny("chunked", attention("chunked", window=8), attention("full"))
    chunked = 2 * 2 * 16 * 2 * 8 * BATCH  # 8 tokens of the current chunk
    full = 2 * 2 * 16 * 2 * T * BATCH
    check(measured(spec, "bf16"), chunked + full)  # 2,048 + 7,168


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        # one latent row of 32 + 8 values and one indexer key of 16 values per token
        ("bf16", (32 + 8 + 16) * 2 * T * BATCH),  # 6,272
        ("fp8", (32 + 8 + 16) * 1 * T * BATCH + 2 * 4),  # two tensors, two scales
        ("int8", ((32 + 8 + 2) + (16 + 2)) * T * BATCH),  # a scale per row
    ],
)
def test_mla_caches_the_latent_and_indexer_key(dtype, expected):
    check(measured(tiny("mla", MLA), dtype), expected)


@pytest.mark.parametrize("dtype", ["bf16", "fp8"])
def test_state_layers_hold_their_state_in_the_state_dtype(dtype):
    # conv 96 + ssm 512 values per sequence, in bf16 (the spec's dtype) whatever the cache
    spec = tiny("hybrid", STATE, attention("full"))
    state = (96 + 512) * 2 * BATCH  # 2,432, independent of the tokens
    full = {
        "bf16": 2 * 2 * 16 * 2 * T * BATCH,
        "fp8": 2 * 2 * 16 * 1 * T * BATCH + 2 * 4,
    }
    check(measured(spec, dtype), state + full[dtype])


def test_state_in_fp32_when_the_spec_says_so():
    spec = tiny("fp32-state", STATE, attention("full"), dtype="fp32")
    check(measured(spec, "bf16"), (96 + 512) * 4 * BATCH + 2 * 2 * 16 * 2 * T * BATCH)


def test_parallel_hybrid_layer_holds_kv_and_state():
    spec = tiny("parallel", attention("full", conv_values=96, ssm_values=512))
    check(measured(spec, "bf16"), 2 * 2 * 16 * 2 * T * BATCH + (96 + 512) * 2 * BATCH)


def test_shared_and_mlp_layers_hold_nothing():
    # the shared layer reads layer 0's cache: its tensors are the same storages, counted once
    spec = tiny("shared", attention("full"), Layer(kind="shared"), Layer(kind="mlp"))
    check(measured(spec, "bf16"), 1 * 2 * 2 * 16 * 2 * T * BATCH)  # 7,168


def test_kv_shared_layer_stores_one_tensor():
    spec = tiny("k-eq-v", attention("sliding", kv=1, window=8, kv_shared=True))
    check(
        measured(spec, "fp8"), 1 * 16 * 1 * 8 * BATCH + 4
    )  # 260: one tensor, one scale


def test_layers_runs_the_first_n_and_names_the_whole():
    spec = tiny("four", *(attention("full") for _ in range(4)))
    row = measured(spec, "bf16", layers=1)
    check(row, 1 * 2 * 2 * 16 * 2 * T * BATCH)
    assert row["layers"] == 1
    assert row["full_model_kv_bytes"] == 4 * 2 * 2 * 16 * 2 * T * BATCH


def test_the_cache_does_not_grow_while_decoding():
    import torch

    from kvplan.measure.model import build_decoder, model_dims

    dims = model_dims(GQA, small=True)
    dtypes = {"conv_dtype": "bf16", "ssm_dtype": "bf16"}
    model = build_decoder(
        GQA, dims=dims, device="cpu", dtype=torch.float32, seed=0, dtypes=dtypes
    )
    cache = model.new_cache(batch_size=1, tokens=12, cache_dtype="int8")
    before = cache.storage_bytes()
    tokens = torch.randint(0, dims.vocab_size, (1, 12))
    model(tokens[:, :8], cache=cache)
    for position in range(8, 12):
        model(tokens[:, position : position + 1], start=position, cache=cache)
    assert cache.storage_bytes() == before == 2 * 2 * 2 * (16 + 2) * 12


@pytest.mark.parametrize("dtype", ["int4", "q8_0"])
def test_formats_measure_cannot_store_are_refused_by_name(dtype):
    with pytest.raises(FormatError, match=dtype):
        measure(GQA, device="cpu", cache_dtype=dtype, context=8, decode_tokens=1)


def test_compressed_layers_are_refused_with_a_named_error():
    compressed = attention(
        "sliding", kv=1, window=8, compress_ratio=4, compressed_dims=(16,)
    )
    with pytest.raises(KvplanError) as error:
        measure(tiny("v4", compressed), device="cpu", context=8, decode_tokens=1)
    assert error.value.field == "compress_ratio"


def test_more_layers_than_the_model_has_is_an_error():
    with pytest.raises(KvplanError) as error:
        measure(GQA, device="cpu", context=8, decode_tokens=1, layers=3)
    assert error.value.field == "layers"
