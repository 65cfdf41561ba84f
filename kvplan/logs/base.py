"""What a start-up log says, as read: figures with their printed precision, and settings."""

import re
from dataclasses import dataclass, field
from fractions import Fraction

from kvplan.units import parse_printed


@dataclass(frozen=True, kw_only=True)
class Logged:
    """One figure as the engine printed it: exact value, unit, decimals, where it was."""

    name: str
    value: Fraction
    unit: str  # tokens, blocks, cells, x, GiB, MiB
    decimals: int
    line: int  # 1-based line number in the log

    @property
    def half_step(self) -> Fraction:
        """Half the last printed digit: how far the true value may lie from the print."""
        return Fraction(1, 2 * 10**self.decimals) if self.decimals else Fraction(0)


# Memory figures each worker (TP rank) prints for itself: the engine sizes one pool for all of
# them from the smallest (vLLM's determine_num_available_blocks / determine_available_memory
# take the minimum over workers; TensorRT-LLM's ranks agree on the smallest).
LEAST_OF_WORKERS = (
    "kv_cache_memory_gib",
    "available_gib",
    # SGLang reads free memory as the least over ranks (get_available_gpu_memory)
    "load_begin_avail_gib",
    "load_end_avail_gib",
    "profiled_avail_gib",
)
# The terms of vLLM's budget as its memory profile prints them (inputs, never predicted).
BUDGET_TERMS = (
    "total_gpu_memory_gib",
    "gpu_memory_utilization",
    "weights_gib",
    "non_torch_gib",
    "activation_gib",
    "peak_torch_gib",
)
# SGLang's total the pool is sized against (the memory free at start-up, least over ranks)
SGLANG_TERMS = ("profiled_total_gib",)
# Figures a start-up prints before it sizes its pool: each worker may print its own.
INPUT_FIGURES = LEAST_OF_WORKERS + BUDGET_TERMS + SGLANG_TERMS


@dataclass(kw_only=True)
class LogFacts:
    """Everything a reader took from one start-up of one log; None where it did not say."""

    engine: str  # vllm, vllm-v0, sglang, trtllm, llamacpp
    format: str  # the line format recognised, for the reader
    version: str | None = None
    model: str | None = None
    dtype: str | None = None
    kv_cache_dtype: str | None = None
    type_v: str | None = None  # llama.cpp's separate V cache type
    tp: int | None = None
    pp: int | None = None
    block_size: int | None = None
    max_model_len: int | None = None
    max_num_batched_tokens: int | None = None
    prefix_caching: bool | None = None
    figures: dict[str, Logged] = field(default_factory=dict)
    events: list[tuple[int, str, Fraction]] = field(default_factory=list)  # every print
    spread: dict[str, tuple[Fraction, Fraction, int]] = field(default_factory=dict)
    unread: list[tuple[int, str]] = field(
        default_factory=list
    )  # figure lines cut short
    refusal: str | None = None  # the engine's own error when it could not start
    run: int = 1  # which start-up of the file (a restart begins another)
    lines: tuple[int, int] | None = None  # the file lines this start-up spans
    # engine-specific settings and printed geometry (llama.cpp's n_layer, n_swa, arch, ...)
    extra: dict[str, int | str] = field(default_factory=dict)

    def add(self, name: str, text: str, unit: str, line: int) -> None:
        """Record a figure: the last print of a name wins, but a per-worker memory figure
        keeps the smallest (LEAST_OF_WORKERS) and its spread is kept for a note."""
        value, decimals = parse_printed(text, field=name)
        self.events.append((line, name, value))
        logged = Logged(name=name, value=value, unit=unit, decimals=decimals, line=line)
        old = self.figures.get(name)
        if name in LEAST_OF_WORKERS and old is not None:
            low, high, count = self.spread.get(name, (old.value, old.value, 1))
            self.spread[name] = (min(low, value), max(high, value), count + 1)
            if value >= old.value:
                return
        self.figures[name] = logged

    def set_once(self, attribute: str, value) -> None:
        """Set a setting the first time a line states it (later lines repeat per rank)."""
        if getattr(self, attribute) is None and value is not None:
            setattr(self, attribute, value)


@dataclass(frozen=True)
class FigureRule:
    """A line that prints a figure: the name it is filed under, its pattern, its unit."""

    name: str
    pattern: re.Pattern
    unit: str
    group: int = 1


@dataclass(frozen=True)
class SettingRule:
    """A line that states a setting: the LogFacts attribute, its pattern, a converter."""

    attribute: str
    pattern: re.Pattern
    convert: object = str


def to_int(text: str) -> int:
    return int(text.replace(",", ""))


def to_bool(text: str) -> bool:
    return text.strip().lower() == "true"


def read_lines(text: str, facts: LogFacts, figures, settings, marks=()) -> LogFacts:
    """Apply every rule to every line: figures keep the last print, settings the first.
    A line holding one of `marks` (a figure's words) that yields no figure is kept as
    unread, so a log cut short mid-line is said to be, not read as something else."""
    for number, line in enumerate(text.splitlines(), start=1):
        for rule in figures:
            match = rule.pattern.search(line)
            if match:
                facts.add(rule.name, match.group(rule.group), rule.unit, number)
        for rule in settings:
            match = rule.pattern.search(line)
            if match:
                facts.set_once(rule.attribute, rule.convert(match.group(1)))
    return note_unread(text, facts, marks)


def note_unread(text: str, facts: LogFacts, marks) -> LogFacts:
    """Lines with a figure's words but no figure read from them (cut short, garbled)."""
    read = {line for line, _, _ in facts.events}
    for number, line in enumerate(text.splitlines(), start=1):
        if number not in read and any(mark in line for mark in marks):
            facts.unread.append((number, line.strip()[:120]))
    return facts


def run_starts(facts: LogFacts, text: str, banners) -> list[int]:
    """First lines of each start-up in a log that may hold several (restarts, appended runs).

    A start-up begins at an engine banner printed after the current one has figures, or
    where a figure comes back with another value after the pool was sized in between (an
    output figure printed since: blocks, tokens, cells). Each worker's memory lines before
    the pool is sized, and identical repeats (SGLang's ranks), stay in one start-up.
    """
    by_line: dict[int, dict[str, Fraction]] = {}
    for line, name, value in facts.events:
        by_line.setdefault(line, {})[name] = value
    banner_lines = [
        number
        for number, line in enumerate(text.splitlines(), start=1)
        if any(banner in line for banner in banners)
    ]
    starts, printed, sized_since, last = [1], {}, {}, 0
    for line in sorted(by_line):
        group = by_line[line]
        again = any(printed.get(n, v) != v and sized_since[n] for n, v in group.items())
        banner = next((b for b in banner_lines if last < b <= line), None)
        if printed and (again or banner is not None):
            starts.append(banner if banner is not None else last + 1)
            printed, sized_since = {}, {}
        if any(n not in INPUT_FIGURES for n in group):
            sized_since = dict.fromkeys(sized_since, True)
        printed.update(group)
        sized_since.update(dict.fromkeys(group, False))
        last = line
    return starts
