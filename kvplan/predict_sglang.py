"""SGLang's figures predicted from what else its log says.

From the memory the log printed, as SGLang sizes its pool (`profile_max_num_token`):
rest = available after loading - total x (1 - mem_fraction_static), where total is the memory
free at start-up (the least over ranks, measured before the weights load: the `Load weight
begin. avail mem` line, or `total_gpu_memory` of the `Memory profiling` line some versions
print). Every pool figure follows from that budget: the full pool's #tokens, the sliding pool's,
the Mamba states, and each pool's printed sizes, so a pool that does not fit the memory shows.

Without the memory lines (or without mem_fraction_static), each pool's #tokens and its printed
sizes are checked against each other: the sizes from the tokens as the pool prints them (K and
V, or one KV size for an MLA pool), the tokens from the sizes.
"""

from fractions import Fraction

from kvplan.logs import LogFacts, Logged
from kvplan.predict_base import (
    Prediction,
    Setup,
    bytes_range,
    exact,
    ranged,
    within,
)
from kvplan.units import GIB

POOLS = ("", "swa_")  # the full layers' pool, the sliding layers' pool
SIZE_NAMES = ("k", "v", "kv")


def _shown(logged: Logged) -> str:
    """A figure as the log printed it (`6.09`, `78.00`)."""
    return f"{float(logged.value):.{logged.decimals}f}"


def _fraction(facts: LogFacts, setup: Setup) -> Fraction | None:
    """mem_fraction_static as the log or an option states it; None when neither does."""
    if "mem_fraction_static" not in setup.stated:
        return None
    return Fraction(setup.profile.mem_fraction_static)


def _total(facts: LogFacts) -> Logged | None:
    """The total SGLang sizes against: the profiling line's, else the begin-avail line."""
    figures = facts.figures
    return figures.get("profiled_total_gib") or figures.get("load_begin_avail_gib")


def _available(facts: LogFacts) -> Logged | None:
    """Memory free after the weights loaded, as the pool was sized."""
    figures = facts.figures
    return figures.get("profiled_avail_gib") or figures.get("load_end_avail_gib")


def _rest_range(available: Logged, total: Logged, fraction: Fraction):
    """rest = available - total x (1 - fraction), in bytes: as printed and at both ends."""
    keep = 1 - fraction

    def rest(sign: int) -> int:
        free = available.value + sign * available.half_step
        held = (total.value - sign * total.half_step) * keep
        return int((free - held) * GIB)

    return rest(0), rest(-1), rest(1)


def memory_budget(facts: LogFacts, setup: Setup):
    """(budgets in bytes, basis) of the pool from the log's memory lines, or (None, why)."""
    available, total = _available(facts), _total(facts)
    if available is None or total is None:
        return None, "the log prints no 'Load weight begin/end ... avail mem' lines"
    if int(facts.extra.get("model_loads", 1)) > 1:
        return None, (
            "each rank loaded more than one model (a draft model?), so the memory the pool"
            " was sized from is not one printed line"
        )
    fraction = _fraction(facts, setup)
    if fraction is None:
        return None, (
            "mem_fraction_static is not in the log (SGLang picks it per GPU); pass"
            " -E mem_fraction_static=F to predict the pool from the memory"
        )
    budgets = _rest_range(available, total, fraction)
    basis = (
        f"the logged memory: {_shown(available)} GiB after loading -"
        f" {_shown(total)} GiB x (1 - {float(fraction):g})"
    )
    return budgets, basis


def _from_memory(setup: Setup, budgets, basis: str) -> dict[str, Prediction]:
    """Every pool figure from the budget the memory lines give."""
    profile, cost = setup.profile, setup.cost()

    def tokens(pool: str):
        index = POOLS.index(pool)
        return lambda b: profile.pool_sizes(cost, b)[index]

    def size(pool: str, name: str):
        def printed(b):
            sizes = profile.printed_sizes(cost, tokens(pool)(b), swa=pool == "swa_")
            return sizes.get(name, 0) / GIB

        return printed

    predictions = {}
    for pool in POOLS:
        predictions[f"{pool}kv_cache_tokens"] = ranged(tokens(pool), budgets, basis)
        for name in SIZE_NAMES:
            predictions[f"{pool}{name}_size_gib"] = ranged(
                size(pool, name), budgets, basis
            )
    predictions["mamba_cache_size"] = ranged(
        lambda b: profile.state_requests(cost, b), budgets, basis
    )
    return predictions


