"""Parameter counts from a spec's shape, and the bytes of weights each GPU holds under TP/PP.

    total  = every parameter once (a tied LM head shares the embedding table)
    active = what one token multiplies: the experts_per_token routed experts of each MoE layer
             and every other tensor, except the embedding lookups (one row is read)

Weight bytes per tensor at a weight dtype (docs/capacity.md, "Weight dtypes"):

    bf16, fp16  2 B a value
    fp8         1 B a value + one fp32 scale per 128 x 128 block
    int8        1 B a value + one fp16 scale per output row
    int4        0.5 B a value + per group of 128 input values an fp16 scale and a 4-bit zero
    mxfp4       0.5 B a value + one scale byte per 32 input values (gpt-oss's experts)

Only projections inside the layers take the weight dtype; embeddings, LM head, norms, routers
and biases stay at 2 B, as quantized checkpoints keep them.
"""

from dataclasses import dataclass
from functools import cache

from kvplan.errors import KvplanError, SpecError
from kvplan.spec import ModelSpec, _heads_per_rank
from kvplan.weight_tensors import Tensor, head_tensors, layer_tensors, tail_tensors

UNQUANTIZED_BYTES = 2  # embeddings, LM head, norms, biases, routers: bf16


@dataclass(frozen=True, kw_only=True)
class WeightFormat:
    """How one weight dtype stores a `rows x cols` projection; sizes in bytes."""

    name: str
    description: str
    value_bits: int
    block: int = 0  # fp8: one scale per block x block values
    row_scale_bytes: int = 0  # int8: one scale per output row
    group_values: int = (
        0  # int4, mxfp4: a scale (and zero point) per group of input values
    )
    group_scale_bytes: int = 0
    group_zero_bits: int = 0
    flops_dtype: str = (
        "bf16"  # the peak FLOP/s the matmuls run at (see docs/capacity.md)
    )

    def matrix_bytes(self, rows: int, cols: int) -> int:
        """Bytes of one `rows x cols` projection, its scales included."""
        values = -(-rows * cols * self.value_bits // 8)
        if self.block:
            blocks = -(-rows // self.block) * -(-cols // self.block)
            return values + blocks * 4  # fp32 scale per block
        if self.group_values:
            groups = rows * -(-cols // self.group_values)
            zeros = -(-groups * self.group_zero_bits // 8)
            return values + groups * self.group_scale_bytes + zeros
        return values + rows * self.row_scale_bytes

    @property
    def bytes_per_param(self) -> float:
        """The nominal bytes of one value (no scales): for --params."""
        return self.value_bits / 8


WEIGHT_FORMATS = {
    f.name: f
    for f in (
        WeightFormat(name="bf16", description="bfloat16", value_bits=16),
        WeightFormat(name="fp16", description="float16", value_bits=16),
        WeightFormat(
            name="fp8",
            description="float8 e4m3, fp32 scale per 128x128 block",
            value_bits=8,
            block=128,
            flops_dtype="fp8",
        ),
        WeightFormat(
            name="int8",
            description="int8, fp16 scale per output channel (weight-only)",
            value_bits=8,
            row_scale_bytes=2,
        ),
        WeightFormat(
            name="int4",
            description="int4, fp16 scale and 4-bit zero point per group of 128 (GPTQ/AWQ)",
            value_bits=4,
            group_values=128,
            group_scale_bytes=2,
            group_zero_bits=4,
        ),
        WeightFormat(
            name="mxfp4",
            description="OCP MXFP4: e2m1 values, one e8m0 scale byte per 32 (gpt-oss)",
            value_bits=4,
            group_values=32,
            group_scale_bytes=1,
        ),
    )
}


def weight_format(name: str) -> WeightFormat:
    """A weight dtype by name (bf16, fp16, fp8, int8, int4, mxfp4), case-insensitively."""
    key = str(name).strip().lower()
    key = {"bfloat16": "bf16", "float16": "fp16", "fp8_e4m3": "fp8", "w4": "int4"}.get(
        key, key
    )
    if key not in WEIGHT_FORMATS:
        raise KvplanError(
            f"unknown weight dtype {name!r}; expected one of {', '.join(WEIGHT_FORMATS)}",
            field="weight_dtype",
        )
    return WEIGHT_FORMATS[key]


@dataclass(frozen=True, kw_only=True)
class ParamCount:
    """A model's parameters: all of them, and those one token multiplies."""

    total: int
    active: int
    embedding: int  # lookup tables (token and position embeddings), in `total`
    lm_head: int  # the output projection, in `active` (once, even when tied)


@cache
def _layer_tensors(spec: ModelSpec) -> tuple[tuple[Tensor, ...], ...]:
    return tuple(tuple(layer_tensors(spec, i)) for i in range(spec.n_layers))


def param_count(spec: ModelSpec) -> ParamCount:
    """Total and active parameters of a spec with a weight shape."""
    tensors = [*head_tensors(spec), *tail_tensors(spec)]
    tensors += [t for layer in _layer_tensors(spec) for t in layer]
    return ParamCount(
        total=sum(t.params for t in tensors if not t.tied),
        active=sum(t.active_params for t in tensors),
        embedding=sum(t.params for t in tensors if t.role == "embedding"),
        lm_head=sum(t.params for t in tensors if t.role == "lm_head"),
    )


def stage_layers(n_layers: int, pp: int) -> tuple[range, ...]:
    """The layers of each pipeline stage, as vLLM partitions them.

    Each stage gets n_layers // pp; the remainder goes one layer each to the stages before the
    last, from the second-to-last backwards (vllm/distributed/utils.py, get_pp_indices): the
    last stage already holds the final norm and LM head.
    """
    if pp > n_layers:
        raise KvplanError(
            f"PP {pp} is larger than the {n_layers} layers; each stage needs a layer",
            field="pp",
        )
    sizes = [n_layers // pp] * pp
    for i in range(2, n_layers % pp + 2):
        sizes[-i] += 1
    starts = [sum(sizes[:i]) for i in range(pp)]
    return tuple(
        range(start, start + size) for start, size in zip(starts, sizes, strict=True)
    )


def _rank_shape(t: Tensor, tp: int) -> tuple[int, int]:
    """Rows and columns of one copy of `t` on the busiest tensor-parallel rank."""
    if t.split == "rows":
        return -(-t.rows // tp), t.cols
    if t.split == "cols":
        return t.rows, -(-t.cols // tp)
    if t.split == "kv":
        return _heads_per_rank(t.kv_heads, tp) * (t.rows // t.kv_heads), t.cols
    return t.rows, t.cols


def tensor_bytes(t: Tensor, fmt: WeightFormat, tp: int, copies: float | None = None):
    """Bytes of `t` on one rank (all its copies, or `copies` of them)."""
    rows, cols = _rank_shape(t, tp)
    each = (
        fmt.matrix_bytes(rows, cols) if t.quantized else rows * cols * UNQUANTIZED_BYTES
    )
    return each * (t.copies if copies is None else copies)


@dataclass(frozen=True, kw_only=True)
class StageWeights:
    """One pipeline stage's weights on each of its GPUs, in bytes."""

    layers: range
    weight_bytes: int  # held per GPU
    dense_read_bytes: int  # read per decode step per GPU, routed experts aside
    expert_bytes: int  # one copy of every MoE layer's routed experts, per GPU (summed)
    moe_layers: int


def stage_weights(spec: ModelSpec, fmt: WeightFormat, *, tp: int, pp: int) -> tuple:
    """Each pipeline stage's weights per GPU: embeddings on the first, LM head on the last."""
    stages = stage_layers(spec.n_layers, pp)
    layers = _layer_tensors(spec)
    out = []
    for index, span in enumerate(stages):
        tensors = [t for i in span for t in layers[i]]
        if index == 0:
            tensors += head_tensors(spec)
        if index == pp - 1:
            tail = tail_tensors(spec)
            tensors += [t for t in tail if not (t.tied and pp == 1)]
        out.append(_stage(span, tensors, fmt, tp))
    return tuple(out)


def _stage(
    span: range, tensors: list[Tensor], fmt: WeightFormat, tp: int
) -> StageWeights:
    routed = [t for t in tensors if t.active_copies]
    held = sum(tensor_bytes(t, fmt, tp) for t in tensors)
    dense = sum(
        tensor_bytes(t, fmt, tp)
        for t in tensors
        if not t.active_copies and t.role != "embedding"
    )
    return StageWeights(
        layers=span,
        weight_bytes=held,
        dense_read_bytes=dense,
        expert_bytes=sum(tensor_bytes(t, fmt, tp, copies=1) for t in routed),
        moe_layers=sum(1 for t in tensors if t.name == "router"),
    )


def expected_experts(experts: int, per_token: int, batch: int) -> float:
    """Distinct experts a batch of tokens reads per MoE layer, routing uniformly at random.

    Each token picks `per_token` of `experts`; an expert escapes one token with probability
    1 - per_token / experts, so a batch reads experts x (1 - (1 - per_token/experts)^batch).
    """
    return experts * (1 - (1 - per_token / experts) ** batch)


def check_tp(spec: ModelSpec, tp: int) -> None:
    """Refuse a TP degree some part of the model cannot be split by; name the ones that can."""
    problem = tp_problem(spec, tp)
    if problem:
        choices = ", ".join(str(d) for d in valid_tps(spec))
        raise KvplanError(f"{problem}; choose a TP among {choices}", field="tp")


def tp_problem(spec: ModelSpec, tp: int) -> str | None:
    """Why `tp` ranks cannot split the model, or None.

    Each rank computes whole query heads; each attention layer's KV heads split evenly or are
    replicated whole (TP a multiple of them); each state layer's channels split evenly.
    """
    if spec.n_heads % tp:
        return f"TP {tp} does not divide the {spec.n_heads} query heads of {spec.name}"
    for group in spec.groups:
        try:
            group.layer.sharded(tp)
        except SpecError as error:
            return f"{spec.name}: {error.args[0]}"
    return None


# The largest TP suggested: 64 GPUs, far past any single node.
_MAX_SUGGESTED_TP = 64


def valid_tps(spec: ModelSpec) -> list[int]:
    """Every TP up to 64 that all of tp_problem's constraints accept."""
    return [
        tp for tp in range(1, _MAX_SUGGESTED_TP + 1) if tp_problem(spec, tp) is None
    ]
