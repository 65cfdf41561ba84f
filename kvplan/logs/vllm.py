"""vLLM start-up lines, V0 and V1 (format strings from vllm/worker/worker.py,
vllm/v1/worker/gpu_worker.py, vllm/v1/core/kv_cache_utils.py, vllm/engine/llm_engine.py).

V0:  Memory profiling results: ... kv_cache_size=3.81GiB gpu_memory_utilization=0.90
     (0.7: "the rest of the memory reserved for KV Cache is 3.81GiB.")
     # GPU blocks: 1952, # CPU blocks: 2048
     Maximum concurrency for 20000 tokens per request: 1.56x
V1:  Available KV cache memory: 6.51 GiB
     GPU KV cache size: 42,656 tokens
     Maximum concurrency for 32,768 tokens per request: 1.30x
"""

import re

from kvplan.logs.base import (
    FigureRule,
    LogFacts,
    SettingRule,
    read_lines,
    to_bool,
    to_int,
)

_NUMBER = r"(-?[\d,]*\.?\d+)"

FIGURES = (
    FigureRule(
        "kv_cache_memory_gib",
        re.compile(rf"Available KV cache memory: {_NUMBER} GiB"),
        "GiB",
    ),
    FigureRule(
        "kv_cache_memory_gib", re.compile(rf"kv_cache_size={_NUMBER}GiB"), "GiB"
    ),
    FigureRule(
        "kv_cache_memory_gib",
        re.compile(rf"reserved for KV Cache is {_NUMBER} ?GiB"),
        "GiB",
    ),
    FigureRule(
        "kv_cache_tokens", re.compile(r"GPU KV cache size: ([\d,]+) tokens"), "tokens"
    ),
    FigureRule(
        "kv_cache_tokens",
        re.compile(
            r"maximum number of tokens that can be stored in KV cache \((\d+)\)"
        ),
        "tokens",
    ),
    FigureRule(
        "gpu_blocks", re.compile(r"(?:#\s*)?(?:GPU|cuda) blocks: (\d+)"), "blocks"
    ),
    FigureRule("cpu_blocks", re.compile(r"#\s*CPU blocks: (\d+)"), "blocks"),
    # 0.6.5's multi-line profile table and V1's "not enough memory" error
    FigureRule(
        "kv_cache_memory_gib",
        re.compile(rf"available_kv_cache_memory\s+{_NUMBER}\s*GiB"),
        "GiB",
    ),
    FigureRule(
        "kv_cache_memory_gib",
        re.compile(rf"available KV cache memory \({_NUMBER} GiB\)"),
        "GiB",
    ),
    FigureRule(
        "kv_needed_gib", re.compile(rf"\({_NUMBER} GiB KV cache is needed"), "GiB"
    ),
    FigureRule(
        "estimated_max_model_len",
        re.compile(r"estimated maximum model length is (\d+)"),
        "tokens",
    ),
    # the terms of the budget, as the memory profile prints them
    FigureRule(
        "total_gpu_memory_gib",
        re.compile(rf"total_gpu_memory[ =(]+{_NUMBER}\s*GiB"),
        "GiB",
    ),
    FigureRule(
        "gpu_memory_utilization",
        re.compile(rf"gpu_memory_utilization[ =(]+{_NUMBER}"),
        "x",
    ),
    FigureRule(
        "weights_gib", re.compile(rf"model weights take\s+{_NUMBER}\s*GiB"), "GiB"
    ),
    FigureRule(
        "non_torch_gib",
        re.compile(rf"non_torch_memory(?: takes)?[ =]+{_NUMBER}\s*GiB"),
        "GiB",
    ),
    FigureRule(
        "activation_gib",
        re.compile(rf"PyTorch activation peak memory(?: takes)?\s+{_NUMBER}\s*GiB"),
        "GiB",
    ),
    FigureRule("peak_torch_gib", re.compile(rf"peak_torch_memory={_NUMBER}GiB"), "GiB"),
    FigureRule(
        "max_concurrency",
        re.compile(r"Maximum concurrency for [\d,]+ tokens per request: ([\d.]+)x"),
        "x",
    ),
)

