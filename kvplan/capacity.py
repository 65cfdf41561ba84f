"""What fits on a GPU: the KV budget per GPU under TP/PP, tokens, concurrency, longest context.

For one model on one GPU type with TP x PP GPUs, each pipeline stage's GPUs hold

    budget = floor(GPU memory x memory_fraction) - weights of the stage per GPU - reserve

bytes of cache (or --kv-budget as given), for the stage's layers sharded by TP (Layer.sharded:
KV heads split, one replicated head per rank past the KV-head count, the MLA latent on every
rank). Every question about bytes per request and tokens per pool goes to a reservation object
(reservation.py), so an engine profile can replace the ideal paged allocation. The most loaded
stage bounds the answer. docs/capacity.md defines every column.
"""

from dataclasses import dataclass, field, replace
from fractions import Fraction

from kvplan.errors import DoesNotFitError, KvplanError
from kvplan.floors import prefill_flops, tpot_floor_ms, ttft_floor_ms
from kvplan.gpus import Gpu
from kvplan.reservation import IdealReservation, Reservation
from kvplan.sizing import ModelCost, model_cost
from kvplan.spec import ModelSpec
from kvplan.units import GIB, format_gib
from kvplan.weights import (
    WeightFormat,
    check_tp,
    expected_experts,
    param_count,
    stage_layers,
    stage_weights,
    weight_format,
)

BASE_RESERVE_BYTES = GIB  # CUDA context, NCCL and cuBLAS workspaces, CUDA graphs, slack
# vLLM's default chunked-prefill batch for `vllm serve`
DEFAULT_MAX_BATCHED_TOKENS = 8192
ACTIVATION_VALUE_BYTES = 2  # activations in bf16


@dataclass(frozen=True, kw_only=True)
class CapacityOptions:
    """Everything about a deployment but the model, GPU, cache dtype, context and batch."""

    tp: int = 1
    pp: int = 1
    memory_fraction: Fraction = Fraction(9, 10)
    reserve_bytes: int | None = None  # None: the default reserve (see default_reserve)
    max_batched_tokens: int = DEFAULT_MAX_BATCHED_TOKENS
    kv_budget_bytes: int | None = None  # the cache budget per GPU, as a log printed it
    weight_dtype: str = "bf16"
    weight_bytes: int | None = None  # --weights: all weight bytes, all GPUs together
    params: int | None = None  # --params
    output_tokens: int = 0
    mla_mode: str | None = "latent"  # None: as the engine stores MLA layers
    state_dtype: str | None = None
    reservation: Reservation = field(default_factory=IdealReservation)

    def __post_init__(self) -> None:
        fraction = self.memory_fraction
        if isinstance(fraction, float):  # from Python: 0.9 means nine tenths, exactly
            fraction = Fraction(str(fraction))
            object.__setattr__(self, "memory_fraction", fraction)
        if not isinstance(fraction, Fraction | int) or not 0 < fraction <= 1:
            raise KvplanError(
                f"expected a number in (0, 1] such as 0.9, got {fraction!r}",
                field="memory_fraction",
            )
        for name in ("tp", "pp", "max_batched_tokens"):
            _check_int(getattr(self, name), name, minimum=1)
        for name in ("kv_budget_bytes", "weight_bytes", "params"):
            if getattr(self, name) is not None:
                _check_int(getattr(self, name), name, minimum=1)
        if self.reserve_bytes is not None:
            _check_int(self.reserve_bytes, "reserve", minimum=0)
        _check_int(self.output_tokens, "output_tokens", minimum=0)


