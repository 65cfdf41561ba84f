"""The measured decoder computes what it should: cached decode = recompute, linear vs quadratic.

Logits of this model are O(1) (weights of std 1/sqrt(fan_in)), so an absolute tolerance is
meaningful. Each cache format's tolerance follows from its rounding of a stored value:
fp32 2^-24 (float noise only), fp16 2^-11, bf16 2^-8, int8 1/254 of a row's largest value,
fp8 e4m3 2^-4 (three mantissa bits).
"""

import pytest
import torch

from kvplan.measure import measure
from kvplan.measure.attention import Work, allowed_mask, grouped_attention, keys_before
from kvplan.measure.cache import AttentionCache, TokenStore
from kvplan.measure.model import build_decoder, model_dims

from .measure_specs import EVERY_KIND, GQA, attention, tiny

TOLERANCE = {"fp32": 1e-4, "fp16": 0.01, "bf16": 0.1, "int8": 0.2, "fp8": 0.75}


def decoder(spec, seed: int = 0):
    dims = model_dims(spec, small=True)
    dtypes = {"conv_dtype": "fp32", "ssm_dtype": "fp32"}
    return build_decoder(
        spec, dims=dims, device="cpu", dtype=torch.float32, seed=seed, dtypes=dtypes
    )


@pytest.fixture(scope="module")
def every_kind_rows():
    """Every layer kind at once (full, sliding, chunked, MLA, state, hybrid, shared, mlp)."""
    rows = measure(
        EVERY_KIND,
        device="cpu",
        cache_dtype=list(TOLERANCE),
        context=20,  # past the 8-token window and chunk, so rings wrap
        batch=2,
        decode_tokens=6,
        small=True,
    )
    return {row["cache_dtype"]: row for row in rows}


@pytest.mark.parametrize("dtype", list(TOLERANCE))
def test_cached_decode_matches_recompute_within_the_format_tolerance(
    every_kind_rows, dtype
):
    row = every_kind_rows[dtype]
    assert row["status"] == "ok"
    assert row["measured_kv_bytes"] == row["predicted_kv_bytes"]
    assert 0 <= row["max_abs_logit_diff"] < TOLERANCE[dtype]


def test_fp32_cache_is_recompute_up_to_float_noise(every_kind_rows):
    assert every_kind_rows["fp32"]["max_abs_logit_diff"] < 1e-4


@pytest.mark.parametrize("dtype", ["fp8", "int8"])
def test_quantized_caches_report_their_error_against_bf16(every_kind_rows, dtype):
    error = every_kind_rows[dtype]["quant_logit_diff_vs_bf16"]
    assert (
        0 < error < TOLERANCE[dtype]
    )  # quantizing costs something, and a bounded amount


def test_int8_costs_less_accuracy_than_fp8(every_kind_rows):
    # a scale per token per head (int8) tracks values better than one per tensor (fp8 e4m3)
    int8 = every_kind_rows["int8"]["quant_logit_diff_vs_bf16"]
    assert int8 < every_kind_rows["fp8"]["quant_logit_diff_vs_bf16"]


def test_float_caches_report_no_quantization_error(every_kind_rows):
    assert every_kind_rows["bf16"]["quant_logit_diff_vs_bf16"] is None


def test_the_check_catches_a_cache_that_reads_one_token_short(monkeypatch):
    # the same comparison with a broken read: the diff must be far outside the fp32 tolerance
    monkeypatch.setattr(AttentionCache, "visible", lambda self, position: position)
    (row,) = measure(
        GQA, device="cpu", cache_dtype="fp32", context=12, decode_tokens=4, small=True
    )
    assert row["max_abs_logit_diff"] > 100 * TOLERANCE["fp32"]


def _decode_work(spec, context: int, steps: int, *, cached: bool) -> list[Work]:
    """The work each decode step does, with the cache or re-running the prefix."""
    model = decoder(spec)
    tokens = torch.randint(0, model.dims.vocab_size, (1, context + steps))
    cache = model.new_cache(batch_size=1, tokens=context + steps, cache_dtype="bf16")
    model(tokens[:, :context], cache=cache if cached else None)
    done = []
    for position in range(context, context + steps):
        work = Work()
        if cached:
            model(
                tokens[:, position : position + 1],
                start=position,
                cache=cache,
                work=work,
            )
        else:
            model(tokens[:, : position + 1], work=work)
        done.append(work)
    return done