def _tokens_for(profile, cost, size_bytes: int, swa: bool) -> int:
    """The most tokens, in whole pages, whose pool prints at most `size_bytes`."""

    def printed(tokens: int) -> int:
        return sum(profile.printed_sizes(cost, tokens, swa=swa).values())

    low, high = 0, 1
    while printed(high) <= size_bytes:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if printed(middle) <= size_bytes else (low, middle)
    page = profile.page(cost)
    return low // page * page


def _from_pool(facts: LogFacts, setup: Setup) -> dict[str, Prediction]:
    """Each pool's #tokens from its printed sizes, and its sizes from its #tokens."""
    profile, cost = setup.profile, setup.cost()
    figures, predictions = facts.figures, {}
    for pool in POOLS:
        swa = pool == "swa_"
        names = [f"{pool}{n}_size_gib" for n in SIZE_NAMES]
        sizes = [figures[n] for n in names if n in figures]
        if sizes:
            shown = " + ".join(f"{_shown(s)} GiB" for s in sizes)
            predictions[f"{pool}kv_cache_tokens"] = ranged(
                lambda b, swa=swa: _tokens_for(profile, cost, b, swa),
                bytes_range(*sizes, unit=GIB),
                f"the logged sizes ({shown})",
            )
        logged = figures.get(f"{pool}kv_cache_tokens")
        if logged is not None:
            count = int(logged.value)
            printed = profile.printed_sizes(cost, count, swa=swa)
            for name in SIZE_NAMES:
                predictions[f"{pool}{name}_size_gib"] = exact(
                    printed.get(name, 0) / GIB, f"the logged {count:,} tokens"
                )
    return predictions


def sglang_predictions(facts: LogFacts, setup: Setup) -> dict[str, Prediction]:
    """Every SGLang figure the profile predicts: from the memory, else from the pool."""
    budgets, basis = memory_budget(facts, setup)
    if budgets is None:
        return _from_pool(facts, setup)
    rest = facts.figures.get("rest_memory_gib")
    if rest is None:
        return _from_memory(setup, budgets, basis)
    # the profiling line prints rest itself: the pool from it, rest from its terms
    printed = f"the logged rest_memory {_shown(rest)} GiB"
    predictions = _from_memory(setup, bytes_range(rest, unit=GIB), printed)
    middle, low, high = (Fraction(b, GIB) for b in budgets)
    predictions["rest_memory_gib"] = Prediction(
        value=float(middle), low=float(low), high=float(high), basis=basis
    )
    return predictions


def memory_note(facts: LogFacts, setup: Setup) -> str:
    """What the pool was predicted from: the memory lines (and which total), or why not."""
    budgets, why = memory_budget(facts, setup)
    profile = setup.profile
    page = profile.page(setup.cost())
    pages = (
        f"pages of {page} tokens (SGLang's for DeepSeek sparse attention); "
        if page != profile.block_size
        else ""
    )
    if budgets is None:
        return (
            f"{pages}{why}: each pool's #tokens and sizes are checked against each other"
            " only, not against the memory"
        )
    total = _total(facts)
    note = _self_consistent(facts, setup)
    where = (
        "total_gpu_memory of the 'Memory profiling' line"
        if total.name == "profiled_total_gib"
        else f"'Load weight begin. avail mem={_shown(total)} GB' (line {total.line})"
    )
    return (
        f"{pages}pool predicted from the memory: rest = available after loading - total x (1 -"
        f" mem_fraction_static), the total taken from {where}: SGLang's total is the memory"
        " free at start-up (least over ranks), not the card's size; SGLang's GB is 2^30 B"
        f"{note}"
    )


def _self_consistent(facts: LogFacts, setup: Setup) -> str:
    """`; the pool's own lines agree ...` when #tokens fits its sizes but not the memory."""
    logged = facts.figures.get("kv_cache_tokens")
    pool = _from_pool(facts, setup).get("kv_cache_tokens")
    memory = sglang_predictions(facts, setup).get("kv_cache_tokens")
    if logged is None or pool is None or memory is None:
        return ""
    if not within(logged, pool) or within(logged, memory):
        return ""
    return (
        f"; the log's #tokens {int(logged.value):,} agrees with its own sizes but not"
        f" with the memory, which holds {memory.value:,} tokens: the pool is not what"
        " this memory and mem_fraction_static give (other memory in use, another"
        " fraction, or an edited log)"
    )
