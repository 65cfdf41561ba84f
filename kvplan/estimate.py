"""`kvplan.estimate`: KV-cache bytes over a grid of models, formats, contexts and batches.

Rows come in the order model, cache dtype, context, batch (the last varies fastest). Columns:

- kv_bytes_per_token: bytes one token costs while every layer holds it (short context)
- kv_bytes_per_extra_token: bytes the next token adds at this context (only growing layers)
- state_bytes_per_sequence: fixed recurrent-state bytes per sequence
- kv_bytes_per_sequence: everything one sequence holds at this context
- fixed_bytes: per-model constants (per-tensor scales), held once whatever the batch
- kv_bytes = batch x kv_bytes_per_sequence + fixed_bytes; kv_gib = kv_bytes / 2^30

With an engine other than `ideal`, kv_bytes_per_sequence is what that engine reserves for one
request of `context` tokens (kvplan.engines), and engine_versions names the versions modelled.
"""

import numbers
from collections.abc import Iterable, Mapping, Sequence
from os import PathLike

from kvplan.errors import KvplanError
from kvplan.formats import canonical_name, get_format
from kvplan.rows import Rows
from kvplan.sizing import NUMPY_MIN_ROWS, ModelCost, needs_python_ints
from kvplan.spec import MLA_MODES, ModelSpec
from kvplan.units import GIB, format_tokens, parse_positive_int, parse_tokens

COLUMNS = (
    "model",
    "engine",
    "cache_dtype",
    "mla_mode",
    "context",
    "batch",
    "kv_bytes_per_token",
    "kv_bytes_per_extra_token",
    "state_bytes_per_sequence",
    "kv_bytes_per_sequence",
    "fixed_bytes",
    "kv_bytes",
    "kv_gib",
    "kv_gb",
    "engine_versions",
)

BY_LAYER_COLUMNS = (
    "model",
    "engine",
    "cache_dtype",
    "mla_mode",
    "context",
    "batch",
    "group",
    "layers",
    "kind",
    "layer_type",
    "kv_heads",
    "head_dim_k",
    "head_dim_v",
    "tokens_held",
    "compressed_entries",
    "bytes_per_token_per_layer",
    "state_bytes_per_layer",
    "kv_bytes_per_sequence",
    "kv_bytes",
    "engine_versions",
)


def _as_list(value, field: str = "value") -> list:
    """One value or an iterable of them as a list; None is an error naming the field."""
    if value is None:
        raise KvplanError("a value is needed, got None", field=field)
    if isinstance(value, (str, bytes, numbers.Number, ModelSpec, Mapping, PathLike)):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise KvplanError(
            f"expected a value or a list of values, got {type(value).__name__}",
            field=field,
        ) from None


def _resolve(models, contexts, batches, cache_dtypes, mla):
    """Validated inputs: specs, token counts, batch sizes, canonical dtype names."""
    from kvplan.catalog import load_spec

    specs = [
        m if isinstance(m, ModelSpec) else load_spec(m)
        for m in _as_list(models, "model")
    ]
    tokens = [parse_tokens(c, field="context") for c in _as_list(contexts, "context")]
    sizes = [parse_positive_int(b, field="batch") for b in _as_list(batches, "batch")]
    dtypes = [canonical_name(d) for d in _as_list(cache_dtypes, "cache_dtype")]
    if mla not in MLA_MODES:
        raise KvplanError(
            f"expected one of {', '.join(MLA_MODES)}, got {mla!r}", field="mla"
        )
    for name, values in (("model", specs), ("context", tokens), ("batch", sizes)):
        if not values:
            raise KvplanError("at least one value is needed", field=name)
    if not dtypes:
        raise KvplanError("at least one value is needed", field="cache_dtype")
    return specs, tokens, sizes, dtypes


def _dtype_label(spec: ModelSpec, dtype: str) -> str:
    """The format a row reports: `auto` is shown as the dtype it resolved to."""
    return get_format(dtype, model_dtype=spec.dtype).name


