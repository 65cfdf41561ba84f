"""A peer's cache against kvplan's prediction: tiny transformers models, built in memory.

Each model is built from a config made here (no download), run with its own cache, and the
distinct storages of that cache are summed; the config's dict goes through kvplan's own config
reader, and `kvplan.estimate` must give the same bytes. Where transformers lays a cache out
differently by design, the test says so with the numbers. Read from transformers 5.x
(cache_utils.py: DynamicLayer, DynamicSlidingWindowLayer, StaticSlidingWindowLayer,
Fp8QuantizedLayer; models/deepseek_v3: the latent is what the cache updates).
"""

import pytest
import torch

import kvplan
from kvplan.configs import spec_from_config
from kvplan.measure.cache import storage_bytes

transformers = pytest.importorskip("transformers")

BATCH, TOKENS = 2, 20


def run_with_cache(model_class, config, cache=None, decode_steps: int = 0):
    """Run a random-weight model over BATCH x TOKENS tokens, then decode; return its cache."""
    torch.manual_seed(0)
    model = model_class(config).to(torch.bfloat16).eval()
    ids = torch.randint(0, config.vocab_size, (BATCH, TOKENS + decode_steps))
    with torch.no_grad():
        out = model(ids[:, :TOKENS], use_cache=True, cache=cache)
        for step in range(TOKENS, TOKENS + decode_steps):
            out = model(ids[:, step : step + 1], use_cache=True, cache=out.cache)
    return out.cache


def layer_tensors(cache) -> list:
    """Every tensor the cache's layers hold (keys and values, or quantized ones and scales)."""
    found = []
    for layer in cache.layers:
        for name in ("keys", "values"):
            tensor = getattr(layer, name, None)
            if isinstance(tensor, torch.Tensor) and tensor.numel():
                found.append(tensor)
        for name in ("_quantized_keys", "_quantized_values"):
            found += list(getattr(layer, name, None) or ())
    return found


def predicted(config, name: str, dtype: str = "auto", **options) -> int:
    spec = spec_from_config(config.to_dict(), name=name)
    return kvplan.estimate(
        spec, context=TOKENS, batch=BATCH, cache_dtype=dtype, **options
    )[0]["kv_bytes"]


def tiny_config(config_class, **extra):
    """2 layers, 4 query heads over 2 KV heads of 16, bf16: the peer's own config class."""
    return config_class(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=256,
        dtype="bfloat16",
        **extra,
    )


def llama_config():
    return tiny_config(transformers.LlamaConfig)


def mistral_config():
    return tiny_config(transformers.MistralConfig, sliding_window=8)


def test_llama_dynamic_cache_equals_the_prediction():
    cache = run_with_cache(transformers.LlamaForCausalLM, llama_config())
    # 2 layers x 2 (K, V) x 2 KV heads x 16 head dim x 2 B x 20 tokens x 2 sequences
    expected = 2 * 2 * 2 * 16 * 2 * TOKENS * BATCH  # 10,240
    assert storage_bytes(layer_tensors(cache)) == expected
    assert predicted(llama_config(), "tiny-llama") == expected


def test_llama_fp8_quantized_cache_equals_the_fp8_prediction():
    # transformers' fp8 backend: e4m3 values and one fp32 scale per K and per V per layer
    config = llama_config()
    cache = transformers.QuantizedCache(backend="fp8", config=config)
    cache = run_with_cache(transformers.LlamaForCausalLM, config, cache)
    expected = 2 * 2 * 2 * 16 * 1 * TOKENS * BATCH + 2 * 2 * 4  # 5,136
    assert storage_bytes(layer_tensors(cache)) == expected
    assert predicted(config, "tiny-llama", "fp8") == expected


def test_sliding_static_cache_equals_the_prediction():
    # StaticSlidingWindowLayer holds min(max_cache_len, window) = 8 tokens, as kvplan counts
    config = mistral_config()
    cache = transformers.StaticCache(config=config, max_cache_len=TOKENS)
    cache = run_with_cache(transformers.MistralForCausalLM, config, cache)
    expected = 2 * 2 * 2 * 16 * 2 * 8 * BATCH  # 4,096
    assert storage_bytes(layer_tensors(cache)) == expected
    assert predicted(config, "tiny-mistral") == expected


def test_sliding_dynamic_cache_shows_window_minus_one_but_holds_the_window():
    # DynamicSlidingWindowLayer concatenates, then keeps a view of the last window - 1 = 7
    # tokens (the next token's own K/V completes the window). The storage behind that view is
    # the concatenation: right after the prefill, all 20 prompt tokens stay alive; from the
    # first decode step on, 7 + 1 = 8 tokens, the window kvplan counts.
    config = mistral_config()
    per_token = (
        2 * 2 * 2 * 16 * 2 * BATCH
    )  # 2 layers x (K, V) x 2 heads x 16 x 2 B x 2 seqs
    after_prefill = run_with_cache(transformers.MistralForCausalLM, config)
    assert after_prefill.layers[0].keys.shape[-2] == 7
    assert storage_bytes(layer_tensors(after_prefill)) == per_token * TOKENS  # 10,240
    decoding = run_with_cache(transformers.MistralForCausalLM, config, decode_steps=1)
    assert decoding.layers[0].keys.shape[-2] == 7
    assert storage_bytes(layer_tensors(decoding)) == per_token * 8  # 4,096
    assert predicted(config, "tiny-mistral") == per_token * 8


def test_deepseek_v3_caches_the_mla_latent():
    # transformers updates its cache with the latent (kv_lora_rank) and the rotary key
    # (qk_rope_head_dim), one row each per token, the per-head K and V expanded after the read
    config = transformers.DeepseekV3Config(
        hidden_size=64,
        intermediate_size=128,
        moe_intermediate_size=32,
        num_hidden_layers=2,
        first_k_dense_replace=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        kv_lora_rank=32,
        q_lora_rank=None,
        qk_nope_head_dim=16,
        qk_rope_head_dim=8,
        v_head_dim=16,
        vocab_size=256,
        dtype="bfloat16",
    )
    cache = run_with_cache(transformers.DeepseekV3ForCausalLM, config)
    expected = 2 * (32 + 8) * 2 * TOKENS * BATCH  # 6,400
    assert storage_bytes(layer_tensors(cache)) == expected
    assert predicted(config, "tiny-deepseek") == expected
    # expanded K and V per head would be 4 heads x (24 + 16) values: 4x the latent here
    expanded = predicted(config, "tiny-deepseek", mla="expanded")
    assert expanded == 2 * 4 * (24 + 16) * 2 * TOKENS * BATCH
