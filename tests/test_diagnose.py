"""The cause finder: every single setting that explains a mismatch, most likely first."""

from .test_check_logs_more import LOGS, by_figure, check, check_file


def test_a_factor_of_two_lists_every_setting_that_gives_it():
    # TensorRT-LLM 0.19, Llama-3.1-8B with an FP8 cache: 17.83 GiB x 0.9 buy 263,008 tokens
    # at 65,536 B per token (fp8); the bf16 prediction is half. An fp8 cache at TP 1 and a
    # bf16 cache at TP 2 both give it; the log states neither, and a cache dtype is the more
    # common mistake, so it comes first
    rows, _ = check_file("trtllm-0.19-llama31-8b-fp8kv-rtx5090.log", "llama-3.1-8b")
    note = by_figure(rows)["kv_cache_tokens"]["note"]
    assert note.startswith(
        "looks like a fp8 cache, not bf16, or TP 2, not 1 (most likely first):"
        " predicted/logged = 0.50"
    )


def test_a_draft_models_extra_layer_is_found():
    # Llama-3.1-8B + EAGLE: 51.63 GiB // (16 tokens x 33 layers x 4,096 B) = 25,633 blocks
    # = 410,128 tokens, as logged; 32 layers would give 422,944
    assert int(51.63 * 2**30) // (16 * 33 * 4096) * 16 == 410128
    rows, _ = check_file("vllm-v1-llama31-8b-eagle-h100.log", "llama-3.1-8b")
    note = by_figure(rows)["kv_cache_tokens"]["note"]
    assert note.startswith("looks like one extra layer (a draft model's: EAGLE, MTP)")


def test_with_no_single_setting_the_budget_that_fits_is_given():
    # the Qwen3-14B log with its 6.51 GiB edited to 7.51: nothing but the budget explains
    # it, and 6.51 GiB is the budget whose pool prints as the logged 42,656 tokens
    text = (LOGS / "vllm-v1-qwen3-14b.log").read_text().replace("6.51 GiB", "7.51 GiB")
    rows, _ = check(text, "qwen3-14b")
    note = by_figure(rows)["kv_cache_tokens"]["note"]
    assert "no single setting explains it" in note
    assert "6.51 GiB instead of the logged 7.51 GiB would give it" in note
