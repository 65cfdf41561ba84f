"""Predict the figures an engine logged, with its profile, from what else the log says.

Every prediction carries the range the log's own rounding allows: a memory figure printed as
6.51 GiB means 6.505-6.515 GiB, so the token count predicted from it is a range too. A figure
is predicted from the memory line when the log has one, else from the pool line (a token or
block count), never from itself.
"""

import math
from dataclasses import dataclass, replace
from fractions import Fraction

from kvplan.engines import EngineProfile
from kvplan.engines.base import cdiv
from kvplan.logs import LogError, LogFacts, Logged
from kvplan.sizing import ModelCost
from kvplan.spec import ModelSpec
from kvplan.units import GIB, MIB


@dataclass(frozen=True, kw_only=True)
class Setup:
    """What a prediction rests on: the model, the engine's profile, TP, the cache dtype."""

    spec: ModelSpec
    profile: EngineProfile
    tp: int
    cache_dtype: str

    def cost(self) -> ModelCost:
        """The cost terms one TP rank holds, MLA stored as this engine stores it."""
        return self.profile.cost(self.spec, self.cache_dtype, tp=self.tp)


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """A predicted figure and the range the logged inputs' rounding allows."""

    value: int | float
    low: int | float
    high: int | float
    basis: str


Budgets = tuple[int, int, int]  # (as printed, lowest, highest) in bytes


def _bytes_range(*logged: Logged, unit: int) -> Budgets:
    """Bytes of one or more printed sizes: as printed, and the ends of their rounding."""
    value = sum(f.value for f in logged)
    half = sum(f.half_step for f in logged)
    as_int = [math.floor(v * unit) for v in (value, value - half, value + half)]
    return as_int[0], as_int[1], as_int[2]


def _ranged(function, budgets: Budgets, basis: str) -> Prediction:
    """A figure that grows with the budget, at the printed budget and at both ends."""
    middle, low, high = (function(b) for b in budgets)
    return Prediction(
        value=middle, low=min(low, high), high=max(low, high), basis=basis
    )


def _exact(value, basis: str) -> Prediction:
    return Prediction(value=value, low=value, high=value, basis=basis)


def _gib(logged: Logged) -> str:
    return f"{float(logged.value):g} GiB"


def _vllm_pool_budgets(facts: LogFacts, profile, cost: ModelCost, length: int):
    """Budgets consistent with a logged pool when the log has no memory line."""
    if facts.engine == "vllm-v0" and "gpu_blocks" in facts.figures:
        blocks = int(facts.figures["gpu_blocks"].value)
        size = profile.block_bytes(cost)
        return (blocks * size, blocks * size, (blocks + 1) * size - 1), "gpu_blocks"
    if "kv_cache_tokens" not in facts.figures:
        return None, ""
    tokens = int(facts.figures["kv_cache_tokens"].value)
    plan = profile.plan(cost)
    if profile.token_line == "per_group":
        low = tokens // plan.min_block_size * plan.n_groups
        high = low + plan.n_groups - 1
    else:
        needed = profile.request_blocks(plan, length)
        low = cdiv(tokens * needed, length)
        high = cdiv((tokens + 1) * needed, length) - 1
    size = plan.block_bytes
    middle = (low + high) // 2
    return (middle * size, low * size, (high + 1) * size - 1), "kv_cache_tokens"


def _vllm(facts: LogFacts, setup: Setup) -> dict[str, Prediction]:
    """Blocks, the token line and the concurrency line from 'Available KV cache memory'."""
    profile, cost = setup.profile, setup.cost()
    length = profile.max_model_len
    memory = facts.figures.get("kv_cache_memory_gib")
    source = ""
    if memory:
        budgets, basis = _bytes_range(memory, unit=GIB), f"the logged {_gib(memory)}"
    else:
        budgets, source = _vllm_pool_budgets(facts, profile, cost, length)
        if budgets is None:
            raise LogError(
                "the log has no KV cache memory line ('Available KV cache memory',"
                " 'kv_cache_size=', 'reserved for KV Cache is') and no pool line"
                " ('GPU KV cache size', '# GPU blocks'): nothing to predict from",
                field="log",
            )
        basis = f"the pool its {source} line implies (the log prints no memory line)"
    figures = {
        "gpu_blocks": lambda b: profile.num_blocks(cost, b),
        "kv_cache_tokens": lambda b: profile.pool_tokens(cost, b),
    }
    if length:
        figures["max_concurrency"] = lambda b: profile.max_concurrency(cost, b, length)
    return {
        name: _ranged(function, budgets, basis)
        for name, function in figures.items()
        if name != source
    }


def _sglang(facts: LogFacts, setup: Setup) -> dict[str, Prediction]:
    """#tokens from the K and V sizes; the K and V sizes from #tokens."""
    profile, cost = setup.profile, setup.cost()
    figures = facts.figures
    sizes = [
        figures[n] for n in ("k_size_gib", "v_size_gib", "kv_size_gib") if n in figures
    ]
    predictions = {}
    if sizes:
        budgets = _bytes_range(*sizes, unit=GIB)
        basis = "the logged K and V sizes (" + " + ".join(_gib(s) for s in sizes) + ")"
        predictions["kv_cache_tokens"] = _ranged(
            lambda b: profile.pool_tokens(cost, b), budgets, basis
        )
    if "kv_cache_tokens" in figures:
        tokens = int(figures["kv_cache_tokens"].value)
        basis = f"the logged {tokens:,} tokens"
        k_bytes = profile.buffer_bytes(cost, tokens, 0)
        v_bytes = profile.buffer_bytes(cost, tokens, 1)
        predictions["k_size_gib"] = _exact(k_bytes / GIB, basis)
        predictions["v_size_gib"] = _exact(v_bytes / GIB, basis)
        predictions["kv_size_gib"] = _exact((k_bytes + v_bytes) / GIB, basis)
    return predictions


