"""llama.cpp (and ollama's runner): one cell per token of context, K and V types apart.

Rules read from ggml-org/llama.cpp src/llama-kv-cache.cpp and src/llama-kv-cache-iswa.cpp, and
ikawrakow/ik_llama.cpp for MLA (docs/engines.md names versions):

- a window is kept only for the architectures llama.cpp gives SWA (engines/windows.py: not
  phi3 since pull request 13676, nor llama/Mistral, qwen2, starcoder2);
- full-attention layers get kv_size = n_ctx cells (padded to 256);
- sliding-window (and chunked) layers get min(n_ctx, pad256(n_swa x n_seq + n_ubatch)) cells,
  all n_ctx with --swa-full;
- a cell of a layer holds K as heads x ggml_row_size(type_k, head_dim) and V with type_v
  (`--cache-type-k`, `--cache-type-v`: f16, q8_0, q4_0, ... in ggml's blocks of 32);
- MLA layers store the latent (kv_lora_rank + rope values) as K and no V (ik_llama's
  "c^KV", llama.cpp since its MLA support); `mla_mode=expanded` models builds that stored
  every head's K and V. DeepSeek-V3.2's indexer key (index_head_dim values) is counted in
  type_k too, in the V slot of the cell (it is a cache of its own, not the latent's line).
"""

from dataclasses import dataclass
from typing import ClassVar

from kvplan.engines.base import (
    EngineProfile,
    Figure,
    figure_list,
    largest_fitting_context,
    pad_up,
    tensor_bytes,
)
from kvplan.engines.windows import LLAMACPP_WINDOWS, WindowRule
from kvplan.formats import get_format
from kvplan.sizing import GroupCost, ModelCost
from kvplan.units import MIB


@dataclass(frozen=True, kw_only=True)
class LlamacppProfile(EngineProfile):
    """llama.cpp's unified KV cache and its iSWA pair (b4000 and later, ollama 0.5+)."""

    name: str = "llamacpp"
    versions: str = "b4000+ (ollama 0.5+, ik_llama)"
    block_size: int = 256  # n_ctx is padded to this many cells
    type_k: str | None = None  # --cache-type-k; None: the estimate's cache dtype
    type_v: str | None = None  # --cache-type-v
    n_ubatch: int = 512
    n_seq: int = 1  # --parallel slots sharing a unified cache
    swa_full: bool = False
    window_rule: ClassVar[WindowRule] = LLAMACPP_WINDOWS
    # --cache-type-k/-v: f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1 (common/arg.cpp)
    cache_dtypes: ClassVar[tuple[str, ...] | None] = (
        "fp32", "fp16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1",
    )  # fmt: skip

    def cell_bytes(self, g: GroupCost) -> tuple[int, int]:
        """(K bytes, V bytes) of one cell of one layer; a type not set keeps the cost's."""
        if not g.row_values:
            return 0, 0
        rows, values = g.rows_per_token, g.row_values
        split = tensor_bytes(g)
        k_bytes, v_bytes = split[0], sum(split[1:])
        if self.type_k:
            k_bytes = rows[0] * get_format(self.type_k, field="type_k").row_bytes(
                values[0]
            )
        # an MLA layer has no V: its second tensor is DeepSeek-V3.2's indexer key, kept in
        # a cache of its own in the K type (llama.cpp pull requests 23346 and 25407)
        latent = g.layer.kind == "mla" and rows[:1] == (1,)
        type_v = self.type_k if latent else self.type_v
        if type_v:
            fmt_v = get_format(type_v, field="type_k" if latent else "type_v")
            v_bytes = sum(
                r * fmt_v.row_bytes(v)
                for r, v in zip(rows[1:], values[1:], strict=True)
            )
        return k_bytes, v_bytes

    def token_bytes(self, cost: ModelCost) -> int:
        """K and V of one cell in every layer, in their own types."""
        return sum(g.count * sum(self.cell_bytes(g)) for g in cost.groups)

    def extra_token_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """One cell's K and V in the layers still growing at this context."""
        return sum(
            g.count * sum(self.cell_bytes(g))
            for g in cost.groups
            if g.grows_at(context_tokens)
        )

    def cache_label(self, label: str) -> str:
        """`q8_0/q4_0` when K and V types are set apart, else the estimate's format."""
        if not self.type_k and not self.type_v:
            return label
        return f"{self.type_k or label}/{self.type_v or label}"

    def cells(self, g: GroupCost, n_ctx: int) -> int:
        """Cells of this group's cache for a context of n_ctx tokens."""
        full = pad_up(n_ctx, self.block_size)
        if g.cap_tokens is None or self.swa_full:
            return full
        return min(full, pad_up(g.cap_tokens * self.n_seq + self.n_ubatch, 256))

    def cache_bytes(self, cost: ModelCost, n_ctx: int) -> tuple[int, int]:
        """(K bytes, V bytes) of the whole cache for n_ctx."""
        k_total = v_total = 0
        for g in cost.groups:
            k, v = self.cell_bytes(g)
            cells = self.cells(g, n_ctx)
            k_total += g.count * k * cells
            v_total += g.count * v * cells
        return k_total, v_total

    def request_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """K + V of a context of this many tokens (plus recurrent state, one slot)."""
        return sum(self.cache_bytes(cost, context_tokens)) + cost.state_bytes

    def pool_tokens(self, cost: ModelCost, budget_bytes: int) -> int:
        """The largest n_ctx (a multiple of the 256-cell padding) whose cache fits."""
        if not self.token_bytes(cost):
            return 0
        return largest_fitting_context(self, cost, budget_bytes, step=self.block_size)

    def max_concurrency(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int
    ) -> float:
        """Caches of this n_ctx (cells padded to 256, recurrent state) the budget holds."""
        request = self.request_bytes(cost, context_tokens)
        room = max(budget_bytes - cost.fixed_bytes, 0)
        return room / request if request else float("inf")

    def figures(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int
    ) -> list[Figure]:
        """Cells from the budget, and K, V and total MiB for a context of n_ctx."""
        k, v = self.cache_bytes(cost, context_tokens)
        return figure_list(
            kv_cells=(self.pool_tokens(cost, budget_bytes), "cells"),
            kv_size_mib=((k + v) / MIB, "MiB"),
            k_size_mib=(k / MIB, "MiB"),
            v_size_mib=(v / MIB, "MiB"),
        )

    def explain(self, cost: ModelCost, context_tokens: int) -> list[str]:
        """Cells per layer group and the bytes of a cell."""
        lines = [
            f"{self.label}: n_ctx {context_tokens:,} cells, padded to {self.block_size}"
        ]
        for g in cost.groups:
            if not g.bytes_per_token:
                continue
            k, v = self.cell_bytes(g)
            lines.append(
                f"  {g.count} {g.layer.label} layers x {self.cells(g, context_tokens):,}"
                f" cells x ({k:,} B K + {v:,} B V)"
            )
        k, v = self.cache_bytes(cost, context_tokens)
        lines.append(f"  K {k / MIB:,.2f} MiB + V {v / MIB:,.2f} MiB = {(k + v):,} B")
        if cost.state_bytes:
            lines.append(
                f"  + {cost.state_bytes:,} B of recurrent state (one sequence slot)"
            )
        return lines
