"""SGLang: a token pool (page size 1 by default) sized from mem_fraction_static.

Rules read from sgl-project/sglang (docs/engines.md names files and versions):

- model_runner.py / model_runner_kv_cache_mixin.py, profile_max_num_token: rest memory =
  available after loading - total x (1 - mem_fraction_static); tokens = rest // cell_size,
  cell_size = KV heads per rank x (head_dim_k + head_dim_v) x layers x dtype bytes (MLA:
  (kv_lora_rank + rope) x layers x dtype bytes); rounded down to whole pages.
- configs/model_config.py is_hybrid_swa_model: only the architectures it lists (gpt-oss,
  Llama-4, Gemma-4, ...) get a sliding-window pool; the others hold every token in every layer
  (engines/windows.py);
- _resolve_hybrid_swa_tokens: for those, the same memory is split so that
  swa_tokens = full_tokens x swa_full_tokens_ratio (0.8).
- handle_max_mamba_cache: Mamba states take rest x ratio / (1 + ratio) first (ratio 0.9).
- mem_cache/memory_pool.py: MHATokenToKVPool gives every layer a K and a V buffer of
  size + page_size rows (one padded slot) and prints "K size" and "V size"; MLATokenToKVPool
  one latent buffer of as many rows and prints one "KV size"; NSATokenToKVPool (DeepSeek-V3.2)
  adds the indexer key, 132 B per token in pages, to that "KV size" (engines/dsa.py). The
  sizes are in units of 2^30 but called "GB".
- DeepSeek sparse attention (server_args.py): pages of 64 tokens on CUDA; the profiler counts
  an fp8 latent as kv_lora_rank + rope bytes (get_cell_size_per_token) while the pool stores
  656-byte rows (calculate_mla_kv_cache_dim), so an fp8 pool holds more than its budget.
"""

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import ClassVar

from kvplan.engines.base import (
    EngineProfile,
    Figure,
    cdiv,
    figure_list,
    fraction_of,
    tensor_bytes,
)
from kvplan.engines.dsa import (
    fp8_latent_bytes,
    is_dsa,
    latent_values,
    stored_as,
    value_bytes,
)
from kvplan.engines.windows import SGLANG_WINDOWS, WindowRule
from kvplan.formats import get_format
from kvplan.sizing import GroupCost, ModelCost
from kvplan.units import GIB


def _is_swa(g: GroupCost) -> bool:
    return g.layer.kind in ("sliding", "chunked") and g.bytes_per_token > 0


NSA_PAGE = 64  # tokens per page SGLang sets for DeepSeek sparse attention on CUDA


def _cell(g: GroupCost) -> int:
    """Bytes per token per layer SGLang's profiler counts (its cell size).

    The group's stored bytes, except an fp8 DSA latent: counted as one byte per value
    (kv_lora_rank + rope) although stored as a 656-byte row.
    """
    if is_dsa(g) and g.row_values[0] == fp8_latent_bytes(g):
        return latent_values(g) + g.row_values[1]
    return g.bytes_per_token


def _stored(g: GroupCost, fmt_name: str) -> GroupCost:
    """A DSA group as NSATokenToKVPool stores it: the latent row, the indexer key."""
    if fmt_name == "fp8":  # fp8_e4m3: the kv_cache_dim override of FlashMLA's layout
        return stored_as(g, fp8_latent_bytes(g))
    return stored_as(g, latent_values(g) * value_bytes(g))


def _is_latent(g: GroupCost) -> bool:
    """An MLA layer stored as its latent (MLATokenToKVPool), not as every head's K and V."""
    return g.layer.kind == "mla" and g.rows_per_token[:1] == (1,)


def _tensor(g: GroupCost, index: int) -> int:
    """Bytes per token per layer of the group's K (0) or V (1); 0 when it has no such tensor."""
    split = tensor_bytes(g)
    return split[index] if index < len(split) else 0


