"""`kvplan.capacity`: rows over models x GPUs x TP x PP x cache dtypes x contexts x batches.

One row per configuration, built once; docs/columns.md lists the columns. Configurations
whose weights do not fit are left out with a note; when none fits, the first reason is the
error.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

from kvplan.capacity import (
    CapacityOptions,
    Plan,
    default_reserve,
    floors,
    max_context,
    plan,
    stage_load,
)
from kvplan.engines.base import EngineRuleError
from kvplan.errors import DoesNotFitError, KvplanError
from kvplan.estimate import _as_list, _dtype_label, spec_notes
from kvplan.gpus import Gpu, find_gpu
from kvplan.rows import Rows
from kvplan.spec import ModelSpec
from kvplan.units import GIB, format_gib, parse_positive_int, parse_tokens

COLUMNS = (
    "model", "engine", "gpu", "gpu_memory_bytes", "gpu_memory_basis", "tp", "pp", "gpus", "stage",
    "cache_dtype", "weight_dtype", "context", "output_tokens", "request_tokens", "batch",
    "block_size", "shared_prefix", "params", "active_params", "weight_bytes_per_gpu",
    "weight_gib_per_gpu", "reserve_bytes_per_gpu", "kv_budget_bytes_per_gpu",
    "kv_budget_gib_per_gpu", "kv_heads_per_gpu", "kv_replicated",
    "kv_bytes_per_token_per_gpu", "request_bytes_per_gpu", "shared_prefix_bytes_per_gpu",
    "cache_blocks", "cache_tokens", "max_concurrency", "max_requests", "max_context",
    "fits", "used_bytes_per_gpu", "headroom_bytes_per_gpu", "headroom_gib_per_gpu",
    "tpot_floor_ms", "ttft_floor_ms", "engine_versions",
)  # fmt: skip


def kv_heads(spec: ModelSpec, tp: int) -> tuple[int, bool]:
    """KV heads one GPU holds in the first cache layer, and whether any layer keeps replicas.

    A layer with fewer KV heads than TP keeps one whole head per rank (a replica); an MLA
    layer holds its one latent row on every rank (a replica whenever TP > 1).
    """
    layers = [x for x in spec.layers if x.holds_kv]
    if not layers:
        return 0, False
    first = layers[0]
    heads = 1 if first.kind == "mla" else first.sharded(tp).n_kv_heads
    replicated = any(tp > (1 if x.kind == "mla" else x.n_kv_heads) for x in layers)
    return heads, replicated


def _fewest_kv_heads(spec: ModelSpec) -> int | None:
    """The smallest KV-head count of the model's attention (non-MLA) layers."""
    counts = [x.n_kv_heads for x in spec.layers if x.holds_kv and x.kind != "mla"]
    return min(counts, default=None)


def _row(p: Plan, context: int, batch: int) -> dict:
    opts, reservation = p.options, p.options.reservation
    request_tokens = context + opts.output_tokens
    loads = [stage_load(p, s, request_tokens, batch) for s in p.stages]
    bound = min(loads, key=lambda load: load.concurrency)
    stage = bound.stage
    pools = [reservation.pool_tokens(s.cost, s.budget_bytes) for s in p.stages]
    blocks = [reservation.pool_blocks(s.cost, s.budget_bytes) for s in p.stages]
    headroom = min(
        s.pool_bytes - load.used_bytes for s, load in zip(p.stages, loads, strict=True)
    )
    heads, replicated = kv_heads(p.spec, opts.tp)
    tpot, ttft = floors(p, context, batch)
    concurrency = bound.concurrency if bound.request_bytes else None
    profile = getattr(reservation, "profile", None)
    return {
        "model": p.spec.name,
        "engine": reservation.name,
        "gpu": p.gpu.name,
        "gpu_memory_bytes": p.gpu.budget_bytes or None,
        "gpu_memory_basis": p.gpu.budget_basis,
        "tp": opts.tp,
        "pp": opts.pp,
        "gpus": opts.tp * opts.pp,
        "stage": stage.index + 1,
        "cache_dtype": p.cache_dtype,
        "weight_dtype": p.weight_format.name,
        "context": context,
        "output_tokens": opts.output_tokens,
        "request_tokens": request_tokens,
        "batch": batch,
        "block_size": reservation.block_size,
        "shared_prefix": reservation.shared_prefix_tokens,
        "params": p.params,
        "active_params": p.active_params,
        "weight_bytes_per_gpu": stage.weight_bytes,
        "weight_gib_per_gpu": _gib(stage.weight_bytes),
        "reserve_bytes_per_gpu": None if opts.kv_budget_bytes else p.reserve_bytes,
        "kv_budget_bytes_per_gpu": stage.budget_bytes,
        "kv_budget_gib_per_gpu": stage.budget_bytes / GIB,
        "kv_heads_per_gpu": heads,
        "kv_replicated": replicated,
        "kv_bytes_per_token_per_gpu": stage.cost.bytes_per_token,
        "request_bytes_per_gpu": bound.request_bytes,
        "shared_prefix_bytes_per_gpu": bound.shared_bytes,
        "cache_blocks": min((b for b in blocks if b is not None), default=None),
        "cache_tokens": min((t for t in pools if t is not None), default=None),
        "max_concurrency": concurrency,
        "max_requests": bound.requests if concurrency is not None else None,
        "max_context": max_context(p, batch),
        "fits": headroom >= 0,
        "used_bytes_per_gpu": bound.used_bytes,
        "headroom_bytes_per_gpu": headroom,
        "headroom_gib_per_gpu": headroom / GIB,
        "tpot_floor_ms": tpot,
        "ttft_floor_ms": ttft,
        "engine_versions": profile.versions if profile is not None else "",
    }


