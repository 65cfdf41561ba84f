"""What one request reserves per GPU, and how many tokens a pool of cache bytes holds.

Capacity asks these two questions (and what a shared prompt prefix costs) only through a
reservation object, so an engine profile can replace IdealReservation with the rules of vLLM,
SGLang or llama.cpp without touching capacity.

IdealReservation is paged allocation as a layout needs it: each layer group keeps the tokens it
still attends to (all of them for full and MLA layers, the last `window` for sliding and chunked
ones) in whole blocks of `block_size` tokens, and a shared prefix's whole blocks are held once
per GPU while any request's layer still holds them. A request's bytes never decrease as it
grows (a sliding window's peak span is kept), so the longest context that fits is well defined.
"""

from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from kvplan.errors import KvplanError
from kvplan.sizing import GroupCost, ModelCost
from kvplan.spec import ModelSpec


class Reservation(Protocol):
    """What capacity asks of an allocator; IdealReservation is one, engine profiles others."""

    @property
    def name(self) -> str: ...

    @property
    def block_size(self) -> int: ...

    @property
    def shared_prefix_tokens(self) -> int: ...

    @property
    def budget_from_free(self) -> bool:
        """Whether the budget is a share of the memory left after loading (TensorRT-LLM)
        rather than a share of the GPU less what is loaded."""
        ...

    def check_cache_dtype(self, cache_dtype: str, model_dtype: str) -> None:
        """Refuse a cache format the allocator's engine does not offer."""
        ...

    def for_model(self, spec: ModelSpec) -> tuple["Reservation", ModelSpec, list[str]]:
        """This reservation fitted to a model (an engine's length settings default to the
        model's), the spec as it caches the model (an engine may ignore windows), notes."""
        ...

    def store(
        self, cost: ModelCost, cache_dtype: str, model_dtype: str, mla_mode: str
    ) -> ModelCost:
        """The layout's cost terms as the allocator's engine stores them."""
        ...

    def request_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """Bytes one request of `context_tokens` reserves per GPU, beyond the shared prefix;
        never decreasing with `context_tokens` (capacity searches it)."""
        ...

    def shared_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """Bytes a shared prompt prefix takes once per GPU at that request length."""
        ...

    def pool_blocks(self, cost: ModelCost, budget_bytes: int) -> int | None:
        """Blocks a pool of `budget_bytes` holds; None for a model with no per-token cache."""
        ...

    def pool_tokens(self, cost: ModelCost, budget_bytes: int) -> int | None:
        """Tokens a pool of `budget_bytes` holds; None for a model with no per-token cache."""
        ...

    def pool_bytes(self, cost: ModelCost, budget_bytes: int) -> int:
        """Bytes the pool holds for this budget (whole blocks may pass it: TensorRT-LLM)."""
        ...

    def max_concurrency(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int, shared: int
    ) -> float:
        """Requests of `context_tokens` a budget holds beside `shared` prefix bytes."""
        ...

    def kv_budget(self, memory_bytes: int, fraction: Fraction, used_bytes: int) -> int:
        """The cache budget of a GPU of `memory_bytes` holding `used_bytes` of weights and
        reserve, when the engine may use `fraction` of it."""
        ...

    def grows_without_bound(self, cost: ModelCost) -> bool:
        """Whether request_bytes keeps growing with the length."""
        ...

    def plateau_tokens(self, cost: ModelCost) -> int:
        """For a model that does not grow without bound: a length past which it is flat."""
        ...


