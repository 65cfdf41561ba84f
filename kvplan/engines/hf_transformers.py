"""Hugging Face transformers: DynamicCache, StaticCache and QuantizedCache (no pool, no blocks).

Rules read from huggingface/transformers src/transformers/cache_utils.py (5.x; docs/engines.md):

- DynamicLayer.update grows K and V by torch.cat, so while a layer's new tensor is built its
  old one is still alive: one decode step peaks at the stored bytes after the step plus one
  old tensor (the largest, when it is the last one updated, as in uniform models).
- DynamicSlidingWindowLayer keeps the last window - 1 tokens as a view of the concatenation,
  whose storage holds window tokens until the next update.
- StaticLayer preallocates max_cache_len tokens per layer; StaticSlidingWindowLayer
  min(window, max_cache_len).
- QuantizedLayer keeps at most residual_length - 1 recent tokens in the model dtype and the
  rest quantized to nbits with a scale and a zero point per q_group_size values.
- DeepSeek-style MLA models cache every head's K and V (the expanded form).
"""

from dataclasses import dataclass

from kvplan.engines.base import (
    EngineProfile,
    EngineRuleError,
    Figure,
    figure_list,
    largest_fitting_context,
    tensor_bytes,
)
from kvplan.formats import CacheFormat
from kvplan.sizing import GroupCost, ModelCost

CACHES = ("dynamic", "static", "quantized")


@dataclass(frozen=True, kw_only=True)
class TransformersProfile(EngineProfile):
    """transformers 4.56-5.x cache classes, one sequence per batch row."""

    name: str = "transformers"
    versions: str = "4.56-5.x"
    block_size: int = 1
    mla_mode: str = "expanded"
    cache: str = "dynamic"
    max_cache_len: int | None = None  # StaticCache: the context when not given
    residual_length: int = 128
    q_group_size: int = 64
    nbits: int = 4

    def __post_init__(self) -> None:
        if self.cache not in CACHES:
            raise EngineRuleError(
                f"cache must be one of {', '.join(CACHES)}, got {self.cache!r}",
                field="cache",
            )

    def _held(self, g: GroupCost, tokens: int) -> int:
        """Tokens whose storage a layer keeps after an update at `tokens`."""
        if self.cache == "static":
            tokens = self.max_cache_len or tokens
        return min(tokens, g.cap_tokens) if g.cap_tokens else tokens

    def _quantized(self, g: GroupCost, tokens: int) -> int:
        """A layer's bytes at `tokens`: the residual in the model dtype, the rest quantized."""
        residual = min(tokens, self.residual_length - 1)
        quant = CacheFormat(
            name="quantized",
            description="transformers QuantizedCache",
            value_bits=self.nbits,
            group_values=self.q_group_size,
            group_overhead_bytes=4,  # a 2-byte scale and a 2-byte zero point
        )
        quantized = sum(
            r * quant.row_bytes(v)
            for r, v in zip(g.rows_per_token, g.row_values, strict=True)
        )
        return g.bytes_per_token * residual + quantized * (tokens - residual)

    def request_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """Stored bytes of one sequence after the step that reaches this context."""
        total = cost.state_bytes
        for g in cost.groups:
            if self.cache == "quantized" and g.bytes_per_token:
                total += g.count * self._quantized(g, self._held(g, context_tokens))
            else:
                total += g.count * g.bytes_per_token * self._held(g, context_tokens)
        return total

    def peak_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """DynamicCache: the stored bytes plus one old tensor alive during its torch.cat."""
        steady = self.request_bytes(cost, context_tokens)
        if self.cache != "dynamic" or context_tokens < 2:
            return steady
        before = [
            per_token * self._held(g, context_tokens - 1)
            for g in cost.groups
            for per_token in tensor_bytes(g)
        ]
        return steady + max(before, default=0)

    def pool_tokens(self, cost: ModelCost, budget_bytes: int) -> int:
        """The longest sequence whose cache fits in the budget (transformers has no pool)."""
        return largest_fitting_context(self, cost, budget_bytes)

    def max_concurrency(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int
    ) -> float:
        """Batch rows of this context that fit, counting the dynamic peak."""
        return budget_bytes / self.peak_bytes(cost, context_tokens)

    def capacity_notes(self, cost: ModelCost) -> list[str]:
        """DynamicCache's concurrency counts the update peak, not the stored bytes."""
        if self.cache != "dynamic":
            return []
        return [
            f"{self.label}: max_concurrency counts DynamicCache's peak during an update"
            " (the stored bytes plus one old tensor); request_bytes_per_gpu, fits and"
            " max_context count the stored bytes"
        ]

    def figures(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int
    ) -> list[Figure]:
        """Stored (steady) and peak bytes of one sequence at this context."""
        return figure_list(
            steady_bytes=(self.request_bytes(cost, context_tokens), "bytes"),
            peak_bytes=(self.peak_bytes(cost, context_tokens), "bytes"),
        )

    def explain(self, cost: ModelCost, context_tokens: int) -> list[str]:
        """The cache class, what it stores, and the dynamic peak."""
        steady = self.request_bytes(cost, context_tokens)
        peak = self.peak_bytes(cost, context_tokens)
        lines = [f"{self.label}: {self.cache.capitalize()}Cache, stored {steady:,} B"]
        if peak != steady:
            lines.append(
                f"  torch.cat keeps the old tensor alive while it builds the new one:"
                f" peak {peak:,} B during the step (+{peak - steady:,} B)"
            )
        return lines
