"""vLLM's figures predicted from what else its log says (V0 and V1).

From the memory line ('Available KV cache memory', 'kv_cache_size=', 'reserved for KV Cache
is', the 0.6.5 table's available_kv_cache_memory) or, without one, from the pool line: the
blocks, the token line, the concurrency line, V0's '# CPU blocks', and V1's 'not enough
memory' error (the KV cache one request of max_model_len needs, and the longest that fits).
The memory line itself is predicted from its terms where the profile prints each once.
"""

from fractions import Fraction

from kvplan.engines.base import cdiv
from kvplan.engines.vllm import TOKEN_LINE_PER_GROUP
from kvplan.logs import LogError, LogFacts
from kvplan.predict_base import Prediction, Setup, bytes_range, exact, gib_text, ranged
from kvplan.sizing import ModelCost
from kvplan.units import GIB


def _pool_budgets(facts: LogFacts, profile, cost: ModelCost, length: int | None):
    """Budgets consistent with a logged pool when the log has no memory line."""
    if "gpu_blocks" in facts.figures:
        blocks = int(facts.figures["gpu_blocks"].value)
        size = (
            profile.block_bytes(cost)
            if facts.engine == "vllm-v0"
            else profile.plan(cost).block_bytes
        )
        return (blocks * size, blocks * size, (blocks + 1) * size - 1), "gpu_blocks"
    if "kv_cache_tokens" not in facts.figures:
        return None, ""
    tokens = int(facts.figures["kv_cache_tokens"].value)
    if facts.engine == "vllm-v0":  # blocks x block_size
        blocks = tokens // profile.block_size
        size = profile.block_bytes(cost)
        return (
            blocks * size,
            blocks * size,
            (blocks + 1) * size - 1,
        ), "kv_cache_tokens"
    plan = profile.plan(cost)
    if profile.token_line == "per_group" or not length:
        low = tokens // plan.min_block_size * plan.n_groups
        high = low + plan.n_groups - 1
    else:
        needed = profile.request_blocks(plan, length)
        low = cdiv(tokens * needed, length)
        high = cdiv((tokens + 1) * needed, length) - 1
    size = plan.block_bytes
    middle = (low + high) // 2
    return (middle * size, low * size, (high + 1) * size - 1), "kv_cache_tokens"


def _budget(facts: LogFacts, profile, cost: ModelCost, length: int | None):
    """(budgets, basis, the figure they came from): the memory line, else the pool line."""
    memory = facts.figures.get("kv_cache_memory_gib")
    if memory is not None:
        if memory.value <= 0:
            raise LogError(
                f"the log's KV cache memory is {float(memory.value):g} GiB (line"
                f" {memory.line}): the engine had nothing left for a cache after weights"
                " and activations and could not start; lower the weights or activations,"
                " or raise gpu_memory_utilization",
                field="log",
            )
        return bytes_range(memory, unit=GIB), f"the logged {gib_text(memory)}", ""
    budgets, source = _pool_budgets(facts, profile, cost, length)
    if budgets is None:
        raise LogError(
            "the log has no KV cache memory line ('Available KV cache memory',"
            " 'kv_cache_size=', 'reserved for KV Cache is') and no pool line"
            " ('GPU KV cache size', '# GPU blocks'): nothing to predict from",
            field="log",
        )
    basis = f"the pool its {source} line implies (the log prints no memory line)"
    return budgets, basis, source


def _budget_from_terms(facts: LogFacts) -> Prediction | None:
    """'Available KV cache memory' from the profile's own terms, each printed once:
    total x gpu_memory_utilization - (weights + activation peak, or peak torch memory)
    - non-torch memory, with every term's rounding in the range."""
    f = facts.figures
    printed = {name for _, name, _ in facts.events}
    counts = {n: sum(1 for _, m, _ in facts.events if m == n) for n in printed}
    used = ["weights_gib", "activation_gib"]
    if "peak_torch_gib" in f:
        used = ["peak_torch_gib"]
    terms = ["total_gpu_memory_gib", "gpu_memory_utilization", *used, "non_torch_gib"]
    if any(n not in f or counts.get(n) != 1 for n in terms):
        return None  # not printed, or once per worker: no one budget to rebuild
    total, share = f["total_gpu_memory_gib"], f["gpu_memory_utilization"]
    minus = [f[n] for n in terms[2:]]

    def at(sign: int) -> Fraction:
        usable = (total.value + sign * total.half_step) * (
            share.value + sign * share.half_step
        )
        return usable - sum(t.value - sign * t.half_step for t in minus)

    value = total.value * share.value - sum(t.value for t in minus)
    names = " - ".join(
        [f"{float(total.value):g} GiB x {float(share.value):g}"]
        + [f"{float(t.value):g}" for t in minus]
    )
    return Prediction(
        value=float(value),
        low=float(at(-1)),
        high=float(at(1)),
        basis=f"its printed terms: {names} GiB",
    )


