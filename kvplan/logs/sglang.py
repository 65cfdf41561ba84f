"""SGLang start-up lines (format strings from python/sglang/srt/mem_cache/memory_pool.py,
mem_cache/swa_memory_pool.py, model_executor/model_runner.py and its kv-cache mixin,
server_args.py). Its "GB" are 2^30 bytes.

Each pool prints its own line, as the pool is built:

    KV Cache is allocated. #tokens: 367404, K size: 8.23 GB, V size: 8.23 GB    (MHA pool)
    KV Cache is allocated. #tokens: 8050, KV size: 0.53 GB       (MLA pool; NSA: + indexer)
    KV Cache is allocated. dtype: torch.bfloat16, #tokens: ...    (newer: the dtype first)

A hybrid sliding-window model (SWAKVPool) prints one MHA line for its sliding layers' pool and
one for its full layers' pool, then `SWAKVPool mem usage: X GB, swa size: S, full size: F`
(and, before them, `Use sliding window memory pool. full_layer_tokens=F,
swa_layer_tokens=S`); a Mamba hybrid prints `Mamba Cache is allocated. max_mamba_cache_size:
N, conv_state size: X GB, ssm_state size: Y GB` beside its full layers' MHA line.

The memory the pool was sized from:

    server_args=ServerArgs(model_path='...', tp_size=4, mem_fraction_static=0.85, ...)
    Load weight begin. avail mem=21.63 GB
    Load weight end. type=Qwen2ForCausalLM, dtype=torch.bfloat16, avail mem=6.09 GB, ...
    Memory profiling: available_gpu_memory=57.01 GB, total_gpu_memory=93.58 GB,
        mem_fraction_static=0.60, rest_memory=19.58 GB                  (some versions)
"""

import re
from collections import Counter

from kvplan.logs.base import (
    FigureRule,
    LogFacts,
    SettingRule,
    note_unread,
    read_lines,
    to_int,
)

_GB = r"(-?[\d.]+) ?GB"
POOL = re.compile(
    r"(?<!Host )KV Cache is allocated\.(?: dtype: [\w.]+,)? #tokens: (\d+),"
    rf" (?:K size: {_GB}, V size: {_GB}|KV size: {_GB})"
)
SWA_SIZES = (
    re.compile(r"full_layer_tokens=(\d+), swa_layer_tokens=(\d+)"),
    re.compile(r"SWAKVPool mem usage: [\d.]+ GB, swa size: (\d+), full size: (\d+)"),
)
RANK = re.compile(r"\[[^\]]*?\bTP(\d+)\b[^\]]*\]")
LOAD_BEGIN = "Load weight begin."


def _gib(name: str, before: str) -> FigureRule:
    """A figure printed as `... X GB` (2^30 bytes) after the text `before`."""
    return FigureRule(name, re.compile(before + _GB), "GiB")


_PROFILING = r"Memory profiling: .*\b"
FIGURES = (
    _gib("load_begin_avail_gib", r"Load weight begin\. avail mem="),
    _gib("load_end_avail_gib", r"Load weight end\..*\bavail mem="),
    _gib("profiled_avail_gib", _PROFILING + "available_gpu_memory="),
    _gib("profiled_total_gib", _PROFILING + "total_gpu_memory="),
    _gib("rest_memory_gib", _PROFILING + "rest_memory="),
    FigureRule(
        "mamba_cache_size",
        re.compile(
            r"Mamba Cache(?: \(\w+\))? is allocated\. max_mamba_cache_size: (\d+)"
        ),
        "states",
    ),
    _gib("conv_state_gib", r"Mamba Cache.*\bconv_state size: "),
    _gib("ssm_state_gib", r"Mamba Cache.*\bssm_state size: "),
)

