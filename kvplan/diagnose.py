"""Why a logged figure differs from kvplan's prediction: every single setting that explains it.

The usual mistakes are tried one at a time, each as a whole new prediction (the cache dtype,
TP, the block size and vLLM's kernel block alignment, vLLM's batched tokens, token line,
hybrid allocator and Mamba pages, a draft model's extra layers, another worker's memory).
Every one that reproduces the logged figure within the log's rounding is named, most likely
first: a setting neither the log nor the options state before one they state, then in the
order of PRIOR (the mistakes public threads show most). A factor of 2 is often both "an fp8
cache" and "TP 2": both are listed. When none fits, the budget that would reproduce the
figure is given, so a per-rank minimum (another rank with less free memory) can be checked
against it.
"""

from dataclasses import dataclass, replace

from kvplan.errors import KvplanError
from kvplan.formats import get_format
from kvplan.logs import LogFacts, Logged
from kvplan.predict import predict
from kvplan.predict_base import Setup, within

# Settings in the order their mistakes are most common.
PRIOR = (
    "cache_dtype",
    "block_size",
    "kernel_block_alignment",
    "max_num_batched_tokens",
    "token_line",
    "hybrid_allocator",
    "mamba_pages",
    "tp",
    "layers",
    "worker",
)
KNOB_VARIANTS = {
    "token_line": ("per_group", "from_concurrency"),
    "hybrid_allocator": (False,),
    "mamba_pages": (2,),
    "max_num_batched_tokens": (2048, 8192, 16384),
    "block_size": (16, 32, 64),
    # the attention backends' kernel block multiples vLLM aligns a hybrid Mamba model's
    # block to: 16 (FlashAttention), 32 (FlashInfer on Blackwell with head size 256),
    # 64 and 128 (MLA backends) (model_executor/models/config.py, platforms/interface.py)
    "kernel_block_alignment": (16, 32, 64, 128),
}
# The budget a log states, per engine, that the worker hint varies.
BUDGET_FIGURES = ("kv_cache_memory_gib", "available_gib")


@dataclass(frozen=True)
class Alternative:
    """One mistake: what it looks like, the setting it changes, and how to predict with it."""

    description: str
    setting: str
    setup: Setup
    facts: LogFacts


def _tp(facts: LogFacts, setup: Setup):
    if setup.tp > 1:
        yield "TP ignored (the engine sized one GPU for the whole model)", 1
    for tp in (2, 4, 8):
        if tp != setup.tp:
            yield f"TP {tp}, not {setup.tp}", tp


def _extra_layers(setup: Setup):
    """A draft model's layers in the same pool (EAGLE, MTP): (L + k) / L the bytes."""
    kv = [layer for layer in setup.spec.layers if layer.holds_kv]
    if not kv:
        return
    n = setup.spec.n_layers
    for k in (1, 2, 3):
        spec = setup.spec.with_layers(setup.spec.layers + (kv[0],) * k)
        what = "one extra layer" if k == 1 else f"{k} extra layers"
        yield f"{what} (a draft model's: EAGLE, MTP): {n} + {k} layers", spec


def _other_worker(facts: LogFacts):
    """The pool sized from another worker's printed memory than the smallest."""
    for name in BUDGET_FIGURES:
        if name in facts.spread:
            low, high, count = facts.spread[name]
            figures = dict(facts.figures)
            figures[name] = replace(facts.figures[name], value=high)
            changed = replace(facts, figures=figures)
            yield (
                (
                    f"the pool sized from the largest of {count} workers' memory,"
                    f" {float(high):g} GiB, not the smallest {float(low):g} GiB"
                ),
                changed,
            )


def alternatives(facts: LogFacts, setup: Setup):
    """Every usual mistake, one at a time."""
    for text, tp in _tp(facts, setup):
        yield Alternative(text, "tp", replace(setup, tp=tp), facts)
    fmt = get_format(setup.cache_dtype, model_dtype=setup.spec.dtype).name
    other = "bf16" if fmt.startswith("fp8") else "fp8"
    changed = replace(setup, cache_dtype=other)
    yield Alternative(f"a {other} cache, not {fmt}", "cache_dtype", changed, facts)
    profile, knobs = setup.profile, setup.profile.knobs()
    for knob, values in KNOB_VARIANTS.items():
        for value in values:
            if knob in knobs and knobs[knob] != value:
                changed = replace(setup, profile=profile.with_knobs(**{knob: value}))
                yield Alternative(f"{knob} = {value}", knob, changed, facts)
    for text, spec in _extra_layers(setup):
        yield Alternative(text, "layers", replace(setup, spec=spec), facts)
    for text, changed_facts in _other_worker(facts):
        yield Alternative(text, "worker", setup, changed_facts)


def explanations(facts: LogFacts, setup: Setup, name: str) -> list[str]:
    """Every single mistake that reproduces the logged figure, most likely first."""
    logged, found = facts.figures[name], []
    for alternative in alternatives(facts, setup):
        try:
            other = predict(alternative.facts, alternative.setup).get(name)
        except KvplanError:
            continue
        if other is not None and within(logged, other):
            stated = alternative.setting in setup.stated
            order = (stated, PRIOR.index(alternative.setting))
            text = alternative.description
            if stated and not text.startswith("TP ignored"):
                text += " (less likely: the log or an option sets it)"
            found.append((order, text))
    return [text for _, text in sorted(found, key=lambda item: item[0])]


def _budget_that_gives(facts: LogFacts, setup: Setup, name: str) -> str:
    """The stated budget at which the prediction would print as the logged figure."""
    budget = next((n for n in BUDGET_FIGURES if n in facts.figures), None)
    if budget is None:
        return ""
    logged: Logged = facts.figures[name]
    base = facts.figures[budget]

    def predicted(gib_hundredths: int) -> float:
        figures = dict(facts.figures)
        figures[budget] = replace(base, value=gib_hundredths / 100, decimals=2)
        return predict(replace(facts, figures=figures), setup)[name].value

    low, high = 1, max(int(base.value * 400), 2)  # up to 4x the logged budget
    try:
        if predicted(low) > logged.value or predicted(high) < logged.value:
            return ""
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (
                (middle, high) if predicted(middle) <= logged.value else (low, middle)
            )
    except (KvplanError, KeyError, ZeroDivisionError):
        return ""
    return (
        f"; {low / 100:.2f} GiB instead of the logged {float(base.value):g} GiB would give"
        " it (another TP rank's smaller memory? the engine sizes every rank's pool from"
        " the smallest)"
    )


def cause_note(facts: LogFacts, setup: Setup, name: str, ratio: float) -> str:
    """`looks like X, or Y: predicted/logged = R`, or the ratio and the budget that fits."""
    found = explanations(facts, setup, name)
    if found:
        many = " (most likely first)" if len(found) > 1 else ""
        return f"looks like {', or '.join(found)}{many}: predicted/logged = {ratio:.2f}"
    return (
        f"predicted/logged = {ratio:.2f}; no single setting explains it (check the model,"
        f" TP, cache dtype and engine version){_budget_that_gives(facts, setup, name)}"
    )
