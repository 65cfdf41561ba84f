"""Predict the figures an engine logged, with its profile, from what else the log says.

Every prediction carries the range the log's own rounding allows (predict_base.py). A figure
is predicted from the memory line when the log has one, else from the pool line (a token or
block count), never from itself. vLLM's predictions are in predict_vllm.py.
"""

from dataclasses import replace
from fractions import Fraction

from kvplan.engines.base import cdiv
from kvplan.logs import LogError, LogFacts
from kvplan.logs.base import INPUT_FIGURES
from kvplan.logs.trtllm import FAKE_CACHE
from kvplan.predict_base import (
    Prediction,
    Setup,
    bytes_range,
    exact,
    gib_text,
    ranged,
)
from kvplan.predict_sglang import sglang_predictions
from kvplan.predict_vllm import vllm_predictions
from kvplan.sizing import ModelCost
from kvplan.units import GIB, MIB

__all__ = ["INPUTS", "PREDICTORS", "Prediction", "Setup", "predict"]


def _trtllm(facts: LogFacts, setup: Setup) -> dict[str, Prediction]:
    """Blocks, tokens and GiB allocated from the available memory x the free fraction."""
    profile, cost = setup.profile, setup.cost()
    if facts.refusal == FAKE_CACHE:
        raise LogError(f"{FAKE_CACHE}; nothing to check", field="log")
    available = facts.figures.get("available_gib")
    if not available:
        return _trtllm_from_allocation(facts, setup)
    budgets = tuple(profile.kv_budget(b) for b in bytes_range(available, unit=GIB))
    fraction = float(profile.free_gpu_memory_fraction)
    basis = f"the logged {gib_text(available)} available x free_gpu_memory_fraction {fraction:g}"
    length = profile.max_seq_len or setup.spec.max_positions

    def figure(name):
        return lambda b: next(
            f.value for f in profile.figures(cost, b, length) if f.name == name
        )

    names = ("primary_blocks", "kv_cache_tokens", "allocated_gib")
    return {name: ranged(figure(name), budgets, basis) for name in names}


def _trtllm_from_allocation(facts: LogFacts, setup: Setup) -> dict[str, Prediction]:
    """Without the free-memory line: the allocation from its token count and back.

    'Allocated X GiB for max tokens in paged KV cache (N)' (0.9 on), or 0.5-0.8's 'Allocate
    B bytes for k/v cache' beside 'Using N tokens in paged KV cache': N tokens in whole
    blocks, each token costing every layer's K and V, for a model with one attention window.
    """
    profile, cost = setup.profile, setup.cost()
    windows = profile.windows(cost, profile.max_seq_len or setup.spec.max_positions)
    tokens = facts.figures.get("kv_cache_tokens")
    allocation = [facts.figures.get(n) for n in ("allocated_gib", "allocated_bytes")]
    if len(windows) != 1 or not (tokens or any(allocation)):
        raise LogError(
            "the log has no 'Memory usage when calculating max tokens in paged kv cache'"
            " line, and its allocation line alone does not say how a model with several"
            " attention windows was split: nothing to predict from",
            field="log",
        )
    per_token, block = next(iter(windows.values())), profile.block_size
    if not any(allocation):
        raise LogError(_tokens_only(tokens, per_token), field="log")
    predictions = {}
    if tokens:
        n = int(tokens.value)
        held = cdiv(n, block) * block  # the pool is whole blocks
        basis = f"the logged {n:,} tokens x {per_token:,} B per token"
        predictions["allocated_gib"] = exact(n * per_token / GIB, basis)
        predictions["allocated_bytes"] = exact(
            held * per_token, f"{basis}, in whole {block}-token blocks"
        )
        predictions["primary_blocks"] = exact(n // block, f"the logged {n:,} tokens")
    gib, exact_bytes = allocation
    if gib:
        predictions["kv_cache_tokens"] = ranged(
            lambda b: b // per_token // block * block,
            bytes_range(gib, unit=GIB),
            f"the logged allocation of {gib_text(gib)} in {block}-token blocks",
        )
    elif exact_bytes:
        predictions["kv_cache_tokens"] = _tokens_of_bytes(exact_bytes, per_token, block)
    return predictions


def _tokens_of_bytes(logged, per_token: int, block: int) -> Prediction:
    """0.5-0.8: the pool's tokens from its exact bytes; the printed count may be the one
    asked before rounding up to whole blocks, so anything in the last block fits."""
    size = int(logged.value)
    held = size // per_token // block * block
    return Prediction(
        value=held,
        low=max(held - block + 1, 0),
        high=held,
        basis=(
            f"the logged {size:,} B / {per_token:,} B per token, in {block}-token"
            " blocks (the printed count may precede the rounding up to whole blocks)"
        ),
    )


def _tokens_only(tokens, per_token: int) -> str:
    """Why a TensorRT-LLM 0.5-0.8 log with only its token line cannot be checked."""
    n = int(tokens.value)
    return (
        f"the log prints only the pool's token count ('Using {n:,} tokens in paged KV"
        f" cache', line {tokens.line}, TensorRT-LLM 0.5-0.8): {n:,} tokens x"
        f" {per_token:,} B per token = {n * per_token / GIB:.2f} GiB of cache, but nothing"
        " to check it against (no 'Allocate N bytes for k/v cache' line, no free-memory"
        " line); check a log that has one of them"
    )


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
            predictions[f"{prefix}k_size_mib"] = exact(k / MIB, basis)
            predictions[f"{prefix}v_size_mib"] = exact(v / MIB, basis)
            predictions[f"{prefix}kv_size_mib"] = exact((k + v) / MIB, basis)
        predictions["swa_kv_cells"] = exact(sizes["swa_cells"], basis)
    totals = [figures[n] for n in ("kv_size_mib", "swa_kv_size_mib") if n in figures]
    if totals:
        budgets = bytes_range(*totals, unit=MIB)
        basis = (
            "the logged KV size ("
            + " + ".join(f"{float(t.value):g} MiB" for t in totals)
            + ")"
        )
        cells = ranged(lambda b: profile.pool_tokens(cost, b), budgets, basis)
        predictions["kv_cells"] = _cells_printing_as(profile, cost, totals, cells)
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
INPUTS = INPUT_FIGURES

PREDICTORS = {
    "vllm": vllm_predictions,
    "vllm-v0": vllm_predictions,
    "sglang": sglang_predictions,
    "trtllm": _trtllm,
    "llamacpp": _llamacpp,
}


def predict(facts: LogFacts, setup: Setup) -> dict[str, Prediction]:
    """Every figure the profile can predict for this log, by the log's figure names."""
    return PREDICTORS[facts.engine](facts, setup)