SETTINGS = (
    SettingRule("model", re.compile(r"\bmodel_path='([^']+)'")),
    SettingRule("model", re.compile(r"--model(?:-path)?[ =](\S+)")),
    SettingRule("dtype", re.compile(r"\bdtype='(\w+)'")),
    SettingRule("kv_cache_dtype", re.compile(r"\bkv_cache_dtype='(\w+)'")),
    SettingRule("kv_cache_dtype", re.compile(r"--kv-cache-dtype[ =](\w+)")),
    SettingRule("kv_cache_dtype", re.compile(r"Setting KV cache dtype to (\w+) for")),
    SettingRule("tp", re.compile(r"\btp_size=(\d+)"), to_int),
    SettingRule("tp", re.compile(r"--tp(?:-size)? (\d+)"), to_int),
    SettingRule("tp", re.compile(r"--tensor-parallel-size[ =](\d+)"), to_int),
    SettingRule("pp", re.compile(r"\bpp_size=(\d+)"), to_int),
    SettingRule("block_size", re.compile(r"\bpage_size=(\d+)"), to_int),
    SettingRule("max_model_len", re.compile(r"\bcontext_len=(\d+)"), to_int),
    SettingRule("version", re.compile(r"sglang(?:==| version )v?(\d+\.\d+[\w.]*)")),
)
FRACTION = (
    re.compile(r"\bmem_fraction_static=([\d.]+)"),
    re.compile(r"--mem-fraction-static[ =]([\d.]+)"),
)

FIGURE_MARKS = (
    "KV Cache is allocated",
    "Mamba Cache",
    "Load weight begin",
    "Load weight end",
)
BANNERS = ("server_args=ServerArgs(",)


def recognises(text: str) -> bool:
    """Whether the text has SGLang's pool line."""
    return "KV Cache is allocated." in text and "#tokens:" in text


def _swa_sizes(text: str) -> tuple[int, int] | None:
    """(full pool tokens, sliding pool tokens) a hybrid-SWA log states, or None."""
    for number, pattern in enumerate(SWA_SIZES):
        found = pattern.search(text)
        if found:
            first, second = int(found.group(1)), int(found.group(2))
            return (first, second) if number == 0 else (second, first)
    return None


def _pool_prefix(tokens: int, swa: tuple[int, int] | None, seen: Counter) -> str:
    """`swa_` for a line of the sliding layers' pool, else ``.

    SWAKVPool builds its sliding pool first, so with equal sizes the lines alternate.
    """
    if swa is None:
        return ""
    full, sliding = swa
    if full != sliding:
        return "swa_" if tokens == sliding else ""
    seen[tokens] += 1
    return "swa_" if seen[tokens] % 2 else ""


def _pools(text: str, facts: LogFacts) -> None:
    """Each pool line as that pool prints it: K and V sizes, or one KV size."""
    swa, seen = _swa_sizes(text), Counter()
    for number, line in enumerate(text.splitlines(), start=1):
        found = POOL.search(line)
        if not found:
            continue
        tokens, k_size, v_size, kv_size = found.groups()
        prefix = _pool_prefix(int(tokens), swa, seen)
        facts.add(f"{prefix}kv_cache_tokens", tokens, "tokens", number)
        if kv_size is not None:
            facts.add(f"{prefix}kv_size_gib", kv_size, "GiB", number)
        else:
            facts.add(f"{prefix}k_size_gib", k_size, "GiB", number)
            facts.add(f"{prefix}v_size_gib", v_size, "GiB", number)


def _memory_settings(text: str, facts: LogFacts) -> None:
    """mem_fraction_static as stated, and how many models each rank loaded (a draft)."""
    for pattern in FRACTION:
        found = pattern.search(text)
        if found:
            facts.extra.setdefault("mem_fraction_static", found.group(1))
    loads = Counter(
        (rank.group(1) if (rank := RANK.search(line)) else None)
        for line in text.splitlines()
        if LOAD_BEGIN in line
    )
    if loads:
        facts.extra["model_loads"] = max(loads.values())


def read(text: str) -> LogFacts:
    """The SGLang figures and settings in a log."""
    facts = LogFacts(engine="sglang", format="SGLang")
    _pools(text, facts)
    _memory_settings(text, facts)
    facts = read_lines(text, facts, FIGURES, SETTINGS, ())
    return note_unread(text, facts, FIGURE_MARKS)