def _gib(n_bytes: int | None) -> float | None:
    return None if n_bytes is None else n_bytes / GIB


def _plan_notes(p: Plan) -> list[str]:
    """What a reader must know about a plan: budget terms, replication, stages, floors."""
    spec, gpu, opts = p.spec, p.gpu, p.options
    notes = list(p.notes)
    if opts.kv_budget_bytes is not None:
        notes.append(
            f"KV budget per GPU given as {format_gib(opts.kv_budget_bytes)} (--kv-budget): "
            "GPU memory, weights and reserve are not used for it"
        )
    else:
        notes.append(_budget_note(p))
    profile = getattr(opts.reservation, "profile", None)
    if profile is not None:
        notes += profile.capacity_notes(p.stages[0].cost)
    fewest = _fewest_kv_heads(spec)
    if fewest is not None and opts.tp > fewest:
        counts = {x.n_kv_heads for x in spec.layers if x.holds_kv and x.kind != "mla"}
        which = "its" if len(counts) == 1 else "some of its layers'"
        notes.append(
            f"{spec.name}: TP {opts.tp} exceeds {which} {fewest} KV heads, so each GPU holds "
            f"a replica of one head there: those KV bytes per GPU stop shrinking past "
            f"TP {fewest}"
        )
    if opts.tp > 1 and any(x.kind == "mla" for x in spec.layers):
        notes.append(
            f"{spec.name}: the MLA latent serves all heads, so each of the {opts.tp} TP GPUs "
            "holds all of it"
        )
    if opts.pp > 1:
        sizes = ", ".join(str(len(s.layers)) for s in p.stages)
        notes.append(
            f"{spec.name} on PP {opts.pp}: stages of {sizes} layers (embeddings on the first, "
            "LM head on the last); the `stage` column names the one that bounds each row"
        )
    if p.routed is not None:
        notes.append(
            f"{spec.name}: the decode floor reads the experts a batch picks on average with "
            "uniform routing, experts x (1 - (1 - per_token/experts)^batch)"
        )
    if not gpu.bandwidth_bytes_per_s:
        notes.append(
            f"{gpu.name}: no bandwidth or FLOP/s known, so the floors are empty; "
            "name a catalog GPU with --gpu"
        )
    return notes


def _budget_note(p: Plan) -> str:
    opts, gpu = p.options, p.gpu
    how = "--reserve"
    if opts.reserve_bytes is None:
        per_token = (default_reserve(p.spec, opts.tp, 1) - GIB) // 2
        how = (
            f"default: 1 GiB + {opts.max_batched_tokens:,} batched tokens x {per_token:,} "
            "activation values x 2 B"
        )
    memory = f"{format_gib(gpu.budget_bytes)} ({gpu.budget_basis} memory)"
    share, reserve = f"{float(opts.memory_fraction):g}", format_gib(p.reserve_bytes)
    formula = f"{memory} x {share} - weights - reserve {reserve}"
    if opts.reservation.budget_from_free:
        formula = (
            f"({memory} - weights - reserve {reserve}) x {share}, a share of the memory"
            f" left after loading ({opts.reservation.name})"
        )
    return f"{p.spec.name} on {gpu.name} TP {opts.tp}: KV budget = {formula} ({how})"


def _row_notes(p: Plan, row: dict) -> list[str]:
    spec = p.spec
    if row["max_context"] is None:
        return [
            f"{spec.name}: every layer keeps a bounded number of tokens, so {row['batch']} "
            f"requests of any length fit (max_context is empty)"
        ]
    if spec.max_positions and row["max_context"] > spec.max_positions:
        return [
            f"{spec.name}: the longest request that fits, {row['max_context']:,} tokens, "
            f"exceeds its max_positions {spec.max_positions:,}"
        ]
    return []


def resolve_gpus(gpus, gpu_memory: int | None, kv_budget: int | None) -> list[Gpu]:
    """Catalog GPUs by name, or a device of --gpu-memory bytes (with a named GPU's peaks)."""
    from kvplan.gpus import custom_gpu, unnamed_gpu

    found = [
        g if isinstance(g, Gpu) else find_gpu(g) for g in _as_list(gpus or [], "gpu")
    ]
    if gpu_memory is not None:
        return [custom_gpu(gpu_memory, g) for g in found] or [custom_gpu(gpu_memory)]
    if not found and kv_budget is not None:
        return [unnamed_gpu()]
    if not found:
        raise KvplanError(
            "name a GPU (--gpu h100; `kvplan gpus` lists them) or give --gpu-memory 80GiB",
            field="gpu",
        )
    return found