SETTINGS = (
    SettingRule(
        "version", re.compile(r"LLM engine \(v([\w.+-]+)\)"), lambda v: v.rstrip(".")
    ),
    SettingRule("version", re.compile(r"\bversion (\d+\.\d+[\w.+-]*)")),
    SettingRule("model", re.compile(r"\bmodel='([^']+)'")),
    SettingRule("model", re.compile(r"'model(?:_tag)?': '([^']+)'")),
    SettingRule("model", re.compile(r"\bmodel {2,}(\S+)\s*$")),
    SettingRule("dtype", re.compile(r"\bdtype=torch\.(\w+)")),
    SettingRule("dtype", re.compile(r"'dtype': '(\w+)'")),
    SettingRule("kv_cache_dtype", re.compile(r"\bkv_cache_dtype=(\w+)")),
    SettingRule("kv_cache_dtype", re.compile(r"'kv_cache_dtype': '(\w+)'")),
    SettingRule("tp", re.compile(r"tensor_parallel_size['=:\s]+(\d+)"), to_int),
    SettingRule("pp", re.compile(r"pipeline_parallel_size['=:\s]+(\d+)"), to_int),
    SettingRule(
        "max_model_len",
        re.compile(r"Maximum concurrency for ([\d,]+) tokens per request"),
        to_int,
    ),
    SettingRule("max_model_len", re.compile(r"\bmax_seq_len=(\d+)"), to_int),
    SettingRule("max_model_len", re.compile(r"'max_model_len': (\d+)"), to_int),
    SettingRule("max_model_len", re.compile(r"Using max model len (\d+)"), to_int),
    SettingRule("max_model_len", re.compile(r"max seq len \((\d+)\)"), to_int),
    SettingRule(
        "refusal",
        re.compile(
            r"((?:To serve at least one request|The model's max seq len \(\d+\) is"
            r" larger).*)"
        ),
        lambda v: v.strip()[:240],
    ),
    SettingRule(
        "max_num_batched_tokens",
        re.compile(r"max_num_batched_tokens['=:\s]+(\d+)"),
        to_int,
    ),
    SettingRule(
        "block_size",
        re.compile(r"Setting attention block size to (\d+) tokens"),
        to_int,
    ),
    SettingRule("block_size", re.compile(r"'block_size': (\d+)"), to_int),
    SettingRule(
        "prefix_caching",
        re.compile(r"enable_prefix_caching['=:\s]+(True|False)"),
        to_bool,
    ),
    # a `vllm serve` command pasted above the log
    SettingRule("model", re.compile(r"vllm serve (\S+)")),
    SettingRule("max_model_len", re.compile(r"--max[-_]model[-_]len[ =](\d+)"), to_int),
    SettingRule(
        "max_num_batched_tokens",
        re.compile(r"--max[-_]num[-_]batched[-_]tokens?[ =](\d+)"),
        to_int,
    ),
    SettingRule(
        "tp", re.compile(r"(?:--tensor[-_]parallel[-_]size|\s-tp)[ =](\d+)"), to_int
    ),
    SettingRule("kv_cache_dtype", re.compile(r"--kv[-_]cache[-_]dtype[ =](\w+)")),
    SettingRule("block_size", re.compile(r"--block[-_]size[ =](\d+)"), to_int),
    SettingRule(
        "prefix_caching",
        re.compile(r"--(enable|no-enable)-prefix-caching\b"),
        lambda v: v == "enable",
    ),
)

V1_MARKS = (
    "GPU KV cache size:",
    "Available KV cache memory",
    "V1 LLM engine",
    "EngineCore",
    "VLLM_USE_V1=1",
    "kv_cache_utils.py",  # the V1 module that prints blocks and concurrency
    "KV cache is needed",  # V1's check_enough_kv_cache_memory
)
V0_MARKS = (
    "GPU blocks:",
    "cuda blocks:",
    "kv_cache_size=",
    "reserved for KV Cache is",
    "available_kv_cache_memory",
    "an LLM engine (v",
    "maximum number of tokens that can be stored in KV cache",
)
ALL_MARKS = V1_MARKS + V0_MARKS + ("Maximum concurrency for",)
# Words of a figure line: one of these that yields no figure was cut short.
FIGURE_MARKS = (
    "GPU KV cache size:",
    "Available KV cache memory:",
    "Maximum concurrency for",
    "GPU blocks:",
    "cuda blocks:",
    "kv_cache_size=",
    "reserved for KV Cache is",
    "available_kv_cache_memory",
)
# Lines that begin a start-up: a second one after figures is a restart.
BANNERS = (
    "Initializing a V1 LLM engine",
    "Initializing an LLM engine",
    "vLLM API server version",
)


def recognises(text: str) -> bool:
    """Whether the text has any vLLM KV-cache start-up line."""
    return any(mark in text for mark in ALL_MARKS)


def read(text: str) -> LogFacts:
    """The vLLM figures and settings in a log; V0 or V1 by the lines it has."""
    v1 = any(mark in text for mark in V1_MARKS)
    v0 = any(mark in text for mark in V0_MARKS)
    engine, line_format = (
        ("vllm-v0", "vLLM V0") if v0 and not v1 else ("vllm", "vLLM V1")
    )
    facts = LogFacts(engine=engine, format=line_format)
    return read_lines(text, facts, FIGURES, SETTINGS, FIGURE_MARKS)
