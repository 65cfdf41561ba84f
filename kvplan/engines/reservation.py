"""An engine profile behind capacity's Reservation protocol: `kvplan capacity --engine vllm`.

Capacity asks a reservation what one request reserves per GPU, what a pool of bytes holds,
what a shared prefix costs and what the concurrency is (kvplan/reservation.py). This adapter
answers each question with the engine profile's own rule, so the capacity rows of an engine are
the figures that engine would print for the same budget. A shared prompt prefix is counted in
whole blocks of the engine's block size, as the ideal reservation counts it, and only for the
engines that share cached prefixes between requests.
"""

from dataclasses import dataclass, replace
from fractions import Fraction

from kvplan.engines.base import EngineProfile, EngineRuleError, fraction_of
from kvplan.reservation import IdealReservation
from kvplan.sizing import ModelCost
from kvplan.spec import ModelSpec

# Engines whose prefix caching lets concurrent requests share a prompt's blocks.
SHARES_PREFIXES = ("vllm", "vllm-v0", "sglang", "trtllm")
# Engines whose cache budget is a fraction of the memory left after loading, not of the GPU.
BUDGET_FROM_FREE = ("trtllm",)
_LONGEST = 2**40  # past any context a model can be asked for


@dataclass(frozen=True, kw_only=True)
class EngineReservation:
    """Capacity's reservation questions, answered by an engine profile's rules."""

    profile: EngineProfile
    shared_prefix_tokens: int = 0

    def __post_init__(self) -> None:
        if self.shared_prefix_tokens and self.profile.name not in SHARES_PREFIXES:
            raise EngineRuleError(
                f"{self.profile.name} does not share a cached prefix between requests; "
                f"drop --shared-prefix or use one of {', '.join(SHARES_PREFIXES)}",
                field="shared_prefix",
            )

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def block_size(self) -> int:
        return self.profile.block_size

    @property
    def budget_from_free(self) -> bool:
        """TensorRT-LLM takes its fraction of the memory free after loading."""
        return self.profile.name in BUDGET_FROM_FREE

    def check_cache_dtype(self, cache_dtype: str, model_dtype: str) -> None:
        """Refuse a cache format the engine does not offer (EngineRuleError)."""
        self.profile.check_cache_dtype(cache_dtype, model_dtype)

    def for_model(
        self, spec: ModelSpec
    ) -> tuple["EngineReservation", ModelSpec, list[str]]:
        """The engine's rules for this model: its length settings default to the model's
        max_positions, and the windows it ignores become full layers (engines/windows.py)."""
        cached, note = self.profile.engine_spec(spec)
        profile = self.profile.for_model(spec)
        return replace(self, profile=profile), cached, [note] if note else []

    def store(
        self, cost: ModelCost, cache_dtype: str, model_dtype: str, mla_mode: str
    ) -> ModelCost:
        """The stage's cost terms as the engine stores them (EngineProfile.store)."""
        return self.profile.store(cost, cache_dtype, model_dtype, mla_mode)

    @property
    def _prefix(self) -> IdealReservation:
        """The shared prefix in whole blocks of the engine's block size."""
        return IdealReservation(
            block_size=self.block_size, shared_prefix_tokens=self.shared_prefix_tokens
        )

    def shared_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """Bytes the shared prefix takes once per GPU while requests are this long."""
        if not self.shared_prefix_tokens:
            return 0
        return self._prefix.shared_bytes(cost, context_tokens)

    def request_bytes(self, cost: ModelCost, context_tokens: int) -> int:
        """What the engine reserves for one request, less the shared prefix's blocks."""
        own = self.profile.request_bytes(cost, context_tokens)
        return own - self.shared_bytes(cost, context_tokens)

    def pool_blocks(self, cost: ModelCost, budget_bytes: int) -> int | None:
        """The engine's block count for the budget, where it prints one."""
        num_blocks = getattr(self.profile, "num_blocks", None)
        return None if num_blocks is None else num_blocks(cost, budget_bytes)

    def pool_bytes(self, cost: ModelCost, budget_bytes: int) -> int:
        """What the engine's pool holds for the budget (TensorRT-LLM rounds blocks up)."""
        pool_bytes = getattr(self.profile, "pool_bytes", None)
        return budget_bytes if pool_bytes is None else pool_bytes(cost, budget_bytes)

    def pool_tokens(self, cost: ModelCost, budget_bytes: int) -> int | None:
        """The "KV cache size: N tokens" figure the engine prints for this budget."""
        if not cost.bytes_per_token:
            return None
        return self.profile.pool_tokens(cost, budget_bytes)

    def max_concurrency(
        self, cost: ModelCost, budget_bytes: int, context_tokens: int, shared: int
    ) -> float:
        """The engine's printed concurrency; with a shared prefix, the room it leaves."""
        if not shared:
            return self.profile.max_concurrency(cost, budget_bytes, context_tokens)
        request = self.request_bytes(cost, context_tokens)
        room = budget_bytes - cost.fixed_bytes - shared
        return room / request if request else float("inf")

    def kv_budget(self, memory_bytes: int, fraction: Fraction, used_bytes: int) -> int:
        """The cache budget of one GPU holding `used_bytes` of weights and reserve."""
        if self.budget_from_free:
            return fraction_of(memory_bytes - used_bytes, fraction)
        return fraction_of(memory_bytes, fraction) - used_bytes

    def grows_without_bound(self, cost: ModelCost) -> bool:
        """Whether a request keeps growing with its length under this engine's rules."""
        longest = self.request_bytes(cost, _LONGEST)
        return longest > self.request_bytes(cost, _LONGEST // 2)

    def plateau_tokens(self, cost: ModelCost) -> int:
        """A length past which a request of a fully capped model no longer grows."""
        tokens = max(self.block_size, 1)
        while self.request_bytes(cost, tokens) != self.request_bytes(cost, 2 * tokens):
            tokens *= 2
        return 2 * tokens


# Engine settings that capacity's --memory-fraction stands for (capacity does the budget).
FRACTION_KNOBS = (
    "gpu_memory_utilization",
    "mem_fraction_static",
    "free_gpu_memory_fraction",
)


def with_capacity_settings(
    profile: EngineProfile,
    *,
    block_size: int | None = None,
    max_batched_tokens: int | None = None,
) -> EngineProfile:
    """The profile with capacity's own settings where the engine has them.

    `block_size` (when given) and `max_batched_tokens` (vLLM's max_num_batched_tokens) are
    what capacity sizes its reserve with, so a row's budget and reservation agree.
    """
    settings = {}
    if block_size is not None:
        settings["block_size"] = block_size
    if max_batched_tokens is not None and "max_num_batched_tokens" in profile.knobs():
        settings["max_num_batched_tokens"] = max_batched_tokens
    return profile.with_knobs(**settings) if settings else profile