def _check_int(value: object, name: str, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        least = "a positive" if minimum else "a non-negative"
        raise KvplanError(f"expected {least} integer, got {value!r}", field=name)


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One pipeline stage as each of its GPUs holds it; sizes in bytes."""

    index: int
    layers: range
    cost: ModelCost  # the stage's layers, sharded by TP
    weight_bytes: int | None  # None: unknown (--kv-budget and a spec without weights)
    dense_read_bytes: int | None  # weights a decode step reads, routed experts aside
    expert_bytes: int  # one copy of the routed experts of all its MoE layers
    budget_bytes: int
    pool_bytes: int  # what the engine's pool holds for that budget (whole blocks)


@dataclass(frozen=True, kw_only=True)
class Plan:
    """A model on a GPU type under TP x PP with a cache dtype: everything but the load."""

    spec: ModelSpec
    gpu: Gpu
    cache_dtype: str
    options: CapacityOptions
    weight_format: WeightFormat
    stages: tuple[Stage, ...]
    params: int | None  # None: not known
    active_params: int | None
    lm_head_params: int
    reserve_bytes: int
    routed: tuple[int, int] | None  # (experts, experts per token) of an MoE model
    notes: tuple[str, ...] = ()


def mlp_width(spec: ModelSpec) -> int:
    """The widest MLP a token passes through (a dense MLP, or its experts and shared ones)."""
    w = spec.weights
    if w is None:
        return 4 * spec.hidden_size
    width = w.intermediate_size
    if w.moe is not None:
        routed = w.moe.experts_per_token * w.moe.intermediate_size
        width = max(
            width, routed + w.moe.shared_experts * w.moe.shared_intermediate_size
        )
    return width or 4 * spec.hidden_size


def default_reserve(spec: ModelSpec, tp: int, max_batched_tokens: int) -> int:
    """Bytes per GPU kept for activations and the runtime when no --reserve is given.

    1 GiB for the CUDA context, NCCL and cuBLAS workspaces and CUDA graphs, plus the peak
    activations of a forward pass over `max_batched_tokens` tokens: per token the residual
    stream, the normed input, the attention input and output (4 x hidden) and the MLP's
    gate/up output and activation (3 x its width per TP rank), at 2 bytes a value.
    """
    per_token = 4 * spec.hidden_size + 3 * -(-mlp_width(spec) // tp)
    return BASE_RESERVE_BYTES + max_batched_tokens * per_token * ACTIVATION_VALUE_BYTES


def _stage_cost(spec: ModelSpec, span: range, cache_dtype: str, opts) -> ModelCost:
    layers = tuple(spec.layers[i].sharded(opts.tp) for i in span)
    stage = spec.with_layers(layers)
    mode = opts.mla_mode or "latent"
    cost = model_cost(stage, cache_dtype, mla_mode=mode, state_dtype=opts.state_dtype)
    return opts.reservation.store(cost, cache_dtype, spec.dtype, mode)


def _weights(spec: ModelSpec, fmt: WeightFormat, opts: CapacityOptions):
    """Per-stage (weight, dense read, expert) bytes per GPU, and notes on where they came from."""
    gpus = opts.tp * opts.pp
    given = opts.weight_bytes
    if given is None and opts.params is not None:
        given = -(-opts.params * fmt.value_bits // 8)
    if given is not None:
        each = -(-given // gpus)
        note = f"{spec.name}: weights of {format_gib(given)} split evenly over {gpus} GPU(s)"
        return [(each, each, 0)] * opts.pp, [note]
    if spec.weights is None:  # only with --kv-budget: the budget needs no weights
        note = (
            f"{spec.name}: no weight shape, so weights, parameters and floors are empty "
            "(give --weights or --params to fill them)"
        )
        return [(None, None, 0)] * opts.pp, [note]
    stages = stage_weights(spec, fmt, tp=opts.tp, pp=opts.pp)
    return [(s.weight_bytes, s.dense_read_bytes, s.expert_bytes) for s in stages], []


def _params(spec: ModelSpec, fmt: WeightFormat, opts: CapacityOptions):
    """(params, active params, LM head params) and a note when they are not counted."""
    if spec.weights is not None:
        count = param_count(spec)
        return count.total, count.active, count.lm_head, []
    if opts.params is not None:
        return opts.params, opts.params, 0, []
    if opts.weight_bytes is None:
        return None, None, 0, []
    inferred = opts.weight_bytes * 8 // fmt.value_bits
    note = (
        f"{spec.name}: parameters taken as --weights / {fmt.value_bits // 8 or 0.5} B "
        f"({inferred:,}), for the prefill floor only"
    )
    return inferred, inferred, 0, [note]


def _budget_base(gpu: Gpu, opts: CapacityOptions) -> int:
    """The memory the engine may use on one GPU: floor(GPU memory x memory_fraction)."""
    return (
        gpu.budget_bytes
        * opts.memory_fraction.numerator
        // opts.memory_fraction.denominator
    )


def plan(spec: ModelSpec, gpu: Gpu, cache_dtype: str, opts: CapacityOptions) -> Plan:
    """Weights, reserve and KV budget of every stage; DoesNotFitError when none is left."""
    opts.reservation.check_cache_dtype(cache_dtype, spec.dtype)
    reservation, spec, fitted = opts.reservation.for_model(spec)
    opts = replace(opts, reservation=reservation)
    check_tp(spec, opts.tp)
    spans = stage_layers(spec.n_layers, opts.pp)
    fmt = weight_format(opts.weight_dtype)
    no_weights = opts.weight_bytes is None and opts.params is None
    if spec.weights is None and no_weights and opts.kv_budget_bytes is None:
        from kvplan.weight_tensors import require_weights

        require_weights(spec)
    weights, notes = _weights(spec, fmt, opts)
    params, active, lm_head, more = _params(spec, fmt, opts)
    reserve = opts.reserve_bytes
    if reserve is None:
        reserve = default_reserve(spec, opts.tp, opts.max_batched_tokens)
    base = _budget_base(gpu, opts)
    stages = []
    for index, (span, (held, dense, experts)) in enumerate(
        zip(spans, weights, strict=True)
    ):
        budget = opts.kv_budget_bytes
        if budget is None:
            budget = opts.reservation.kv_budget(
                gpu.budget_bytes, Fraction(opts.memory_fraction), held + reserve
            )
            if budget <= 0:
                raise _does_not_fit(spec, gpu, opts, fmt, held, base, reserve, index)
        cost = _stage_cost(spec, span, cache_dtype, opts)
        pool = opts.reservation.pool_bytes(cost, budget)
        stages.append(
            Stage(
                index=index,
                layers=span,
                cost=cost,
                weight_bytes=held,
                dense_read_bytes=dense,
                expert_bytes=experts,
                budget_bytes=budget,
                pool_bytes=pool,
            )
        )
    moe = spec.weights.moe if spec.weights is not None else None
    routed = (moe.experts, moe.experts_per_token) if moe is not None else None
    return Plan(
        spec=spec,
        gpu=gpu,
        cache_dtype=cache_dtype,
        options=opts,
        weight_format=fmt,
        stages=tuple(stages),
        params=params,
        active_params=active,
        lm_head_params=lm_head,
        reserve_bytes=reserve,
        routed=routed,
        notes=tuple(notes + more + fitted),
    )


def _does_not_fit(spec, gpu, opts, fmt, held, base, reserve, index) -> DoesNotFitError:
    where = f"TP {opts.tp}, PP {opts.pp}" + (
        f", stage {index + 1}" if opts.pp > 1 else ""
    )
    total = held + reserve
    return DoesNotFitError(
        f"does not fit: {spec.name} weights need {format_gib(held)} per GPU at "
        f"{fmt.name} ({where}); weights {format_gib(held)} + reserve "
        f"{format_gib(reserve)} = {format_gib(total)} exceed the {gpu.name}'s "
        f"{format_gib(gpu.budget_bytes)} x {float(opts.memory_fraction):g} = "
        f"{format_gib(base)}, leaving nothing for a KV cache; raise --tp/--pp, use a "
        "smaller --weight-dtype, or a larger GPU"
    )


@dataclass(frozen=True, kw_only=True)
class StageLoad:
    """One stage at a context and batch; bytes per GPU."""

    stage: Stage
    request_bytes: int
    shared_bytes: int
    used_bytes: int
    room_bytes: int  # the pool less per-model constants and the shared prefix
    concurrency: (
        float  # requests that fit, fractional (as engines print it); inf: no bytes
    )

    @property
    def requests(self) -> int:
        """Whole requests that fit: exact integer division, never below zero, and never
        above the concurrency an engine prints (a peak above the stored bytes)."""
        if not self.request_bytes:
            return 0
        whole = max(0, self.room_bytes // self.request_bytes)
        return min(whole, int(self.concurrency)) if self.concurrency >= 0 else 0


def stage_load(plan: Plan, stage: Stage, request_tokens: int, batch: int) -> StageLoad:
    """What `batch` requests of `request_tokens` take on one of the stage's GPUs."""
    reservation = plan.options.reservation
    request = reservation.request_bytes(stage.cost, request_tokens)
    shared = reservation.shared_bytes(stage.cost, request_tokens)
    room = stage.pool_bytes - stage.cost.fixed_bytes - shared
    concurrency = reservation.max_concurrency(
        stage.cost, stage.budget_bytes, request_tokens, shared
    )
    return StageLoad(
        concurrency=concurrency,
        stage=stage,
        request_bytes=request,
        shared_bytes=shared,
        used_bytes=batch * request + shared + stage.cost.fixed_bytes,
        room_bytes=room,
    )


def fits(plan: Plan, request_tokens: int, batch: int) -> bool:
    """Whether `batch` requests of `request_tokens` fit on every stage."""
    return all(
        stage_load(plan, s, request_tokens, batch).used_bytes <= s.pool_bytes
        for s in plan.stages
    )


def max_context(plan: Plan, batch: int) -> int | None:
    """The longest request (tokens) of which `batch` fit; None when any length fits.

    Bytes per request never decrease with length (reservation.py), so the answer is the last
    length that fits, found by doubling and then bisecting exact integer byte counts.
    """
    reservation = plan.options.reservation
    if not fits(plan, 1, batch):
        return 0
    if not any(reservation.grows_without_bound(s.cost) for s in plan.stages):
        plateau = max(reservation.plateau_tokens(s.cost) for s in plan.stages)
        if fits(plan, plateau, batch):
            return None
        low, high = 1, plateau
    else:
        low, high = 1, 2
        while fits(plan, high, batch):
            low, high = high, high * 2
    while high - low > 1:  # fits(low) and not fits(high)
        middle = (low + high) // 2
        low, high = (middle, high) if fits(plan, middle, batch) else (low, middle)
    return low


def decode_read_bytes(plan: Plan, request_tokens: int, batch: int) -> float | None:
    """Bytes each GPU reads per decode step, summed over the stages a token passes through."""
    total = 0.0
    for stage in plan.stages:
        if stage.dense_read_bytes is None:
            return None
        experts = 0.0
        if plan.routed is not None and stage.expert_bytes:
            experts = expected_experts(*plan.routed, batch) * stage.expert_bytes
        kv = batch * stage.cost.sequence_bytes(request_tokens)
        total += stage.dense_read_bytes + experts + kv
    return total


def floors(plan: Plan, context: int, batch: int) -> tuple[float | None, float | None]:
    """(tpot_floor_ms, ttft_floor_ms) for requests of `context` prompt tokens."""
    request_tokens = context + plan.options.output_tokens
    read = decode_read_bytes(plan, request_tokens, batch)
    bandwidth = plan.gpu.bandwidth_bytes_per_s
    tpot = None if read is None else tpot_floor_ms(read, bandwidth)
    if plan.active_params is None:
        return tpot, None
    flops = prefill_flops(
        plan.spec, context, active=plan.active_params or 0, lm_head=plan.lm_head_params
    )
    gpus = plan.options.tp * plan.options.pp
    peak = plan.gpu.peak_flops(plan.weight_format.flops_dtype)
    return tpot, ttft_floor_ms(flops, gpus, peak)