@dataclass(frozen=True)
class CapacityResult:
    """The rows, and the plans they came from (for a plot)."""

    rows: Rows
    plans: tuple[Plan, ...]
    contexts: tuple[int, ...]
    batches: tuple[int, ...]


def capacity_result(
    models,
    *,
    gpus: Sequence | str | Gpu | None = None,
    gpu_memory: int | None = None,
    tp: Sequence | int = 1,
    pp: Sequence | int = 1,
    cache_dtype: Sequence | str = "bf16",
    context: Sequence | int | str = 4096,
    batch: Sequence | int = 1,
    options: CapacityOptions | None = None,
    reservations: Sequence | None = None,
) -> CapacityResult:
    """Rows and plans for every combination (see `capacity`).

    `reservations` (default: the options' own) are the allocators to compare, such as the
    ideal one and engine profiles (kvplan.engines.reservation): one row set each.
    """
    from kvplan.catalog import load_spec
    from kvplan.formats import canonical_name

    opts = options or CapacityOptions()
    specs = [
        m if isinstance(m, ModelSpec) else load_spec(m)
        for m in _as_list(models, "model")
    ]
    devices = resolve_gpus(gpus, gpu_memory, opts.kv_budget_bytes)
    tps = [parse_positive_int(t, field="tp") for t in _as_list(tp, "tp")]
    pps = [parse_positive_int(n, field="pp") for n in _as_list(pp, "pp")]
    dtypes = [canonical_name(d) for d in _as_list(cache_dtype, "cache_dtype")]
    contexts = [parse_tokens(c, field="context") for c in _as_list(context, "context")]
    batches = [parse_positive_int(b, field="batch") for b in _as_list(batch, "batch")]
    choices = list(reservations or [opts.reservation])
    _check_shared_prefix(choices, contexts)
    plans, notes, misses = _plans(specs, devices, tps, pps, dtypes, opts, choices)
    rows, kept = [], []
    for p in plans:
        try:
            block = [_row(p, c, b) for c in contexts for b in batches]
        except EngineRuleError as error:  # the engine refuses this model: leave it out
            misses.append(_refused(p, error))
            continue
        kept.append(p)
        rows += block
        notes += [n for row in block for n in _row_notes(p, row)]
    if not kept and misses:
        raise misses[0]
    notes += [f"left out: {error}" for error in misses]
    return CapacityResult(
        rows=Rows.from_dicts(rows, COLUMNS, list(dict.fromkeys(notes))),
        plans=tuple(kept),
        contexts=tuple(contexts),
        batches=tuple(batches),
    )


def _check_shared_prefix(reservations, contexts: list[int]) -> None:
    """A shared prefix is part of each prompt, so it must be shorter than every context."""
    shared = max(r.shared_prefix_tokens for r in reservations)
    if shared and shared >= min(contexts):
        raise KvplanError(
            f"a shared prefix of {shared:,} tokens is not shorter than the context"
            f" {min(contexts):,}: every request would be all prefix; give a prefix shorter"
            " than --context",
            field="shared_prefix",
        )


def _plans(specs, devices, tps, pps, dtypes, opts, reservations):
    """Every combination's plan; those whose weights do not fit are set aside."""
    from dataclasses import replace

    plans, notes, misses = [], [], []
    for spec in specs:
        notes += spec_notes(spec)
        for chosen, gpu, t, n, dtype in product(
            reservations, devices, tps, pps, dtypes
        ):
            label = _dtype_label(spec, dtype)
            profile = getattr(chosen, "profile", None)
            mla = opts.mla_mode or getattr(profile, "mla_mode", "latent")
            given = replace(opts, tp=t, pp=n, reservation=chosen, mla_mode=mla)
            try:
                p = plan(spec, gpu, label, given)
                more = _plan_notes(p)
            except DoesNotFitError as error:
                misses.append(error)
                continue
            except EngineRuleError as error:  # the engine refuses the model
                misses.append(_refused_spec(spec, chosen, error))
                continue
            plans.append(p)
            notes += more
    return plans, notes, misses


def _refused_spec(spec: ModelSpec, reservation, error: KvplanError) -> KvplanError:
    """An engine's refusal of a model, naming both, as one grid note (or the error)."""
    return type(error)(
        f"{spec.name} under {reservation.name}: {error.args[0]}", field=error.field
    )


def _refused(p: Plan, error: KvplanError) -> KvplanError:
    return _refused_spec(p.spec, p.options.reservation, error)


def capacity(models, **kwargs) -> Rows:
    """Capacity rows over models x GPUs x TP x PP x cache dtypes x contexts x batches.

    `models` as `estimate` takes them; `gpus` catalog names (or `gpu_memory` bytes); `options`
    a CapacityOptions for everything else. Returns Rows; docs/capacity.md defines the columns.
    """
    return capacity_result(models, **kwargs).rows