def _block_python(
    spec, dtype, mla, cost: ModelCost, contexts, batches, profile
) -> dict:
    """One (model, format) block of rows in plain ints; per sequence as the engine reserves."""
    rows = {name: [] for name in COLUMNS}
    for context in contexts:
        per_sequence = profile.request_bytes(cost, context)
        extra = profile.extra_token_bytes(cost, context)
        for batch in batches:
            total = batch * per_sequence + cost.fixed_bytes
            values = (
                context,
                batch,
                extra,
                per_sequence,
                total,
                total / GIB,
                total / 10**9,
            )
            for name, value in zip(_VARYING, values, strict=True):
                rows[name].append(value)
    n = len(contexts) * len(batches)
    rows.update(_constant_columns(spec, dtype, mla, cost, n, profile))
    return rows


_VARYING = (
    "context",
    "batch",
    "kv_bytes_per_extra_token",
    "kv_bytes_per_sequence",
    "kv_bytes",
    "kv_gib",
    "kv_gb",
)


def _constant_columns(spec, dtype, mla, cost: ModelCost, n: int, profile) -> dict:
    return {
        "model": [spec.name] * n,
        "engine": [profile.name] * n,
        "engine_versions": [profile.versions] * n,
        "cache_dtype": [profile.cache_label(_dtype_label(spec, dtype))] * n,
        "mla_mode": [mla if any(g.layer.kind == "mla" for g in cost.groups) else ""]
        * n,
        "kv_bytes_per_token": [profile.token_bytes(cost)] * n,
        "state_bytes_per_sequence": [cost.state_bytes] * n,
        "fixed_bytes": [cost.fixed_bytes] * n,
    }


def _extra_token_bytes(cost: ModelCost, ctx, int_type):
    """kv_bytes_per_extra_token for an array of contexts (see GroupCost.extra_token_bytes)."""
    import numpy as np

    extra = np.zeros(len(ctx), dtype=int_type)
    for g in cost.groups:
        if g.bytes_per_token:
            growing = (
                np.ones(len(ctx), bool) if g.cap_tokens is None else ctx < g.cap_tokens
            )
            extra = extra + growing.astype(int_type) * (g.count * g.bytes_per_token)
        if g.compress_ratio:
            closes = (ctx + 1) % g.compress_ratio == 0
            extra = extra + closes.astype(int_type) * (g.count * g.compressed_bytes)
    return extra


def _block_numpy(spec, dtype, mla, cost: ModelCost, contexts, batches, profile) -> dict:
    """One (model, format) block of rows, vectorized; object ints where int64 could overflow."""
    import numpy as np

    exact = needs_python_ints(cost, max(contexts), max(batches))
    int_type = object if exact else np.int64
    ctx = np.array(contexts, dtype=int_type)
    bat = np.array(batches, dtype=int_type)
    per_sequence = cost.sequence_bytes(ctx)
    extra = _extra_token_bytes(cost, ctx, int_type)
    total = (np.multiply.outer(per_sequence, bat) + cost.fixed_bytes).ravel()
    n_batch = len(bat)
    rows = {
        "context": np.repeat(ctx, n_batch),
        "batch": np.tile(bat, len(ctx)),
        "kv_bytes_per_extra_token": np.repeat(extra, n_batch),
        "kv_bytes_per_sequence": np.repeat(per_sequence, n_batch),
        "kv_bytes": total,
        "kv_gib": (total / GIB).astype(float),
        "kv_gb": (total / 10**9).astype(float),
    }
    rows.update(_constant_columns(spec, dtype, mla, cost, len(total), profile))
    return rows


def _join(blocks: list[dict]) -> dict:
    """Blocks of columns end to end; numpy arrays where any block has them."""
    joined = {}
    for name in COLUMNS:
        parts = [block[name] for block in blocks]
        if all(isinstance(part, list) for part in parts):
            joined[name] = [value for part in parts for value in part]
        else:
            import numpy as np

            joined[name] = np.concatenate([np.asarray(part) for part in parts])
    return joined


