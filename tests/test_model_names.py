"""Model names as logs print them, matched to one shipped spec or to none (model_names.py)."""

import pytest

from kvplan.model_names import match_shipped


@pytest.mark.parametrize(
    ("printed", "spec", "dropped"),
    [
        ("meta-llama/Meta-Llama-3.1-70B-Instruct", "Llama-3.1-70B", "meta, instruct"),
        ("mistralai/Mistral-7B-Instruct-v0.3", "Mistral-7B-v0.3", "instruct"),
        ("Qwen/Qwen3-30B-A3B-Instruct-2507", "Qwen3-30B-A3B", "instruct, 2507"),
        (
            "neuralmagic/Meta-Llama-3.1-70B-Instruct-quantized.w8a8",
            "Llama-3.1-70B",
            "meta, instruct, quantized.w8a8",
        ),
        ("Qwen/Qwen2.5-7B-Instruct-AWQ-INT4", "Qwen2.5-7B", "instruct, awq, int4"),
        ("Qwen/Qwen2.5-32B-Instruct-GPTQ-Int4", "Qwen2.5-32B", "instruct, gptq, int4"),
        ("/path/to/Qwen3-235B-A22B-FP8", "Qwen3-235B-A22B", "fp8"),
        ("bartowski/gemma-2-9b-it-GGUF", "gemma-2-9b-it", "it, gguf"),
        ("Llama-3.1-8B-Instruct-Q4_K_M.gguf", "Llama-3.1-8B", "instruct, q4_k_m"),
        ("Gemma 2 2b It", "gemma-2-2b", "it"),  # llama.cpp's general.name
        ("Gpt Oss 20b", "gpt-oss-20b", None),
    ],
)
def test_a_printed_name_matches_its_spec_and_says_what_was_dropped(
    printed, spec, dropped
):
    found, note = match_shipped(printed)
    assert found is not None and found.name == spec
    assert note.startswith(f"matched the log's model {printed!r} to {spec}")
    if dropped:
        assert note.endswith(f"(dropping {dropped})")


def test_a_name_that_could_be_two_specs_is_not_picked():
    found, near = match_shipped("mistralai/Mistral-7B-Instruct")
    assert found is None
    assert near == ["mistral-7b-v0.1", "mistral-7b-v0.3"]


def test_a_model_with_no_spec_is_not_matched_to_a_neighbour():
    # QwQ-32B has Qwen2.5-32B's shape, not Qwen3-32B's: a near name is listed, never used
    found, near = match_shipped("Qwen/QwQ-32B")
    assert found is None and near == ["qwen3-32b"]
