"""Read engine start-up logs: vLLM (V0 and V1), SGLang, TensorRT-LLM, llama.cpp and ollama.

    facts = kvplan.logs.parse_log(text)     # engine, settings, every KV-cache figure printed
    facts = kvplan.logs.read_log("-")       # from stdin

Each engine's line formats live in its own module, read from the engine's source and real
logs quoted in public issues (tests/data/logs/README.md). A log no reader recognises is an
error that names the lines looked for, never a guess.
"""

import sys
from pathlib import Path

from kvplan.errors import KvplanError
from kvplan.logs import llamacpp, sglang, trtllm, vllm
from kvplan.logs.base import LogFacts, Logged

__all__ = ["LogError", "LogFacts", "Logged", "parse_log", "read_log"]

# Order matters: the most specific marks first (a TensorRT-LLM log may mention vLLM-like words).
READERS = (trtllm, sglang, vllm, llamacpp)
LOOKED_FOR = (
    "vLLM 'GPU KV cache size' / 'Available KV cache memory' / '# GPU blocks',"
    " SGLang 'KV Cache is allocated', TensorRT-LLM '[TensorRT-LLM] ... paged kv cache',"
    " llama.cpp 'llama_kv_cache' / 'KV self size'"
)


class LogError(KvplanError):
    """A log kvplan cannot read, or one that lacks the lines a check needs."""


def parse_log(text: str, *, source: str = "log") -> LogFacts:
    """The engine and figures of a start-up log; LogError when no engine is recognised."""
    for reader in READERS:
        if reader.recognises(text):
            facts = reader.read(text)
            if facts.figures:
                return facts
    raise LogError(
        f"{source}: no engine start-up lines recognised; looked for {LOOKED_FOR}",
        field="log",
    )


def read_log(path: str) -> tuple[str, str]:
    """(text, name) of a log file, or of stdin for `-`."""
    if path == "-":
        return sys.stdin.read(), "stdin"
    file = Path(path)
    try:
        return file.read_text(encoding="utf-8", errors="replace"), str(file)
    except OSError as error:
        raise LogError(
            f"cannot read {file}: {error.strerror or error}", field="log"
        ) from None