def context_notes(spec: ModelSpec, contexts: Iterable[int]) -> list[str]:
    """Notes for contexts beyond what the model was trained for."""
    beyond = [c for c in contexts if spec.max_positions and c > spec.max_positions]
    if not beyond:
        return []
    return [
        f"{spec.name}: context {format_tokens(max(beyond))} exceeds its max_positions "
        f"{spec.max_positions:,}; the bytes are still exact for that many tokens"
    ]


def spec_notes(spec: ModelSpec, dtypes: Iterable[str] = ()) -> list[str]:
    """What a reader must know about how a spec was read: defaults taken, readings chosen,
    and what `auto` resolved to when it is not the checkpoint's dtype."""
    from kvplan.formats import AUTO, auto_note

    notes = [f"{spec.name}: {text}" for text in spec.readings]
    notes += [f"{spec.name}: default used: {text}" for text in spec.defaults_used]
    if AUTO in dtypes and auto_note(spec.dtype):
        notes.append(f"{spec.name}: {auto_note(spec.dtype)}")
    return notes


def estimate(
    models,
    *,
    context: Sequence | int | str = 4096,
    batch: Sequence | int = 1,
    cache_dtype: Sequence | str = "bf16",
    mla: str | None = None,
    state_dtype: str | None = None,
    by_layer: bool = False,
    engine="ideal",
) -> Rows:
    """KV-cache bytes for every combination of models, contexts, batches and cache dtypes.

    `models` are ModelSpecs, shipped names, spec YAML paths or config.json paths; contexts
    accept `4k`-style strings. `engine` is one or more profile names (`vllm`, `vllm@0.24`,
    `ideal,vllm`) or EngineProfiles; `mla` defaults to how each engine stores MLA layers.
    Returns Rows; `.to_frame()` gives a pandas DataFrame.
    """
    profiles = engine_profiles(engine)
    specs, contexts, batches, dtypes = _resolve(
        models, context, batch, cache_dtype, mla or "latent"
    )
    only_ideal = all(p.name == "ideal" for p in profiles)
    if by_layer:
        from kvplan.breakdown import by_layer_rows

        mla = mla or "latent"
        if not only_ideal:
            raise KvplanError(
                "--by-layer shows the layout's bytes per layer group; use it without"
                " --engine (--explain shows an engine's reservation)",
                field="engine",
            )
        return by_layer_rows(
            specs, contexts, batches, dtypes, mla=mla, state_dtype=state_dtype
        )
    n_rows = len(specs) * len(dtypes) * len(contexts) * len(batches)
    block = _block_numpy if n_rows >= NUMPY_MIN_ROWS and only_ideal else _block_python
    blocks, notes = [], [n for p in profiles for n in engine_notes(p)]
    for spec in specs:
        notes += spec_notes(spec, dtypes) + context_notes(spec, contexts)
        for profile in profiles:
            mode = mla or profile.mla_mode
            notes += [n for n in profile.engine_spec(spec)[1:] if n]
            for dtype in dtypes:
                cost = profile.cost(spec, dtype, mla_mode=mode, state_dtype=state_dtype)
                blocks.append(
                    block(spec, dtype, mode, cost, contexts, batches, profile)
                )
    columns = _join(blocks)
    return Rows({name: columns[name] for name in COLUMNS}, notes)


def engine_profiles(engine) -> list:
    """Profiles from `ideal,vllm`, a list of names, a profile or a list of profiles."""
    if isinstance(engine, str):
        from kvplan.units import split_list

        engine = split_list(engine, field="engine") or ["ideal"]
    elif not isinstance(engine, (list, tuple)):
        engine = [engine]
    return [engine_profile(e) for e in engine]


def engine_profile(engine):
    """A profile from a name or a profile; `ideal` without importing the other engines."""
    if not isinstance(engine, str):
        return engine
    if engine.strip().lower() == "ideal":
        from kvplan.engines.ideal import IdealProfile

        return IdealProfile()
    from kvplan.engines import get_profile

    return get_profile(engine)


def engine_notes(profile) -> list[str]:
    """What an engine's rows assume, for the reader (nothing for `ideal`)."""
    if profile.name == "ideal":
        return []
    return [
        f"engine {profile.label}: bytes one request of each context reserves"
        f" ({profile.settings_text()}); docs/engines.md gives the rules"
    ]
