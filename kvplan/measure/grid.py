"""`kvplan.measure.measure`: a grid of measured points, each beside kvplan's own prediction.

Rows come in the order model, cache dtype, context, batch. The prediction is
`kvplan.estimate` of the layers that ran at `context + decode_tokens` tokens (what the cache is
allocated for), so predicted and measured bytes describe the same cache; `full_model_kv_bytes`
is the estimate of the whole model at the same point. A point that runs out of memory is a row
with status `oom`, and the grid goes on.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from kvplan.errors import KvplanError
from kvplan.estimate import context_notes, estimate, spec_notes
from kvplan.measure.cache import cache_format_name
from kvplan.measure.model import build_decoder, layer_source, model_dims
from kvplan.measure.run import Point, run_point
from kvplan.rows import Rows
from kvplan.sizing import state_dtypes
from kvplan.spec import ModelSpec
from kvplan.units import format_gib, parse_positive_int, parse_tokens

COLUMNS = (
    "model",
    "device",
    "compute_dtype",
    "cache_dtype",
    "context",
    "decode_tokens",
    "batch",
    "layers",
    "predicted_kv_bytes",
    "measured_kv_bytes",
    "error_pct",
    "full_model_kv_bytes",
    "alloc_growth_bytes",
    "decode_peak_bytes",
    "ttft_ms",
    "tpot_ms",
    "decode_tokens_per_s",
    "max_abs_logit_diff",
    "quant_logit_diff_vs_bf16",
    "recompute_steps",
    "recompute_step_ms",
    "recompute_ratio",
    "status",
)
MEASURED = COLUMNS[COLUMNS.index("measured_kv_bytes") : COLUMNS.index("status")]
COMPUTE_DTYPES = {"cpu": "fp32", "cuda": "bf16"}
TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True, kw_only=True)
class Plan:
    """A validated grid: the specs as run (and whole), points, device, notes for the reader."""

    specs: tuple[ModelSpec, ...]
    whole: tuple[ModelSpec, ...]
    cache_dtypes: tuple[str, ...]
    contexts: tuple[int, ...]
    batches: tuple[int, ...]
    decode_tokens: int
    device: torch.device
    compute_dtype: str
    small: bool
    seed: int
    compare_recompute: bool
    notes: tuple[str, ...]

    def points(self, spec: ModelSpec) -> list[Point]:
        """The points of one model, in row order."""
        return [
            Point(
                cache_dtype=cache_format_name(dtype, model_dtype=spec.dtype),
                context=context,
                batch_size=batch,
                decode_tokens=self.decode_tokens,
                seed=self.seed,
                compare_recompute=self.compare_recompute,
            )
            for dtype in self.cache_dtypes
            for context in self.contexts
            for batch in self.batches
        ]

    @property
    def size(self) -> int:
        """How many points the grid has."""
        return sum(len(self.points(spec)) for spec in self.specs)


def resolve_device(name: str) -> torch.device:
    """`auto` (CUDA when there is one), `cpu` or `cuda`; CUDA without one is an error."""
    key = str(name).strip().lower()
    if key == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if key not in ("cpu", "cuda"):
        raise KvplanError(f"expected auto, cpu or cuda, got {name!r}", field="device")
    if key == "cuda" and not torch.cuda.is_available():
        raise KvplanError(
            f"cuda was asked but this torch ({torch.__version__}) sees no CUDA device; "
            "use --device cpu or auto",
            field="device",
        )
    return torch.device(key)


def _as_tuple(value) -> tuple:
    return (value,) if isinstance(value, (str, int, ModelSpec)) else tuple(value)


def _cut(spec: ModelSpec, layers: int | None) -> ModelSpec:
    """The first `layers` layers of the spec (all of them for None), checked runnable."""
    if layers is not None:
        n = parse_positive_int(layers, field="layers")
        if n > spec.n_layers:
            raise KvplanError(
                f"{spec.name} has {spec.n_layers} layers, {n} were asked",
                field="layers",
            )
        spec = spec.with_layers(spec.layers[:n])
    for index in range(spec.n_layers):
        layer_source(spec, index)
    return spec


def plan_measure(
    models,
    *,
    device: str = "auto",
    cache_dtype="bf16",
    context="1k",
    batch=1,
    decode_tokens=64,
    layers=None,
    small: bool = False,
    compare_recompute: bool = False,
    seed: int = 0,
    compute_dtype: str | None = None,
) -> Plan:
    """Validate everything a grid needs before any work starts (bad input: KvplanError)."""
    from kvplan.catalog import load_spec

    whole = tuple(
        m if isinstance(m, ModelSpec) else load_spec(m) for m in _as_tuple(models)
    )
    specs = tuple(_cut(spec, layers) for spec in whole)
    dtypes = _as_tuple(cache_dtype)
    for spec in specs:
        for name in dtypes:
            cache_format_name(name, model_dtype=spec.dtype)
    torch_device = resolve_device(device)
    chosen = compute_dtype or COMPUTE_DTYPES[torch_device.type]
    if chosen not in TORCH_DTYPES:
        raise KvplanError(
            f"expected fp32, fp16 or bf16, got {chosen!r}", field="compute_dtype"
        )
    contexts = tuple(parse_tokens(c, field="context") for c in _as_tuple(context))
    batches = tuple(parse_positive_int(b, field="batch") for b in _as_tuple(batch))
    for name, values in (("model", specs), ("context", contexts), ("batch", batches)):
        if not values:
            raise KvplanError("at least one value is needed", field=name)
    return Plan(
        specs=specs,
        whole=whole,
        cache_dtypes=dtypes,
        contexts=contexts,
        batches=batches,
        decode_tokens=parse_positive_int(decode_tokens, field="decode_tokens"),
        device=torch_device,
        compute_dtype=chosen,
        small=small,
        seed=int(seed),
        compare_recompute=compare_recompute,
        notes=tuple(_notes(specs, whole, small, contexts, decode_tokens)),
    )


def _notes(specs, whole, small: bool, contexts, decode_tokens) -> list[str]:
    notes = []
    run = [
        c + parse_positive_int(decode_tokens, field="decode_tokens") for c in contexts
    ]
    for spec, full in zip(specs, whole, strict=True):
        notes += spec_notes(spec) + context_notes(spec, run)
        notes += [
            f"{spec.name}: {text}" for text in model_dims(spec, small=small).notes
        ]
        if spec.n_layers < full.n_layers:
            notes.append(
                f"{spec.name}: ran {spec.n_layers} of {full.n_layers} layers; "
                "full_model_kv_bytes is the estimate for all of them"
            )
        kinds = {layer.kind for layer in spec.layers}
        if any(layer.index_head_dim for layer in spec.layers):
            notes.append(
                f"{spec.name}: the MLA indexer key is cached; its top-k is not applied"
            )
        if kinds & {"state"} or any(layer.conv_values for layer in spec.layers):
            notes.append(
                f"{spec.name}: state layers run a stand-in recurrence with the spec's exact "
                "state sizes (docs/measure.md)"
            )
    return notes


def _predict(spec: ModelSpec, point: Point) -> int:
    """kvplan's own estimate of the cache the point allocates."""
    rows = estimate(
        spec,
        context=point.tokens,
        batch=point.batch_size,
        cache_dtype=point.cache_dtype,
    )
    return rows[0]["kv_bytes"]


