"""The transformers profile against transformers itself: a tiny model run on the CPU.

DynamicCache grows every layer's K and V with torch.cat, so while the new tensor is built the
old one is alive: the test watches each cat the cache makes, adds up the storages the cache
holds plus the one being built, and compares the largest sum with the profile's peak, and the
storages after the last step with its steady bytes. Configs are built in memory; nothing is
downloaded.
"""

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from kvplan.configs import spec_from_config  # noqa: E402
from kvplan.engines import get_profile, rank_cost  # noqa: E402


def _storages(cache) -> dict:
    """Bytes of every distinct storage the cache's K and V tensors hold."""
    held = {}
    for layer in cache.layers:
        for tensor in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if isinstance(tensor, torch.Tensor) and tensor.numel():
                storage = tensor.untyped_storage()
                held[storage.data_ptr()] = storage.nbytes()
    return held


def _cache_of(layer_tensors, cache) -> bool:
    return any(
        layer_tensors is t
        for layer in cache.layers
        for t in (getattr(layer, "keys", None), getattr(layer, "values", None))
    )


def run_and_watch(model, prompt: int, steps: int, monkeypatch) -> tuple[int, int]:
    """(bytes held after the last step, the most held during any cache torch.cat)."""
    cache = transformers.DynamicCache(config=model.config)
    peak, real_cat = [0], torch.cat

    def watched_cat(tensors, *args, **kwargs):
        out = real_cat(tensors, *args, **kwargs)
        if _cache_of(tensors[0], cache):  # the cache growing a layer, not the model
            live = _storages(cache)
            live[out.untyped_storage().data_ptr()] = out.untyped_storage().nbytes()
            peak[0] = max(peak[0], sum(live.values()))
        return out

    monkeypatch.setattr(torch, "cat", watched_cat)
    ids = torch.arange(prompt).unsqueeze(0)
    with torch.no_grad():
        out = model(input_ids=ids, cache=cache, use_cache=True)
        for _ in range(steps):
            token = out.logits[:, -1:].argmax(-1)
            out = model(input_ids=token, cache=cache, use_cache=True)
    monkeypatch.undo()
    return sum(_storages(cache).values()), peak[0]


def _tiny(family: str, **shape):
    """A randomly initialised model of a transformers family, built from a config in memory."""
    config = getattr(transformers, f"{family}Config")(
        hidden_size=32,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
        vocab_size=64,
        max_position_embeddings=128,
        **shape,
    )
    torch.manual_seed(0)
    return config, getattr(transformers, f"{family}ForCausalLM")(config).eval()


def _tiny_llama():
    return _tiny("Llama", num_hidden_layers=3)


def test_dynamic_cache_peak_is_steady_plus_one_old_tensor(monkeypatch):
    config, model = _tiny_llama()
    steady, peak = run_and_watch(model, prompt=5, steps=7, monkeypatch=monkeypatch)
    # 12 tokens: 3 layers x 2 (K,V) x 2 KV heads x head_dim 8 x 4 B (fp32) x 12 = 4,608 B
    assert steady == 3 * 2 * 2 * 8 * 4 * 12
    # the last layer's V is rebuilt at 12 tokens while its 11-token tensor is alive:
    # 4,608 + 2 heads x 8 x 4 B x 11 = 5,312 B
    assert peak == 3 * 2 * 2 * 8 * 4 * 12 + 2 * 8 * 4 * 11
    spec = spec_from_config(config.to_dict(), name="tiny-llama")
    cost = rank_cost(spec, "fp32", mla_mode="expanded")
    profile = get_profile("transformers")
    assert profile.request_bytes(cost, 12) == steady
    assert profile.peak_bytes(cost, 12) == peak


def test_dynamic_sliding_layer_holds_the_window_in_storage(monkeypatch):
    config, model = _tiny("Gemma2", head_dim=8, num_hidden_layers=2, sliding_window=4)
    steady, peak = run_and_watch(model, prompt=5, steps=7, monkeypatch=monkeypatch)
    # layer 0 slides (window 4): it shows window - 1 = 3 tokens, a view of the 4-token cat;
    # layer 1 is full: 12 tokens. 2 (K,V) x 2 heads x 8 x 4 B x (4 + 12) = 2,048 B
    assert steady == 2 * 2 * 8 * 4 * (4 + 12)
    assert (
        peak == steady + 2 * 8 * 4 * 11
    )  # the full layer's 11-token V, alive in its cat
    spec = spec_from_config(config.to_dict(), name="tiny-gemma2")
    cost = rank_cost(spec, "fp32", mla_mode="expanded")
    profile = get_profile("transformers")
    assert (profile.request_bytes(cost, 12), profile.peak_bytes(cost, 12)) == (
        steady,
        peak,
    )


def test_static_cache_preallocates_max_cache_len():
    config, _ = _tiny_llama()
    cost = rank_cost(spec_from_config(config.to_dict(), name="tiny"), "fp32")
    static = get_profile("transformers", cache="static", max_cache_len=64)
    # 3 layers x 2 x 2 heads x 8 x 4 B x 64 tokens, whatever the context
    assert static.request_bytes(cost, 12) == 3 * 2 * 2 * 8 * 4 * 64
    assert static.peak_bytes(cost, 12) == static.request_bytes(cost, 12)


def test_quantized_cache_keeps_a_residual_in_full_precision():
    config, _ = _tiny_llama()
    config.head_dim = 64  # one quantization group per row
    config.num_attention_heads = 1
    config.num_key_value_heads = 1
    config.hidden_size = 64
    cost = rank_cost(spec_from_config(config.to_dict(), name="tiny"), "bf16")
    quantized = get_profile("transformers", cache="quantized", residual_length=128)
    # 1000 tokens: 127 in bf16 (64 x 2 B per row), 873 in 4 bits (64 x 0.5 B = 32 B)
    # plus a 2 B scale and a 2 B zero point per group of 64: 36 B per row
    per_layer = 2 * (127 * 128 + 873 * 36)
    assert quantized.request_bytes(cost, 1000) == 3 * per_layer


def test_unknown_cache_class_is_refused():
    with pytest.raises(ValueError, match="cache must be one of dynamic, static"):
        get_profile("transformers", cache="paged")