@dataclass(frozen=True, kw_only=True)
class SglangProfile(EngineProfile):
    """SGLang's token pool (sglang 0.4-0.5)."""

    name: str = "sglang"
    versions: str = "0.4-0.5"
    block_size: int = 1  # --page-size
    mem_fraction_static: Fraction = Fraction(88, 100)  # sized per GPU when not given
    swa_full_tokens_ratio: Fraction = Fraction(8, 10)
    mamba_full_memory_ratio: Fraction = Fraction(9, 10)
    window_rule: ClassVar[WindowRule] = SGLANG_WINDOWS
    # --kv-cache-dtype: auto (the model's), bf16, fp8_e4m3, fp8_e5m2 (server_args.py)
    cache_dtypes: ClassVar[tuple[str, ...] | None] = (
        "fp32",
        "fp16",
        "bf16",
        "fp8",
        "fp8_e5m2",
    )
    prints_gib_as_gb: ClassVar[bool] = True  # "K size: 8.23 GB" is 8.23 x 2^30 B

    def store(
        self, cost: ModelCost, cache_dtype: str, model_dtype: str, mla_mode: str
    ) -> ModelCost:
        """DeepSeek-V3.2's layers stored as NSATokenToKVPool stores them."""
        if mla_mode != "latent" or not any(is_dsa(g) for g in cost.groups):
            return cost
        fmt_name = get_format(cache_dtype, model_dtype=model_dtype).name
        groups = tuple(_stored(g, fmt_name) if is_dsa(g) else g for g in cost.groups)
        return replace(cost, groups=groups)

    def page(self, cost: ModelCost) -> int:
        """Tokens per page: --page-size, or the 64 SGLang sets for sparse attention."""
        if self.block_size == 1 and any(is_dsa(g) for g in cost.groups):
            return NSA_PAGE
        return self.block_size

    def kv_budget(self, total_bytes: int, available_after_load_bytes: int) -> int:
        """available after loading - total x (1 - mem_fraction_static)."""
        reserved = fraction_of(total_bytes, 1 - Fraction(self.mem_fraction_static))
        return available_after_load_bytes - reserved

    def _cells(self, cost: ModelCost) -> tuple[int, int, int]:
        """(full-layer bytes per token, sliding-layer bytes per token, state per request)."""
        full = sum(g.count * _cell(g) for g in cost.groups if not _is_swa(g))
        swa = sum(g.count * _cell(g) for g in cost.groups if _is_swa(g))
        return full, swa, cost.state_bytes

    def state_requests(self, cost: ModelCost, budget_bytes: int) -> int:
        """Mamba states the pool keeps (max_mamba_cache_size) before the KV cache is sized."""
        state = cost.state_bytes
        if not state:
            return 0
        ratio = Fraction(self.mamba_full_memory_ratio)
        return int(budget_bytes * ratio / (1 + ratio)) // state

    def pool_sizes(self, cost: ModelCost, budget_bytes: int) -> tuple[int, int]:
        """(full-layer tokens, sliding-layer tokens) of the pools; sliding 0 without SWA."""
        full, swa, state = self._cells(cost)
        kv_budget = budget_bytes - self.state_requests(cost, budget_bytes) * state
        capacity = max(kv_budget, 0) // (full + swa) if full + swa else 0
        page = self.page(cost)
        if not swa or not full:
            return capacity // page * page, 0
        ratio = Fraction(self.swa_full_tokens_ratio)
        full_tokens = int(Fraction(capacity * (full + swa)) / (full + ratio * swa))
        full_tokens = full_tokens // page * page
        return full_tokens, int(full_tokens * ratio) // page * page

    def pool_bytes(self, cost: ModelCost, budget_bytes: int) -> int:
        """The budget as the split pools hold it, in request_bytes' units.

        With a full and a sliding pool, full_tokens slots of F x n_full + 0.8 x S x n_swa
        bytes each (rounded up as request_bytes rounds), so the longest request that fits is
        exactly the full pool's tokens; otherwise the budget itself.
        """
        full, swa, state = self._cells(cost)
        if not (full and swa) or state:
            return budget_bytes
        full_tokens = self.pool_sizes(cost, budget_bytes)[0]
        per_slot = full + Fraction(self.swa_full_tokens_ratio) * swa
        return int(-(-per_slot * full_tokens // 1))

    def pool_tokens(self, cost: ModelCost, budget_bytes: int) -> int:
        """max_total_num_tokens ("#tokens" of the full-attention pool)."""
        return self.pool_sizes(cost, budget_bytes)[0]

    def request_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """The budget one request uses up, counted through SGLang's split pools.

        Every token takes a slot in the full layers and the window takes slots in the sliding
        ones; where the two pools are split (full_tokens : swa_tokens = 1 : ratio), a full
        slot costs full + ratio x swa bytes of the budget, and a request costs the slots of
        the pool it fills first. Recurrent states come from their own share of the budget
        (mamba_full_memory_ratio). So budget / request_bytes is the concurrency.
        """
        page = self.page(cost)
        held = cdiv(context_tokens, page) * page
        full, swa, state = self._cells(cost)
        windows = [min(held, g.cap_tokens) for g in cost.groups if _is_swa(g)]
        if full and swa:
            ratio = Fraction(self.swa_full_tokens_ratio)
            slots = max(Fraction(held), max(windows) / ratio)
            kv = -(-(full + ratio * swa) * slots // 1)
        else:
            kv = sum(
                g.count * _cell(g) * (min(held, g.cap_tokens) if _is_swa(g) else held)
                for g in cost.groups
            )
        if not state:
            return int(kv)
        share = Fraction(self.mamba_full_memory_ratio)
        return int(max(-(-kv * (1 + share) // 1), -(-state * (1 + share) / share // 1)))

    def max_concurrency(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int
    ) -> float:
        """Requests of this length the token pools hold (SGLang prints no such line)."""
        full_tokens, swa_tokens = self.pool_sizes(cost, budget_bytes)
        page = self.page(cost)
        held = cdiv(context_tokens, page) * page  # whole pages
        limits = [full_tokens / held]
        for g in cost.groups:
            if _is_swa(g) and swa_tokens:
                limits.append(swa_tokens / min(held, g.cap_tokens))
        if cost.state_bytes:
            limits.append(self.state_requests(cost, budget_bytes))
        return min(limits)

    def printed_sizes(
        self, cost: ModelCost, tokens: int, *, swa: bool = False
    ) -> dict[str, int]:
        """Bytes the pool line prints for a pool of `tokens`: {k, v} of an MHA pool, {kv}
        of an MLA pool (the indexer key included); `swa` for the sliding layers' pool."""
        page = self.page(cost)
        rows = tokens + page  # one padded page per buffer
        groups = [g for g in cost.groups if _is_swa(g) == swa and g.bytes_per_token]
        if not any(_is_latent(g) for g in groups):
            return {
                "k": rows * sum(g.count * _tensor(g, 0) for g in groups),
                "v": rows * sum(g.count * _tensor(g, 1) for g in groups),
            }
        index_rows = (rows + 1) // page * page  # NSATokenToKVPool's pages of keys
        total = 0
        for g in groups:
            if is_dsa(g):
                latent, index = g.row_values
                total += g.count * (rows * latent + index_rows * index)
            else:
                total += g.count * rows * g.bytes_per_token
        return {"kv": total}

    def buffer_bytes(self, cost: ModelCost, tokens: int, tensor: int) -> int:
        """Bytes of the K (0) or V (1) buffers of the full layers holding `tokens` tokens
        (an MLA pool's one buffer is K; its V is 0)."""
        sizes = self.printed_sizes(cost, tokens)
        if "kv" in sizes:
            return sizes["kv"] if tensor == 0 else 0
        return sizes["k" if tensor == 0 else "v"]

    def figures(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int
    ) -> list[Figure]:
        """#tokens, the K and V sizes in 2^30 bytes, and the concurrency."""
        tokens = self.pool_tokens(cost, budget_bytes)
        concurrency = self.max_concurrency(cost, budget_bytes, context_tokens)
        sizes = {
            f"{name}_size_gib": (size / GIB, "GiB")
            for name, size in self.printed_sizes(cost, tokens).items()
        }
        return figure_list(
            kv_cache_tokens=(tokens, "tokens"),
            **sizes,
            max_concurrency=(concurrency, "x"),
        )

    def capacity_notes(self, cost: ModelCost) -> list[str]:
        """An fp8 DeepSeek-V3.2 pool holds more than the budget its profiler computed."""
        counted = sum(g.count * _cell(g) for g in cost.groups)
        stored = cost.bytes_per_token
        if counted == stored:
            return []
        return [
            f"{self.label}: SGLang sizes the pool at {counted:,} B per token (an fp8 latent"
            f" counted as 1 B per value) but stores {stored:,} B (656-byte rows): the pool"
            f" takes {stored / counted:.3f}x the budget, from the memory mem_fraction_static"
            " leaves free"
        ]

    def explain(self, cost: ModelCost, context_tokens: int) -> list[str]:
        """The cell size and the token slots one request takes."""
        full, swa, state = self._cells(cost)
        lines = [
            f"{self.label}: page {self.page(cost)}; cell {full + swa:,} B per token"
            f" (full layers {full:,} B, sliding layers {swa:,} B)"
        ]
        if swa:
            lines.append(
                f"  sliding layers share a pool of swa_full_tokens_ratio"
                f" {float(self.swa_full_tokens_ratio):g} x the full pool's tokens"
            )
        if state:
            lines.append(f"  + {state:,} B of recurrent state in a separate pool")
        if cost.bytes_per_token != full + swa and not swa:
            lines.append(
                f"  the pool stores {cost.bytes_per_token:,} B per token (DeepSeek sparse"
                " attention: 656-byte fp8 latent rows and 132-byte indexer keys); the"
                " request below is the budget the profiler counts"
            )
        lines.append(f"  request = {self.request_bytes(cost, context_tokens):,} B")
        return lines
