"""`kvplan check`: a log's figures beside kvplan's predictions, with a verdict for each.

A verdict is `match` (the prediction prints as the engine printed), `within rounding` (inside
the range the log's own two-decimal rounding allows), or `mismatch`, for which the likely cause
is found by trying the usual mistakes one at a time (TP ignored, another TP, fp8 for bf16,
another block size, another vLLM version's token line, ...) and naming the one that fits.
"""

from fractions import Fraction

from kvplan.diagnose import cause_note
from kvplan.engines import get_profile, parse_knobs
from kvplan.formats import canonical_name, get_format
from kvplan.logs import LogError, LogFacts, Logged
from kvplan.predict import INPUTS, Prediction, Setup, predict
from kvplan.predict_base import printed_close, within
from kvplan.rows import Rows
from kvplan.spec import ModelSpec

CHECK_COLUMNS = (
    "run",
    "figure",
    "unit",
    "logged",
    "predicted",
    "diff",
    "diff_pct",
    "verdict",
    "note",
)

FAMILIES = {"vllm": "vllm", "vllm-v0": "vllm"}
OLD_TRTLLM = (
    "TensorRT-LLM 0.5-0.8 lines ('Allocate N bytes for k/v cache', 'Using N tokens in paged"
    " KV cache'): these versions print no free-memory line, so the pool's bytes and tokens"
    " are checked against each other; their engines were built with 64-token blocks by"
    " default (-E block_size=64 where the tokens are not whole blocks)"
)


def resolve_model(facts: LogFacts, model: str | None) -> tuple[ModelSpec, str]:
    """The spec to predict with, and a note: --model, else the log's model matched to a
    shipped spec, else (llama.cpp) the geometry the log prints; the log's printed geometry
    wins over a spec's reading where they differ (kvplan/logspec.py)."""
    from kvplan.logspec import with_log_geometry

    spec, note = _named_spec(facts, model)
    spec, differs = with_log_geometry(facts, spec)
    return spec, f"{note}; {differs}" if differs else note


def _named_spec(facts: LogFacts, model: str | None) -> tuple[ModelSpec, str]:
    from kvplan.catalog import load_spec
    from kvplan.logspec import log_spec
    from kvplan.model_names import match_shipped

    if model:
        spec = load_spec(model)
        return spec, f"model {spec.name} (from --model)"
    spec, found = match_shipped(facts.model) if facts.model else (None, [])
    if spec is not None:
        return spec, found
    near = f" (near: {', '.join(found)})" if found else ""
    printed = log_spec(facts)
    if printed is not None:
        named = f"the log's model {facts.model!r}" if facts.model else "the log's model"
        return printed, (
            f"{named} matches no shipped spec{near}: predicted with the geometry the log"
            f" prints ({printed.layout}, {printed.n_kv_heads} KV heads x"
            f" {printed.head_dim}); pass --model to use a spec"
        )
    if not facts.model:
        raise LogError(
            "the log does not name its model; pass --model NAME, a spec .yaml or a"
            " config.json",
            field="model",
        )
    which = "does not match a shipped spec"
    if found:
        which = f"does not name one shipped spec{near}, and kvplan does not pick one"
    raise LogError(
        f"the log's model {facts.model!r} {which}; pass --model NAME, a spec .yaml or"
        " its config.json",
        field="model",
    )


def _log_knobs(facts: LogFacts, spec: ModelSpec, profile) -> dict:
    """The engine settings the log states, as the profile's knobs."""
    known = profile.knobs()
    length = facts.max_model_len or spec.max_positions
    values = {
        "block_size": facts.block_size,
        "max_model_len": length,
        "max_seq_len": facts.max_model_len,
        "max_num_batched_tokens": facts.max_num_batched_tokens,
        "type_k": facts.kv_cache_dtype if facts.engine == "llamacpp" else None,
        "type_v": facts.type_v,
        "n_ubatch": facts.extra.get("n_ubatch"),
        "n_seq": facts.extra.get("n_seq"),
        "mem_fraction_static": _fraction(facts.extra.get("mem_fraction_static")),
    }
    return {k: v for k, v in values.items() if v is not None and k in known}