def _refusal_figures(profile, cost: ModelCost, length: int) -> dict:
    """V1's 'not enough KV cache memory' error: the need of one max_model_len request, and
    the longest max_model_len the memory holds (check_enough_kv_cache_memory)."""
    if not hasattr(profile, "max_memory_bytes"):
        return {}
    return {
        "kv_needed_gib": (profile.max_memory_bytes(cost, length) / GIB, None),
        "estimated_max_model_len": (
            None,
            lambda b: profile.estimated_max_model_len(cost, b, length),
        ),
    }


def vllm_predictions(facts: LogFacts, setup: Setup) -> dict[str, Prediction]:
    """Every figure of a vLLM log the profile predicts, from its budget or its pool."""
    profile, cost = setup.profile, setup.cost()
    length = profile.max_model_len
    budgets, basis, source = _budget(facts, profile, cost, length)
    ranged_figures = {
        "gpu_blocks": lambda b: profile.num_blocks(cost, b),
        "kv_cache_tokens": lambda b: profile.pool_tokens(cost, b),
    }
    exact_figures = {}
    if length:
        ranged_figures["max_concurrency"] = lambda b: profile.max_concurrency(
            cost, b, length
        )
        for name, (value, function) in _refusal_figures(profile, cost, length).items():
            if function is not None:
                ranged_figures[name] = function
            else:
                exact_figures[name] = (
                    value,
                    f"one request of max_model_len {length:,}",
                )
    if hasattr(profile, "cpu_blocks"):
        exact_figures["cpu_blocks"] = (
            profile.cpu_blocks(cost),
            f"swap_space {profile.swap_space} GiB // {profile.block_bytes(cost):,} B"
            " per block",
        )
    predictions = {
        name: ranged(function, budgets, basis)
        for name, function in ranged_figures.items()
        if name != source
    }
    predictions.update(
        {name: exact(value, why) for name, (value, why) in exact_figures.items()}
    )
    terms = _budget_from_terms(facts)
    if terms is not None:
        predictions["kv_cache_memory_gib"] = terms
    if source == "kv_cache_tokens" and _counts_blocks(facts, profile):
        alone = not set(predictions) & set(facts.figures)
        predictions["kv_cache_tokens"] = _whole_blocks(facts, profile, cost, alone)
    return predictions


def _counts_blocks(facts: LogFacts, profile) -> bool:
    """Whether the token line is a whole number of blocks: V0's, and V1's up to 0.20
    (blocks // groups x the smallest block); from 0.21 it is concurrency x length."""
    return facts.engine == "vllm-v0" or profile.token_line == TOKEN_LINE_PER_GROUP


def _whole_blocks(facts: LogFacts, profile, cost: ModelCost, alone: bool) -> Prediction:
    """The token line as whole blocks of the block size the rules give this model.

    A count that is not a multiple of it was made with another block size (another
    kernel_block_alignment, cache dtype or --block-size); the cause finder tries them.
    """
    tokens = int(facts.figures["kv_cache_tokens"].value)
    v0 = facts.engine == "vllm-v0"
    block = profile.block_size if v0 else profile.plan(cost).min_block_size
    blocks = tokens // block
    held = (
        f" = {blocks * profile.block_bytes(cost) / GIB:.2f} GiB of cache" if v0 else ""
    )
    shape = (
        f"whole {block}-token blocks: {blocks:,} blocks{held}"
        if tokens % block == 0
        else f"whole {block}-token blocks, and {tokens:,} is {tokens / block:,.2f} of them"
    )
    why = (
        "; the log prints no memory line, so only the block size is checked"
        if alone
        else ": the token line counts whole blocks of the smallest block size"
    )
    return exact(blocks * block, shape + why)
