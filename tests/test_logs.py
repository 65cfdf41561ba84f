"""Log readers: each engine's lines, as quoted in public issues (tests/data/logs/README.md)."""

from fractions import Fraction

import pytest

from kvplan.logs import LogError, parse_log

from .conftest import DATA

LOGS = DATA / "logs"


def read(name):
    return parse_log((LOGS / name).read_text(encoding="utf-8"))


def test_vllm_v0_lines():
    facts = read("vllm-v0-llama31-8b-29k.log")
    assert (facts.engine, facts.format) == ("vllm-v0", "vLLM V0")
    figures = {n: (f.value, f.decimals) for n, f in facts.figures.items()}
    assert figures == {
        "kv_cache_memory_gib": (Fraction("2.89"), 2),
        "gpu_blocks": (1478, 0),
        "cpu_blocks": (2048, 0),
        "max_concurrency": (Fraction("0.82"), 2),
        "kv_cache_tokens": (23648, 0),
        # the budget's terms: 23.58 x 0.90 - 17.98 - 0.35 = 2.892 GiB
        "total_gpu_memory_gib": (Fraction("23.58"), 2),
        "gpu_memory_utilization": (Fraction("0.90"), 2),
        "peak_torch_gib": (Fraction("17.98"), 2),
        "non_torch_gib": (Fraction("0.35"), 2),
    }
    assert facts.max_model_len == 29000  # from the concurrency line


def test_vllm_v0_gpu_blocks_without_the_hash_mark():
    # the markdown ate the leading "# " of the 20k line
    assert read("vllm-v0-llama31-8b-20k.log").figures["gpu_blocks"].value == 1952


def test_vllm_v1_structured_log_lines():
    facts = read("vllm-v1-gpt-oss-120b.log")
    assert facts.engine == "vllm"
    assert facts.figures["kv_cache_memory_gib"].value == Fraction("5.38")
    assert facts.figures["kv_cache_tokens"].value == 78384


def test_vllm_v1_banner_names_version_and_model():
    facts = read("vllm-v1-gemma-4-31b.log")
    assert facts.version == "0.19.1rc1.dev301+g60995c05b"
    assert facts.model == "google/gemma-4-31B-it"
    assert facts.max_model_len == 262144


def test_vllm_serve_command_settings():
    facts = read("vllm-v1-qwen3.5-27b.log")
    assert (facts.model, facts.max_model_len, facts.max_num_batched_tokens) == (
        "Qwen3.5-27B",
        32768,
        16384,
    )


def test_sglang_pool_line_and_launch_command():
    facts = read("sglang-qwen3-235b-tp4.log")
    assert (facts.engine, facts.model, facts.tp) == (
        "sglang",
        "/path/to/Qwen3-235B-A22B-FP8",
        4,
    )
    assert facts.figures["kv_cache_tokens"].value == 367404
    assert facts.figures["k_size_gib"].value == Fraction("8.23")
    assert facts.figures["v_size_gib"].value == Fraction("8.23")


def test_trtllm_lines():
    facts = read("trtllm-qwen1.5-7b.log")
    assert facts.engine == "trtllm"
    assert facts.figures["available_gib"].value == Fraction("21.89")
    assert facts.figures["primary_blocks"].value == 631


def test_trtllm_newer_window_line():
    text = (
        "[TensorRT-LLM][INFO] Max KV cache blocks per sequence: 65 [window size=2051], "
        "tokens per block=32, primary blocks=116617, secondary blocks=0\n"
        "[TensorRT-LLM][INFO] [MemUsageChange] Allocated 78.30 GiB for max tokens in paged "
        "KV cache (3731744).\n"
    )  # triton-inference-server/tutorials pull request 150, as quoted
    facts = parse_log(text)
    assert (facts.block_size, facts.max_model_len) == (32, 2051)
    assert facts.figures["primary_blocks"].value == 116617
    assert facts.figures["kv_cache_tokens"].value == 3731744


def test_llamacpp_ollama_lines():
    facts = read("ollama-qwen2-7b-f16.log")
    assert (facts.engine, facts.kv_cache_dtype, facts.type_v) == (
        "llamacpp",
        "f16",
        "f16",
    )
    figures = {n: f.value for n, f in facts.figures.items()}
    assert figures == {
        "kv_cells": 8192,
        "kv_size_mib": 448,
        "k_size_mib": 224,
        "v_size_mib": 224,
    }


def test_ik_llama_latent_line_and_n_ctx_as_cells():
    facts = read("ikllama-deepseek-mla-q8_0.log")
    assert facts.kv_cache_dtype == "q8_0"
    assert facts.figures["kv_size_mib"].value == Fraction("1166.62")
    assert facts.figures["kv_cells"].value == 32768  # kv_size = n_ctx


def test_llamacpp_iswa_caches_are_filed_apart():
    facts = parse_log(ISWA_LOG)
    assert facts.figures["kv_cells"].value == 32768
    assert facts.figures["swa_kv_cells"].value == 1536
    assert facts.figures["kv_size_mib"].value == 2560
    assert facts.figures["swa_kv_size_mib"].value == 624


# Constructed with llama.cpp's iSWA format strings (src/llama-kv-cache-iswa.cpp and
# llama-kv-cache.cpp, 2025) for Gemma-3-27B at n_ctx 32768, f16: 10 full layers x 32768 cells
# x 8,192 B = 2560 MiB; 52 sliding layers x pad256(1024 + 512) = 1536 cells x 8,192 B = 624 MiB.
ISWA_LOG = (
    "llama_context: n_ctx         = 32768\n"
    "llama_context: n_ubatch      = 512\n"
    "llama_kv_cache_iswa: creating non-SWA KV cache, size = 32768 cells\n"
    "llama_kv_cache:      CUDA0 KV buffer size =  2560.00 MiB\n"
    "llama_kv_cache: size = 2560.00 MiB ( 32768 cells,  10 layers,  1/1 seqs),"
    " K (f16): 1280.00 MiB, V (f16): 1280.00 MiB\n"
    "llama_kv_cache_iswa: creating     SWA KV cache, size = 1536 cells\n"
    "llama_kv_cache:      CUDA0 KV buffer size =   624.00 MiB\n"
    "llama_kv_cache: size =  624.00 MiB (  1536 cells,  52 layers,  1/1 seqs),"
    " K (f16):  312.00 MiB, V (f16):  312.00 MiB\n"
)


def test_unknown_log_names_what_was_looked_for():
    with pytest.raises(
        LogError, match="no engine start-up lines recognised; looked for vLLM"
    ):
        parse_log(
            "INFO server started\nlistening on 0.0.0.0:8000\n", source="server.log"
        )