def _fraction(text) -> Fraction | None:
    """A fraction the log printed (`0.85`), exactly."""
    return Fraction(str(text)) if text is not None else None


def _profile(facts: LogFacts, spec: ModelSpec, engine: str | None, options) -> object:
    """The log's engine (at the log's version) or --engine, with the log's settings."""
    name = engine or facts.engine
    if not engine and facts.engine == "vllm" and facts.version:
        name = f"vllm@{facts.version}"
    family = FAMILIES.get(name.split("@")[0], name.split("@")[0])
    if family != FAMILIES.get(facts.engine, facts.engine):
        raise LogError(
            f"the log is a {facts.format} log; --engine {engine} does not apply",
            field="engine",
        )
    profile = get_profile(name)
    knobs = _log_knobs(facts, spec, profile)
    knobs.update(parse_knobs(profile, options or ()))
    return profile.with_knobs(**knobs)


def build_setup(
    facts: LogFacts,
    spec: ModelSpec,
    *,
    engine: str | None = None,
    options=(),
    tp: int | None = None,
    cache_dtype: str | None = None,
) -> tuple[Setup, list[str]]:
    """The setup the log describes, overridden by the options; notes say what was assumed."""
    profile = _profile(facts, spec, engine, options)
    notes = []
    if tp is None and facts.tp is None:
        notes.append("TP is not in the log: predicted for TP 1 (pass --tp)")
    dtype = cache_dtype or facts.kv_cache_dtype or "auto"
    dtype = canonical_name(dtype)
    setup = Setup(
        spec=spec,
        profile=profile,
        tp=tp or facts.tp or 1,
        cache_dtype=dtype,
        stated=_stated(facts, options, tp=tp, cache_dtype=cache_dtype),
    )
    return setup, notes


def _stated(facts: LogFacts, options, **given) -> frozenset[str]:
    """The settings the log or the options state (a mistake there is less likely)."""
    from_log = {
        "tp": facts.tp,
        "cache_dtype": facts.kv_cache_dtype,
        "block_size": facts.block_size,
        "max_num_batched_tokens": facts.max_num_batched_tokens,
        "token_line": facts.version,
        "mem_fraction_static": facts.extra.get("mem_fraction_static"),
    }
    stated = {k for k, v in from_log.items() if v is not None}
    stated |= {k for k, v in given.items() if v is not None}
    stated |= {
        str(o).partition("=")[0].strip().replace("-", "_") for o in options or ()
    }
    return frozenset(stated)


def verdict(logged: Logged, prediction: Prediction) -> str:
    """match, within rounding or mismatch."""
    if printed_close(logged, prediction.value):
        return "match"
    return "within rounding" if within(logged, prediction) else "mismatch"


def _row(facts: LogFacts, setup: Setup, logged: Logged, p: Prediction) -> dict:
    value = logged.value
    shown = (
        int(value) if logged.decimals == 0 and value.denominator == 1 else float(value)
    )
    diff = Fraction(p.value) - value
    pct = round(float(100 * diff / value), 6) if value else None
    result = verdict(logged, p)
    note = f"from {p.basis}"
    if result == "mismatch":
        ratio = float(Fraction(p.value) / value) if value else float("inf")
        note = f"{cause_note(facts, setup, logged.name, ratio)}; {note}"
    return {
        "run": facts.run,
        "figure": logged.name,
        "unit": logged.unit,
        "logged": shown,
        "predicted": p.value,
        "diff": int(diff) if diff.denominator == 1 else round(float(diff), 9),
        "diff_pct": pct,
        "verdict": result,
        "note": note,
    }