def test_decode_work_is_flat_with_the_cache_and_grows_without_it():
    # 2 full layers, context 8, 3 decode steps (positions 8, 9, 10)
    cached = _decode_work(GQA, 8, 3, cached=True)
    recompute = _decode_work(GQA, 8, 3, cached=False)
    # queries run through attention per step: 1 token per layer, against the whole prefix
    assert [w.query_positions for w in cached] == [2 * 1, 2 * 1, 2 * 1]
    assert [w.query_positions for w in recompute] == [2 * 9, 2 * 10, 2 * 11]
    # keys scored: linear in length with the cache, quadratic without (1 + 2 + ... + n)
    assert [w.key_positions for w in cached] == [2 * 9, 2 * 10, 2 * 11]
    assert [w.key_positions for w in recompute] == [2 * 45, 2 * 55, 2 * 66]


def test_sliding_decode_attention_is_flat_past_the_window():
    spec = tiny("sliding", attention("sliding", window=4))
    cached = _decode_work(spec, 8, 3, cached=True)
    assert [w.key_positions for w in cached] == [4, 4, 4]


@pytest.mark.parametrize(
    ("kind", "window", "n", "expected"),
    [
        ("full", None, 4, 1 + 2 + 3 + 4),
        ("sliding", 3, 5, 1 + 2 + 3 + 3 + 3),
        ("chunked", 3, 5, 1 + 2 + 3 + 1 + 2),
    ],
)
def test_keys_before_counts_what_the_mask_allows(kind, window, n, expected):
    assert keys_before(kind, window, n) == expected
    positions = torch.arange(n)
    assert int(allowed_mask(kind, window, positions, positions).sum()) == expected


def test_grouped_attention_equals_attention_over_repeated_kv_heads():
    # the reference repeats each KV head for its group of query heads (Llama's repeat_kv)
    generator = torch.Generator().manual_seed(1)
    q = torch.randn(2, 8, 5, 16, generator=generator)
    k = torch.randn(2, 2, 7, 16, generator=generator)
    v = torch.randn(2, 2, 7, 12, generator=generator)
    repeated_k = k.repeat_interleave(4, dim=1)
    repeated_v = v.repeat_interleave(4, dim=1)
    reference = (
        torch.softmax(q @ repeated_k.transpose(-1, -2) * 0.25, dim=-1) @ repeated_v
    )
    assert torch.allclose(grouped_attention(q, k, v, 0.25), reference, atol=1e-5)


def test_a_cache_read_in_its_own_dtype_is_a_view_not_a_copy():
    store = TokenStore("bf16", 1, 2, 10, 16, "cpu")
    keys = store.read(6, torch.bfloat16)
    assert keys.untyped_storage().data_ptr() == store.data.untyped_storage().data_ptr()


def test_chunked_decode_reads_only_its_chunk():
    layer = attention("chunked", window=8)
    cache = AttentionCache(layer, _geo(tokens=30))
    assert cache.slots == 8
    # position 17 is the 2nd token of the chunk 16..23: it reads slots 0 and 1
    assert (cache.visible(17), int(cache.slot_of(torch.tensor([17]))[0])) == (2, 1)


def test_sliding_ring_reads_the_whole_window_once_full():
    cache = AttentionCache(attention("sliding", window=8), _geo(tokens=30))
    assert [cache.visible(p) for p in (0, 6, 7, 8, 29)] == [1, 7, 8, 8, 8]


def _geo(tokens: int):
    from kvplan.measure.cache import Geometry

    return Geometry(batch_size=1, tokens=tokens, device="cpu", cache_dtype="bf16")


def test_the_same_seed_gives_the_same_model():
    first, second = decoder(GQA, seed=3), decoder(GQA, seed=3)
    assert torch.equal(first.lm_head.weight, second.lm_head.weight)
    assert not torch.equal(first.lm_head.weight, decoder(GQA, seed=4).lm_head.weight)


def test_recompute_columns_are_filled_when_asked():
    (row,) = measure(
        GQA,
        device="cpu",
        context=16,
        decode_tokens=20,
        small=True,
        compare_recompute=True,
    )
    assert (
        row["recompute_steps"] == 16
    )  # capped: a cache-less decode re-runs the prefix
    assert row["recompute_step_ms"] > 0
    assert row["recompute_ratio"] == row["recompute_step_ms"] / row["tpot_ms"]
