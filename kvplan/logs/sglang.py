"""SGLang start-up lines (format strings from python/sglang/srt/mem_cache/memory_pool.py,
model_executor/model_runner.py, server_args.py). Its "GB" are 2^30 bytes.

    server_args=ServerArgs(model_path='...', tp_size=4, mem_fraction_static=0.93, ...)
    KV Cache is allocated. #tokens: 367404, K size: 8.23 GB, V size: 8.23 GB
    KV Cache is allocated. #tokens: 1048576, KV size: 17.16 GB            (MLA)
    max_total_num_tokens=367404, chunked_prefill_size=8192, ...
"""

import re

from kvplan.logs.base import FigureRule, LogFacts, SettingRule, read_lines, to_int

_ALLOCATED = r"KV Cache is allocated\. #tokens: (\d+), "

FIGURES = (
    FigureRule("kv_cache_tokens", re.compile(_ALLOCATED), "tokens"),
    FigureRule("k_size_gib", re.compile(_ALLOCATED + r"K size: ([\d.]+) GB"), "GiB", 2),
    FigureRule("v_size_gib", re.compile(r"V size: ([\d.]+) GB"), "GiB"),
    FigureRule(
        "kv_size_gib", re.compile(_ALLOCATED + r"KV size: ([\d.]+) GB"), "GiB", 2
    ),
    FigureRule(
        "swa_tokens",
        re.compile(
            r"Use sliding window memory pool\. full_layer_tokens=\d+, swa_layer_tokens=(\d+)"
        ),
        "tokens",
    ),
)

SETTINGS = (
    SettingRule("model", re.compile(r"\bmodel_path='([^']+)'")),
    SettingRule("model", re.compile(r"--model(?:-path)?[ =](\S+)")),
    SettingRule("dtype", re.compile(r"\bdtype='(\w+)'")),
    SettingRule("kv_cache_dtype", re.compile(r"\bkv_cache_dtype='(\w+)'")),
    SettingRule("tp", re.compile(r"\btp_size=(\d+)"), to_int),
    SettingRule("tp", re.compile(r"--tp(?:-size)? (\d+)"), to_int),
    SettingRule("pp", re.compile(r"\bpp_size=(\d+)"), to_int),
    SettingRule("block_size", re.compile(r"\bpage_size=(\d+)"), to_int),
    SettingRule("max_model_len", re.compile(r"\bcontext_len=(\d+)"), to_int),
    SettingRule("version", re.compile(r"sglang(?:==| version )v?(\d+\.\d+[\w.]*)")),
)


FIGURE_MARKS = ("KV Cache is allocated",)
BANNERS = ("server_args=ServerArgs(",)


def recognises(text: str) -> bool:
    """Whether the text has SGLang's pool line."""
    return "KV Cache is allocated. #tokens:" in text


def read(text: str) -> LogFacts:
    """The SGLang figures and settings in a log."""
    facts = LogFacts(engine="sglang", format="SGLang")
    return read_lines(text, facts, FIGURES, SETTINGS, FIGURE_MARKS)
