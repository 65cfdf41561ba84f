"""llama.cpp start-up lines, also printed by ollama's runner and ik_llama.cpp (format strings
from src/llama-kv-cache.cpp, src/llama-kv-cache-iswa.cpp, src/llama-context.cpp over 2024-2025).

    llama_kv_cache_init: kv_size = 8192, offload = 1, type_k = 'f16', type_v = 'f16', ...
    llama_new_context_with_model: KV self size  =  448.00 MiB, K (f16):  224.00 MiB,
        V (f16):  224.00 MiB
    llama_new_context_with_model: KV self size  = 1166.62 MiB, c^KV (q8_0): 1166.62 MiB,
        kv^T: not used
    llama_kv_cache: size =  512.00 MiB (  4096 cells,  32 layers,  1/1 seqs),
        K (f16): 256.00 MiB, V (f16): 256.00 MiB
    llama_kv_cache_iswa: creating     SWA KV cache, size = 1536 cells
"""

import re

from kvplan.logs.base import LogFacts, note_unread, to_int

_MIB = r"([\d.]+) MiB"
SIZE_LINES = (
    re.compile(
        rf"KV self size\s*=\s*{_MIB}, K \((\w+)\):\s*{_MIB}, V \((\w+)\):\s*{_MIB}"
    ),
    re.compile(
        rf"size\s*=\s*{_MIB} \(\s*\d+ cells,.*K \((\w+)\):\s*{_MIB}, V \((\w+)\):\s*{_MIB}"
    ),
)
LATENT_LINE = re.compile(rf"KV self size\s*=\s*{_MIB}, c\^KV \((\w+)\):\s*{_MIB}")
CELLS = (
    re.compile(r"\bkv_size = (\d+)"),
    re.compile(r"size\s*=\s*[\d.]+ MiB \(\s*(\d+) cells"),
)
SECTION = re.compile(r"creating\s+(non-SWA|SWA) KV cache, size = (\d+) cells")
SETTINGS = (
    ("max_model_len", re.compile(r"\bn_ctx\s*=\s*(\d+)")),
    ("n_ubatch", re.compile(r"\bn_ubatch\s*=\s*(\d+)")),
    ("n_seq", re.compile(r"\bn_seq_max\s*=\s*(\d+)")),
)
MODEL = re.compile(r"general\.name\s+(?:str\s+)?=\s+(.+?)\s*$")
# the model's geometry as the loader prints it (print_info, llm_load_print_meta before 2025)
GEOMETRY_KEYS = (
    "n_layer", "n_head", "n_head_kv", "n_embd", "n_embd_head_k", "n_embd_head_v", "n_swa",
    "is_swa_any", "n_ctx_train", "n_lora_kv",
)  # fmt: skip
GEOMETRY = re.compile(
    rf"(?:print_info|llm_load_print_meta):\s+({'|'.join(GEOMETRY_KEYS)})\s*=\s*(\d+)\s*$"
)
ARCH = re.compile(r"(?:print_info|llm_load_print_meta):\s+arch\s*=\s*(\S+)")
CACHE_LAYERS = re.compile(r"size\s*=\s*[\d.]+ MiB \(\s*\d+ cells,\s*(\d+) layers")
MARKS = (
    "llama_kv_cache",
    "KV self size",
    "llama_new_context_with_model",
    "llama_context",
)


FIGURE_MARKS = ("KV self size", "MiB (", "kv_size =")
BANNERS = ("llama_model_loader: loaded meta data",)


def recognises(text: str) -> bool:
    """Whether the text has llama.cpp's KV cache lines."""
    return any(mark in text for mark in MARKS)


def _sizes(facts: LogFacts, prefix: str, line: str, number: int) -> None:
    """K, V and total MiB from a size line, filed under the cache it belongs to."""
    match = next((p.search(line) for p in SIZE_LINES if p.search(line)), None)
    if match:
        total, type_k, k_mib, type_v, v_mib = match.groups()
        facts.add(f"{prefix}kv_size_mib", total, "MiB", number)
        facts.add(f"{prefix}k_size_mib", k_mib, "MiB", number)
        facts.add(f"{prefix}v_size_mib", v_mib, "MiB", number)
        facts.set_once("kv_cache_dtype", type_k)
        facts.set_once("type_v", type_v)
        return
    latent = LATENT_LINE.search(line)
    if latent:
        facts.add("kv_size_mib", latent.group(1), "MiB", number)
        facts.add("k_size_mib", latent.group(3), "MiB", number)
        facts.set_once("kv_cache_dtype", latent.group(2))


def _geometry(facts: LogFacts, prefix: str, line: str) -> None:
    """The loader's printed geometry, and the layers each cache holds, into facts.extra."""
    found = GEOMETRY.search(line)
    if found:
        facts.extra.setdefault(found.group(1), int(found.group(2)))
    arch = ARCH.search(line)
    if arch:
        facts.extra.setdefault("arch", arch.group(1))
    layers = CACHE_LAYERS.search(line)
    if layers:
        facts.extra.setdefault(f"{prefix}cache_layers", int(layers.group(1)))


def read(text: str) -> LogFacts:
    """The llama.cpp figures and settings; an iSWA pair is filed as base and `swa_`."""
    facts = LogFacts(engine="llamacpp", format="llama.cpp")
    if "ollama" in text.lower() or "source=server.go" in text:
        facts.format = "ollama runner (llama.cpp)"
    prefix, n_ctx_line = "", None
    for number, line in enumerate(text.splitlines(), start=1):
        section = SECTION.search(line)
        if section:
            prefix = "swa_" if section.group(1) == "SWA" else ""
            facts.add(f"{prefix}kv_cells", section.group(2), "cells", number)
            continue
        for pattern in CELLS:
            cells = pattern.search(line)
            if cells:
                facts.add(f"{prefix}kv_cells", cells.group(1), "cells", number)
        _sizes(facts, prefix, line, number)
        for name, pattern in SETTINGS:
            found = pattern.search(line)
            if found and name == "max_model_len":
                facts.set_once("max_model_len", to_int(found.group(1)))
                n_ctx_line = n_ctx_line or (found.group(1), number)
            elif found:
                facts.extra.setdefault(name, to_int(found.group(1)))
        model = MODEL.search(line)
        if model:
            facts.set_once("model", model.group(1).strip())
        _geometry(facts, prefix, line)
    if "kv_cells" not in facts.figures and n_ctx_line:
        facts.add("kv_cells", n_ctx_line[0], "cells", n_ctx_line[1])  # kv_size = n_ctx
    return note_unread(text, facts, FIGURE_MARKS)
