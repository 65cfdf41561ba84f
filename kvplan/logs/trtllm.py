"""TensorRT-LLM start-up lines (format strings from cpp/tensorrt_llm/batch_manager/
kvCacheManager.cpp and trtGptModelInflightBatching.cpp).

    [TensorRT-LLM][INFO] Memory usage when calculating max tokens in paged kv cache: total:
        39.39 GiB, available: 21.89 GiB
    [TensorRT-LLM][INFO] Number of blocks in KV cache primary pool: 631
    [TensorRT-LLM][INFO] Number of tokens per block: 64.
    [TensorRT-LLM][INFO] [MemUsageChange] Allocated 1.28 GiB for max tokens in paged KV cache
        (5248).
    [TensorRT-LLM][INFO] Max KV cache blocks per sequence: 65 [window size=2051], tokens per
        block=32, primary blocks=116617, secondary blocks=0

0.5-0.8 (cpp/tensorrt_llm/runtime/gptSession.cpp createKvCacheManager, kvCacheManager.cpp):

    [TensorRT-LLM][INFO] Allocate 69524783104 bytes for k/v cache.
    [TensorRT-LLM][INFO] Using 132608 tokens in paged KV cache.
    [TensorRT-LLM][INFO] Using 219776 total tokens in paged KV cache, and 8 blocks per sequence
"""

import re

from kvplan.logs.base import FigureRule, LogFacts, SettingRule, read_lines, to_int

FIGURES = (
    FigureRule(
        "available_gib",
        re.compile(r"paged kv cache: total: [\d.]+ GiB, available: ([\d.]+) GiB"),
        "GiB",
    ),
    FigureRule(
        "primary_blocks",
        re.compile(r"Number of blocks in KV cache primary pool: (\d+)"),
        "blocks",
    ),
    FigureRule("primary_blocks", re.compile(r"primary blocks=(\d+)"), "blocks"),
    FigureRule(
        "allocated_gib",
        re.compile(r"Allocated ([\d.]+) GiB for max tokens in paged KV cache"),
        "GiB",
    ),
    FigureRule(
        "kv_cache_tokens",
        re.compile(r"for max tokens in paged KV cache \((\d+)\)"),
        "tokens",
    ),
    # 0.5-0.8: the pool's bytes, and the tokens it was sized for
    FigureRule(
        "allocated_bytes", re.compile(r"Allocate (\d+) bytes for k/v cache"), "bytes"
    ),
    FigureRule(
        "kv_cache_tokens",
        re.compile(r"Using (\d+) (?:total )?tokens in paged KV cache"),
        "tokens",
    ),
)

SETTINGS = (
    SettingRule("block_size", re.compile(r"Number of tokens per block: (\d+)"), to_int),
    SettingRule("block_size", re.compile(r"tokens per block=(\d+)"), to_int),
    SettingRule("max_model_len", re.compile(r"maxSequenceLen: (\d+)"), to_int),
    SettingRule("max_model_len", re.compile(r"\[window size=(\d+)\]"), to_int),
    SettingRule("version", re.compile(r"Engine version ([\w.]+) found")),
    SettingRule(
        "version",
        re.compile(r"TensorRT-LLM version: (\d+(?:\.\d+)+(?:\.?(?:post|rc|dev)\d*)*)"),
    ),
    SettingRule("tp", re.compile(r"--tp_size (\d+)"), to_int),
)


FAKE_CACHE = (
    "TensorRT-LLM AutoDeploy's fake cache manager allocated no KV cache (Allocated 0.00"
    " GiB); its '(N)' is pages x page size, not a pool"
)
FIGURE_MARKS = (
    "Memory usage when calculating max tokens",
    "KV cache primary pool:",
    "for max tokens in paged KV cache",
    "bytes for k/v cache",
    "tokens in paged KV cache",
)
BANNERS = ("TensorRT-LLM version:",)


def recognises(text: str) -> bool:
    """Whether the text has TensorRT-LLM's paged KV cache lines."""
    lowered = text.lower()
    return "[tensorrt-llm]" in lowered and (
        "paged kv cache" in lowered
        or "primary pool" in lowered
        or "primary blocks" in lowered
        or "bytes for k/v cache" in lowered
    )


def read(text: str) -> LogFacts:
    """The TensorRT-LLM figures and settings in a log."""
    facts = LogFacts(engine="trtllm", format="TensorRT-LLM")
    facts = read_lines(text, facts, FIGURES, SETTINGS, FIGURE_MARKS)
    if "fake cache manager" in text:  # AutoDeploy: nothing allocated, pages x page size
        facts.refusal = FAKE_CACHE
    return facts