def check_rows(facts: LogFacts, setup: Setup, notes: list[str]) -> Rows:
    """One row per logged figure the profile predicts."""
    predictions = predict(facts, setup)
    rows = [
        _row(facts, setup, logged, predictions[name])
        for name, logged in facts.figures.items()
        if name in predictions
    ]
    if not rows:
        cut = "".join(
            f"; line {line} is cut short or garbled: {text!r}"
            for line, text in facts.unread
        )
        raise LogError(
            f"the log's figures ({', '.join(facts.figures)}) have nothing kvplan"
            f" predicts{cut}",
            field="log",
        )
    skipped = [n for n in facts.figures if n not in predictions and n not in INPUTS]
    basis = {p.basis for p in predictions.values()}
    skipped = [n for n in skipped if not any(n in b for b in basis)]
    if skipped:
        notes = [*notes, f"logged but not predicted: {', '.join(skipped)}"]
    return Rows.from_dicts(rows, CHECK_COLUMNS, notes)


_SHOWN_KNOBS = (
    "block_size",
    "mem_fraction_static",
    "max_model_len",
    "max_num_batched_tokens",
    "max_seq_len",
    "free_gpu_memory_fraction",
    "type_k",
    "type_v",
    "n_ubatch",
)


def check_runs(
    runs: list[LogFacts], *, model=None, **options
) -> tuple[Rows, list[str]]:
    """Rows for every start-up of a log, each checked on its own figures and settings
    (the `run` column; notes name each run's lines), and the model of each run."""
    rows, notes, models = [], [], []
    for facts in runs:
        spec, model_note = resolve_model(facts, model)
        setup, assumed = build_setup(facts, spec, **options)
        run_notes = [model_note, *header_notes(facts, setup), *assumed]
        checked = check_rows(facts, setup, run_notes)
        if len(runs) > 1:
            first, last = facts.lines
            where = f"run {facts.run} (lines {first}-{last})"
            checked = Rows.from_dicts(
                list(checked), CHECK_COLUMNS, [f"{where}: {n}" for n in checked.notes]
            )
        rows += list(checked)
        notes += checked.notes
        models.append(spec.name)
    if len(runs) > 1:
        notes.insert(
            0,
            f"the log holds {len(runs)} start-ups (a restart, or runs appended to one"
            " file): each is checked on its own lines, in the `run` column",
        )
    return Rows.from_dicts(rows, CHECK_COLUMNS, notes), models


def _read_notes(facts: LogFacts) -> list[str]:
    """What the reader saw besides figures: workers' spread, the engine's refusal, lines cut
    short."""
    notes = []
    for name, (low, high, count) in facts.spread.items():
        if low == high:
            continue  # every worker printed the same
        notes.append(
            f"{count} workers printed {name} from {float(low):g} to {float(high):g}:"
            f" the engine sizes every worker's pool from the smallest, {float(low):g},"
            " which the predictions use"
        )
    if facts.refusal:
        notes.append(f"the engine did not start: {facts.refusal}")
    for line, text in facts.unread:
        notes.append(
            f"line {line} has a KV cache figure's words but no figure kvplan can read"
            f" (cut short?): {text!r}"
        )
    return notes


def header_notes(facts: LogFacts, setup: Setup) -> list[str]:
    """What was read and what the prediction assumed, and vLLM's hybrid disagreement."""
    profile = setup.profile
    fmt = get_format(setup.cache_dtype, model_dtype=setup.spec.dtype).name
    unstated = {"mem_fraction_static"} - setup.stated  # a placeholder unless stated
    shown = profile.settings_text([k for k in _SHOWN_KNOBS if k not in unstated])
    version = f" {facts.version}" if facts.version else ""
    notes = [
        f"{facts.format} log{version}: predicted with {profile.label}, TP {setup.tp},"
        f" cache {fmt}; {shown}"
    ]
    if facts.engine == "vllm":
        from kvplan.engines.vllm_explain import hybrid_note

        tokens = facts.figures.get("kv_cache_tokens")
        concurrency = facts.figures.get("max_concurrency")
        note = hybrid_note(
            profile,
            setup.cost(),
            int(tokens.value) if tokens else None,
            float(concurrency.value) if concurrency else None,
        )
        notes += [note] if note else []
    if facts.engine == "sglang":
        from kvplan.predict_sglang import memory_note

        notes.append(memory_note(facts, setup))
    if "allocated_bytes" in facts.figures:
        notes.append(OLD_TRTLLM)
    return notes + _read_notes(facts)
