"""Which windows each engine keeps (kvplan/engines/windows.py), checked by hand.

Phi-3-mini-4k: 32 layers, every one sliding(2047), 32 KV heads of 96 values: 2 x 32 x 96 x 2 =
12,288 B per token per layer at bf16. Mistral-7B-v0.1: 32 sliding(4096) layers, 8 KV heads of
128: 4,096 B per token per layer. gpt-oss-20b: 12 sliding(128) + 12 full layers, 8 heads of 64:
2,048 B per token per layer.
"""

import pytest

from kvplan.capacity import CapacityOptions
from kvplan.capacity_grid import capacity_result
from kvplan.catalog import load_spec
from kvplan.engines import get_profile
from kvplan.engines.reservation import EngineReservation
from kvplan.estimate import estimate

PHI3_LAYER_TOKEN = 2 * 32 * 96 * 2
MISTRAL_LAYER_TOKEN = 2 * 8 * 128 * 2
GPT_OSS_LAYER_TOKEN = 2 * 8 * 64 * 2


def request(engine: str, model: str, context: int, **knobs) -> int:
    profile = get_profile(engine, **knobs)
    cost = profile.cost(load_spec(model), "bf16")
    return profile.request_bytes(cost, context)


def test_llamacpp_counts_every_token_of_phi3_since_swa_was_disabled():
    # llama.cpp pull request 13676: phi3 loads with swa_type NONE, n_swa = 0; n_ctx 4096 is
    # already a multiple of 256, so 4096 cells in each of the 32 layers
    assert request("llamacpp", "phi-3-mini-4k", 4096) == 32 * 4096 * PHI3_LAYER_TOKEN
    # the ideal layout keeps 2047 tokens per layer
    assert request("ideal", "phi-3-mini-4k", 4096) == 32 * 2047 * PHI3_LAYER_TOKEN


def test_llamacpp_keeps_gemma_and_gpt_oss_windows():
    # gpt-oss: 12 full layers x pad256(8192) cells + 12 sliding x pad256(128 + 512) = 768
    expected = (12 * 8192 + 12 * 768) * GPT_OSS_LAYER_TOKEN
    assert request("llamacpp", "gpt-oss-20b", 8192) == expected


@pytest.mark.parametrize("model", ["phi-3-mini-4k", "mistral-7b-v0.1"])
def test_sglang_gives_non_hybrid_models_one_pool_of_every_token(model):
    # is_hybrid_swa_model does not list Phi3ForCausalLM or MistralForCausalLM: one
    # MHATokenToKVPool, every layer holds all 8,192 tokens (page size 1)
    per_token = PHI3_LAYER_TOKEN if model.startswith("phi") else MISTRAL_LAYER_TOKEN
    assert request("sglang", model, 8192) == 32 * 8192 * per_token


def test_sglang_keeps_the_window_of_gpt_oss():
    # GptOssForCausalLM is hybrid SWA: 12 full layers hold 8192 tokens, 12 sliding 128, in
    # two pools split swa_tokens = 0.8 x full_tokens. A full slot comes with 0.8 sliding
    # slots, so one costs (12 + 0.8 x 12) layer-tokens of the budget; the full pool fills
    # first (8192 > 128 / 0.8 = 160 slots)
    per_slot_fifths = (
        12 * 5 + 12 * 4
    ) * GPT_OSS_LAYER_TOKEN  # 5 x (12 + 0.8 x 12) x 2,048
    expected = -(-per_slot_fifths * 8192 // 5)  # ceil(21.6 x 2,048 x 8,192 B)
    assert expected == 362_387_866
    assert request("sglang", "gpt-oss-20b", 8192) == expected


def test_sglang_split_pools_make_concurrency_budget_over_request_bytes():
    # the sliding pool binds when a request's window outweighs its full tokens / 0.8: a
    # 100-token request holds 100 sliding slots = 125 full-slot equivalents
    expected = (12 * 5 + 12 * 4) * GPT_OSS_LAYER_TOKEN * 125 // 5  # 21.6 x 2,048 x 125
    assert expected == 5_529_600
    assert request("sglang", "gpt-oss-20b", 100) == expected


def test_vllm_keeps_the_model_level_window_of_mistral():
    # the Attention layer takes cache_config.sliding_window (4096) in every layer:
    # cdiv(min(4096 - 1 + 8192, 8192), 16) + 1 = 512 + 1 blocks of 16 tokens per layer
    blocks = -(-min(4096 - 1 + 8192, 8192) // 16) + 1
    assert blocks == 513
    expected = blocks * 16 * 32 * MISTRAL_LAYER_TOKEN
    assert request("vllm", "mistral-7b-v0.1", 8192) == expected


def test_estimate_rows_and_notes_follow_the_engine_rule():
    rows = estimate("phi-3-mini-4k", context=4096, engine="ideal,llamacpp")
    ideal, llama = rows[0], rows[1]
    assert ideal["kv_bytes_per_sequence"] == 32 * 2047 * PHI3_LAYER_TOKEN
    assert llama["kv_bytes_per_sequence"] == 32 * 4096 * PHI3_LAYER_TOKEN
    assert llama["kv_bytes_per_extra_token"] == 32 * PHI3_LAYER_TOKEN  # still growing
    assert any("keeps no window for model type 'phi3'" in n for n in rows.notes)


def test_capacity_under_sglang_counts_phi3_as_full_layers():
    # the pool holds 10 GiB // (32 x 12,288 B) = 27,306 tokens of every layer: 27,306 / 4096
    # = 6.67 requests of 4096 tokens, and the longest request is the whole pool
    options = CapacityOptions(
        kv_budget_bytes=10 * 2**30,
        reservation=EngineReservation(profile=get_profile("sglang")),
    )
    result = capacity_result("phi-3-mini-4k", options=options, context=4096)
    row = result.rows[0]
    assert row["request_bytes_per_gpu"] == 32 * 4096 * PHI3_LAYER_TOKEN
    assert row["max_concurrency"] == 27_306 / 4096
    assert row["max_requests"] == 6
    assert row["max_context"] == 10 * 2**30 // (32 * PHI3_LAYER_TOKEN) == 27_306
    assert any("sglang keeps no window" in n for n in result.rows.notes)


def test_a_spec_without_a_model_type_keeps_its_windows_with_a_note():
    from dataclasses import replace

    spec = replace(load_spec("phi-3-mini-4k"), model_type="")
    profile = get_profile("llamacpp")
    cached, note = profile.engine_spec(spec)
    assert cached is spec
    assert "names no model type" in note
