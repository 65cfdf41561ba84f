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


@dataclass(kw_only=True)
class LogFacts:
    """Everything a reader took from one log; None where the log did not say."""

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
    # engine-specific settings and printed geometry (llama.cpp's n_layer, n_swa, arch, ...)
    extra: dict[str, int | str] = field(default_factory=dict)

    def add(self, name: str, text: str, unit: str, line: int) -> None:
        """Record a figure (the last print of a name wins, as engines re-print on restart)."""
        value, decimals = parse_printed(text, field=name)
        self.figures[name] = Logged(
            name=name, value=value, unit=unit, decimals=decimals, line=line
        )

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


def read_lines(text: str, facts: LogFacts, figures, settings) -> LogFacts:
    """Apply every rule to every line: figures keep the last print, settings the first."""
    for number, line in enumerate(text.splitlines(), start=1):
        for rule in figures:
            match = rule.pattern.search(line)
            if match:
                facts.add(rule.name, match.group(rule.group), rule.unit, number)
        for rule in settings:
            match = rule.pattern.search(line)
            if match:
                facts.set_once(rule.attribute, rule.convert(match.group(1)))
    return facts
