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
from kvplan.logs.base import LogFacts, Logged, run_starts

__all__ = ["LogError", "LogFacts", "Logged", "parse_log", "parse_runs", "read_log"]

# Order matters: the most specific marks first (a TensorRT-LLM log may mention vLLM-like words).
READERS = (trtllm, sglang, vllm, llamacpp)
LOOKED_FOR = (
    "vLLM 'GPU KV cache size' / 'Available KV cache memory' / '# GPU blocks',"
    " SGLang 'KV Cache is allocated', TensorRT-LLM '[TensorRT-LLM] ... paged kv cache'"
    " / 'Allocate N bytes for k/v cache',"
    " llama.cpp 'llama_kv_cache' / 'KV self size'"
)


class LogError(KvplanError):
    """A log kvplan cannot read, or one that lacks the lines a check needs."""


def _engine(text: str, source: str):
    """The one reader whose lines the log holds, and what it read from the whole text."""
    found = []
    for reader in READERS:
        if reader.recognises(text):
            facts = reader.read(text)
            if facts.figures:
                found.append((reader, facts))
    if not found:
        raise LogError(
            f"{source}: no engine start-up lines recognised; looked for {LOOKED_FOR}",
            field="log",
        )
    reader, facts = found[0]
    for _, other in found[1:]:
        if not _lines(facts) & _lines(other):  # another engine's own lines
            raise LogError(
                f"{source} holds the start-ups of two engines, {facts.format}"
                f" ({_span(facts)}) and {other.format} ({_span(other)}); split the"
                " file and check each",
                field="log",
            )
    return reader, facts


def _lines(facts: LogFacts) -> set[int]:
    return {line for line, _, _ in facts.events}


def _span(facts: LogFacts) -> str:
    lines = sorted(_lines(facts))
    return f"line {lines[0]}" if len(lines) == 1 else f"lines {lines[0]}-{lines[-1]}"


def parse_runs(text: str, *, source: str = "log") -> list[LogFacts]:
    """Each start-up a log holds (restarts, appended runs), read on its own lines.

    Never mixes runs: settings and figures of one start-up are read from its lines only.
    """
    reader, facts = _engine(text, source)
    starts = run_starts(facts, text, reader.BANNERS)
    lines = text.splitlines()
    ends = [start - 1 for start in starts[1:]] + [len(lines)]
    runs = []
    for start, end in zip(starts, ends, strict=True):
        segment = "\n" * (start - 1) + "\n".join(lines[start - 1 : end])
        run = facts if len(starts) == 1 else reader.read(segment)
        if not run.figures:
            continue
        run.engine, run.format = facts.engine, facts.format  # decided on the whole log
        run.run, run.lines = len(runs) + 1, (start, end)
        runs.append(run)
    return runs


def parse_log(text: str, *, source: str = "log") -> LogFacts:
    """The engine and figures of a log of one start-up; LogError when no engine is
    recognised or the log holds several start-ups (parse_runs reads each)."""
    runs = parse_runs(text, source=source)
    if len(runs) > 1:
        raise LogError(
            f"{source} holds {len(runs)} start-ups; read them with parse_runs",
            field="log",
        )
    return runs[0]


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