@dataclass(frozen=True, kw_only=True)
class IdealReservation:
    """Paged KV allocation with no engine overhead: whole blocks of the tokens still held."""

    block_size: int = 16
    shared_prefix_tokens: int = 0
    name: str = "ideal"
    budget_from_free: bool = False  # a share of the GPU, less what is loaded

    def __post_init__(self) -> None:
        if isinstance(self.block_size, bool) or not isinstance(self.block_size, int):
            raise KvplanError("expected a positive integer", field="block_size")
        if self.block_size <= 0:
            raise KvplanError(
                f"expected a positive integer, got {self.block_size}",
                field="block_size",
            )
        if self.shared_prefix_tokens < 0:
            raise KvplanError("expected zero or more tokens", field="shared_prefix")

    def check_cache_dtype(self, cache_dtype: str, model_dtype: str) -> None:
        """Every format kvplan knows is a layout the ideal allocator can hold."""

    def for_model(
        self, spec: ModelSpec
    ) -> tuple["IdealReservation", ModelSpec, list[str]]:
        """Itself and the layout's own spec: every window is kept."""
        return self, spec, []

    def store(
        self, cost: ModelCost, cache_dtype: str, model_dtype: str, mla_mode: str
    ) -> ModelCost:
        """The layout's own cost terms: nothing is stored another way."""
        return cost

    @property
    def shared_tokens(self) -> int:
        """Prefix tokens that can be shared: prefix caching shares whole blocks only."""
        return self.shared_prefix_tokens // self.block_size * self.block_size

    def _held_blocks(self, group: GroupCost, context_tokens: int) -> int:
        """Blocks one request of this group needs at its peak, up to `context_tokens`.

        A capped layer (window w) keeps the last w tokens; their blocks span up to
        ceil((w + block_size - 1) / block_size) as the window slides across block edges, and
        that peak is what the request must have had room for.
        """
        if not group.bytes_per_token:
            return 0
        tokens = context_tokens
        if group.cap_tokens is not None:
            tokens = min(context_tokens, group.cap_tokens + self.block_size - 1)
        return -(-tokens // self.block_size)

    def _shared_blocks(self, group: GroupCost, context_tokens: int) -> int:
        """Blocks of the shared prefix this group still holds at `context_tokens`."""
        if not group.bytes_per_token:
            return 0
        prefix_blocks = self.shared_tokens // self.block_size
        end = min(-(-context_tokens // self.block_size), prefix_blocks)
        if group.cap_tokens is None:
            return end
        first = max(0, context_tokens - group.cap_tokens) // self.block_size
        return max(0, end - first)

    def _block_bytes(self, group: GroupCost) -> int:
        return group.count * group.bytes_per_token * self.block_size

    def request_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """Bytes one request of `context_tokens` reserves per GPU, beyond the shared prefix."""
        total = 0
        for group in cost.groups:
            own = self._held_blocks(group, context_tokens)
            own -= self._shared_blocks(group, context_tokens)
            compressed = group.compressed_bytes * group.compressed_entries(
                context_tokens
            )
            total += self._block_bytes(group) * own
            total += group.count * (compressed + group.state_bytes)
        return total

    def shared_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """Bytes the shared prefix takes once per GPU while requests are `context_tokens` long."""
        return sum(
            self._block_bytes(g) * self._shared_blocks(g, context_tokens)
            for g in cost.groups
        )

    def pool_blocks(self, cost: ModelCost, budget_bytes: int) -> int | None:
        """Blocks of `block_size` tokens (in every layer) that the budget holds; None: no KV."""
        per_block = cost.bytes_per_token * self.block_size
        if not per_block:
            return None
        return max(0, budget_bytes - cost.fixed_bytes) // per_block

    def pool_bytes(self, cost: ModelCost, budget_bytes: int) -> int:
        """The budget itself: requests are counted in bytes against it."""
        return budget_bytes

    def pool_tokens(self, cost: ModelCost, budget_bytes: int) -> int | None:
        """Tokens a pool of `budget_bytes` holds while every layer keeps them (whole blocks)."""
        blocks = self.pool_blocks(cost, budget_bytes)
        return None if blocks is None else blocks * self.block_size

    def max_concurrency(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int, shared: int
    ) -> float:
        """(budget - per-model constants - shared prefix) / one request's bytes; inf if 0."""
        request = self.request_bytes(cost, context_tokens)
        room = budget_bytes - cost.fixed_bytes - shared
        return room / request if request else float("inf")

    def kv_budget(self, memory_bytes: int, fraction: Fraction, used_bytes: int) -> int:
        """floor(memory x fraction) - weights and reserve: the share, less what is loaded."""
        return memory_bytes * fraction.numerator // fraction.denominator - used_bytes

    def grows_without_bound(self, cost: ModelCost) -> bool:
        """Whether a request's bytes keep growing with its length (some layer is uncapped)."""
        return any(
            (g.bytes_per_token and g.cap_tokens is None) or g.compress_ratio
            for g in cost.groups
        )

    def plateau_tokens(self, cost: ModelCost) -> int:
        """A length past which a fully capped model's request bytes no longer grow."""
        caps = [g.cap_tokens or 0 for g in cost.groups if g.bytes_per_token]
        return max(caps, default=0) + self.shared_tokens + self.block_size