def _available_bytes() -> int | None:
    """The CPU memory Linux says is available (MemAvailable), or None where it cannot tell."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _is_oom(error: BaseException) -> bool:
    if isinstance(error, getattr(torch, "OutOfMemoryError", ())):
        return True
    text = str(error).lower()
    return "out of memory" in text or "can't allocate memory" in text


def _free(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _measure_or_oom(model, point: Point, predicted: int, device) -> dict:
    """The measured columns, or status oom when the point does not fit."""
    available = _available_bytes() if device.type == "cpu" else None
    if available is not None and predicted > available:
        return {
            "status": f"oom (needs {format_gib(predicted)}, {format_gib(available)} free)"
        }
    try:
        return {**run_point(model, point), "status": "ok"}
    except (RuntimeError, MemoryError) as error:
        if not _is_oom(error) and not isinstance(error, MemoryError):
            raise
        _free(device)
        return {"status": "oom"}


def _row(plan: Plan, spec, whole, point: Point, predicted: int, measured: dict) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(
        model=spec.name,
        device=plan.device.type,
        compute_dtype=plan.compute_dtype,
        cache_dtype=point.cache_dtype,
        context=point.context,
        decode_tokens=point.decode_tokens,
        batch=point.batch_size,
        layers=spec.n_layers,
        predicted_kv_bytes=predicted,
        full_model_kv_bytes=_predict(whole, point),
    )
    row.update(measured)
    if row["measured_kv_bytes"] is not None:
        row["error_pct"] = (row["measured_kv_bytes"] - predicted) / predicted * 100
    return row


def iter_measure(plan: Plan) -> Iterator[dict]:
    """Measure the plan's points one by one, yielding each row as soon as it is done."""
    for spec, whole in zip(plan.specs, plan.whole, strict=True):
        conv, ssm = state_dtypes(spec)
        model = build_decoder(
            spec,
            dims=model_dims(spec, small=plan.small),
            device=plan.device,
            dtype=TORCH_DTYPES[plan.compute_dtype],
            seed=plan.seed,
            dtypes={"conv_dtype": conv, "ssm_dtype": ssm},
        )
        for point in plan.points(spec):
            predicted = _predict(spec, point)
            measured = _measure_or_oom(model, point, predicted, plan.device)
            yield _row(plan, spec, whole, point, predicted, measured)
        del model
        _free(plan.device)


def measure(models, **options) -> Rows:
    """Measured KV-cache bytes, prefill and decode times for a grid (see `plan_measure`)."""
    plan = plan_measure(models, **options)
    rows = list(iter_measure(plan))
    return Rows.from_dicts(rows, COLUMNS, plan.notes)