def _trtllm(facts: LogFacts, setup: Setup) -> dict[str, Prediction]:
    """Blocks, tokens and GiB allocated from the available memory x the free fraction."""
    profile, cost = setup.profile, setup.cost()
    available = facts.figures.get("available_gib")
    if not available:
        raise LogError(
            "the log has no 'Memory usage when calculating max tokens in paged kv cache'"
            " line: nothing to predict from",
            field="log",
        )
    budgets = tuple(profile.kv_budget(b) for b in _bytes_range(available, unit=GIB))
    fraction = float(profile.free_gpu_memory_fraction)
    basis = f"the logged {_gib(available)} available x free_gpu_memory_fraction {fraction:g}"
    length = profile.max_seq_len or setup.spec.max_positions

    def figure(name):
        return lambda b: next(
            f.value for f in profile.figures(cost, b, length) if f.name == name
        )

    names = ("primary_blocks", "kv_cache_tokens", "allocated_gib")
    return {name: _ranged(figure(name), budgets, basis) for name in names}


def _llamacpp_caches(profile, cost: ModelCost, n_ctx: int) -> dict[str, int]:
    """Bytes of the base cache (full layers) and of the SWA cache, K and V apart."""
    sizes = dict.fromkeys(("k", "v", "swa_k", "swa_v", "swa_cells"), 0)
    for g in cost.groups:
        k, v = profile.cell_bytes(g)
        cells = profile.cells(g, n_ctx)
        prefix = "swa_" if g.cap_tokens and not profile.swa_full else ""
        sizes[f"{prefix}k"] += g.count * k * cells
        sizes[f"{prefix}v"] += g.count * v * cells
        if prefix and k + v:
            sizes["swa_cells"] = cells
    return sizes


def _llamacpp(facts: LogFacts, setup: Setup) -> dict[str, Prediction]:
    """MiB of K, V and the total from the logged cells; the cells from the logged MiB."""
    profile, cost = setup.profile, setup.cost()
    figures, predictions = facts.figures, {}
    if "kv_cells" in figures:
        n_ctx = int(figures["kv_cells"].value)
        sizes = _llamacpp_caches(profile, cost, n_ctx)
        basis = f"the logged {n_ctx:,} cells"
        for prefix in ("", "swa_"):
            k, v = sizes[f"{prefix}k"], sizes[f"{prefix}v"]
            predictions[f"{prefix}k_size_mib"] = _exact(k / MIB, basis)
            predictions[f"{prefix}v_size_mib"] = _exact(v / MIB, basis)
            predictions[f"{prefix}kv_size_mib"] = _exact((k + v) / MIB, basis)
        predictions["swa_kv_cells"] = _exact(sizes["swa_cells"], basis)
    totals = [figures[n] for n in ("kv_size_mib", "swa_kv_size_mib") if n in figures]
    if totals:
        budgets = _bytes_range(*totals, unit=MIB)
        basis = (
            "the logged KV size ("
            + " + ".join(f"{float(t.value):g} MiB" for t in totals)
            + ")"
        )
        ranged = _ranged(lambda b: profile.pool_tokens(cost, b), budgets, basis)
        predictions["kv_cells"] = _cells_printing_as(profile, cost, totals, ranged)
    return predictions


def _cells_printing_as(profile, cost: ModelCost, totals, p: Prediction) -> Prediction:
    """The padded n_ctx in the rounding range whose KV sizes print as the log's, if any.

    n_ctx is a multiple of 256, so a size printed to two decimals allows one or two counts:
    32,768 cells of 37,332 B are 1166.625 MiB, printed 1166.62; 32,512 would print 1157.55.
    """
    for cells in range(p.high, p.low - 1, -profile.block_size):
        sizes = _llamacpp_caches(profile, cost, cells)
        mib = {
            "kv_size_mib": Fraction(sizes["k"] + sizes["v"], MIB),
            "swa_kv_size_mib": Fraction(sizes["swa_k"] + sizes["swa_v"], MIB),
        }
        if all(abs(t.value - mib[t.name]) <= t.half_step for t in totals):
            return replace(p, value=cells)
    return p


# Figures a prediction starts from: the budget lines, never compared with themselves.
INPUTS = ("kv_cache_memory_gib", "available_gib")

PREDICTORS = {
    "vllm": _vllm,
    "vllm-v0": _vllm,
    "sglang": _sglang,
    "trtllm": _trtllm,
    "llamacpp": _llamacpp,
}


def predict(facts: LogFacts, setup: Setup) -> dict[str, Prediction]:
    """Every figure the profile can predict for this log, by the log's figure names."""
    return PREDICTORS[facts.engine](facts, setup)
