"""Every parameter tensor of a model, layer by layer, from its spec and WeightShape.

A Tensor is `rows x cols` values (`cols` = 1 for vectors), `copies` times for routed experts.
`split` says how tensor parallelism shards it, as vLLM's layers do: `rows` (column-parallel:
q/k/v, gate/up, embeddings), `cols` (row-parallel: o_proj, down_proj), `kv` (K/V projections:
KV heads split, one head replicated per rank when TP exceeds them), `none` (replicated: norms,
routers, MLA's down-projections). Only `quantized` tensors (the projections inside the layers)
take the weight dtype; embeddings, LM head, norms, routers and biases stay at 16 bits, as
quantized checkpoints keep them.
"""

from dataclasses import dataclass

from kvplan.errors import SpecError
from kvplan.spec import ATTENTION_KINDS, Layer, ModelSpec
from kvplan.weight_shape import MixerShape, WeightShape


@dataclass(frozen=True, kw_only=True)
class Tensor:
    """One parameter tensor; sizes are value counts."""

    name: str
    rows: int
    cols: int = 1
    split: str = "rows"
    quantized: bool = False
    copies: int = 1  # routed experts: one copy per expert
    active_copies: int = 0  # experts a token reads (0: every copy)
    kv_heads: int = 0  # split "kv": the rows are kv_heads equal blocks
    role: str = ""  # "embedding" (a lookup table), "lm_head", or "" for the rest
    tied: bool = False  # the LM head that reuses the embedding table

    @property
    def params(self) -> int:
        """Values in all copies."""
        return self.rows * self.cols * self.copies

    @property
    def active_params(self) -> int:
        """Values one token multiplies: the routed copies only; an embedding lookup none."""
        if self.role == "embedding":
            return 0
        return self.rows * self.cols * (self.active_copies or self.copies)


def _vector(name: str, size: int, split: str = "none") -> Tensor:
    return Tensor(name=name, rows=size, split=split)


def _linear(name, rows, cols, split, *, bias=False, bias_split=None, **extra):
    """A projection matrix, and its bias (sharded with the rows, replicated for `cols`)."""
    out = [
        Tensor(name=name, rows=rows, cols=cols, split=split, quantized=True, **extra)
    ]
    if bias:
        shard = bias_split or ("none" if split == "cols" else split)
        out.append(Tensor(name=f"{name}.bias", rows=rows, split=shard, **extra))
    return out


def _norm(name: str, size: int, weights: WeightShape) -> list[Tensor]:
    out = [_vector(f"{name}.weight", size)]
    if weights.norm_bias:
        out.append(_vector(f"{name}.bias", size))
    return out


def _attention(layer: Layer, spec: ModelSpec, w: WeightShape) -> list[Tensor]:
    """q, k, v, o (and their biases, q/k norms, sinks) of a full/sliding/chunked layer."""
    hidden, heads, kv = spec.hidden_size, spec.n_heads, layer.n_kv_heads
    q_rows = heads * layer.head_dim_k * (2 if w.attention_output_gate else 1)
    qkv_bias = w.attention_bias != "none"
    kv_split = {"split": "kv", "kv_heads": kv}
    out = _linear("q_proj", q_rows, hidden, "rows", bias=qkv_bias)
    out += _linear("k_proj", kv * layer.head_dim_k, hidden, bias=qkv_bias, **kv_split)
    if not layer.kv_shared:
        out += _linear(
            "v_proj", kv * layer.head_dim_v, hidden, bias=qkv_bias, **kv_split
        )
    o_bias = w.attention_bias == "all"
    out += _linear("o_proj", hidden, heads * layer.head_dim_v, "cols", bias=o_bias)
    if w.qk_norm == "head":
        out += [
            _vector("q_norm", layer.head_dim_k),
            _vector("k_norm", layer.head_dim_k),
        ]
    elif w.qk_norm == "full":
        out += [
            _vector("q_norm", heads * layer.head_dim_k),
            _vector("k_norm", kv * layer.head_dim_k),
        ]
    if w.attention_sinks:
        out.append(_vector("sinks", heads, "rows"))
    return out


def _mla(layer: Layer, spec: ModelSpec, w: WeightShape) -> list[Tensor]:
    """MLA: low-rank query and KV projections; the down-projections are replicated."""
    hidden, heads = spec.hidden_size, spec.n_heads
    nope = layer.head_dim_k - layer.rope_dim
    if w.q_lora_rank:
        out = _linear("q_a_proj", w.q_lora_rank, hidden, "none")
        out.append(_vector("q_a_layernorm", w.q_lora_rank))
        out += _linear("q_b_proj", heads * layer.head_dim_k, w.q_lora_rank, "rows")
    else:
        out = _linear("q_proj", heads * layer.head_dim_k, hidden, "rows")
    rank = layer.kv_lora_rank
    out += _linear("kv_a_proj_with_mqa", rank + layer.rope_dim, hidden, "none")
    out.append(_vector("kv_a_layernorm", rank))
    out += _linear("kv_b_proj", heads * (nope + layer.head_dim_v), rank, "rows")
    out += _linear("o_proj", hidden, heads * layer.head_dim_v, "cols")
    if layer.index_head_dim:
        out += _indexer(layer, spec, w)
    return out


def _indexer(layer: Layer, spec: ModelSpec, w: WeightShape) -> list[Tensor]:
    """DeepSeek-V3.2's sparse-attention indexer (replicated on every rank)."""
    if not (w.index_n_heads and w.q_lora_rank):
        raise SpecError(
            "an MLA layer with an indexer needs weights.index_n_heads and q_lora_rank",
            field="index_n_heads",
        )
    dim = layer.index_head_dim
    out = _linear("indexer.wq_b", w.index_n_heads * dim, w.q_lora_rank, "none")
    out += _linear("indexer.wk", dim, spec.hidden_size, "none")
    out += [_vector("indexer.k_norm.weight", dim), _vector("indexer.k_norm.bias", dim)]
    out.append(
        Tensor(
            name="indexer.weights_proj",
            rows=w.index_n_heads,
            cols=spec.hidden_size,
            split="none",
        )
    )
    return out


def _mixer(mixer: MixerShape | None, hidden: int) -> list[Tensor]:
    """A state layer's mixer: Mamba-1, Mamba-2 or gated-delta-rule linear attention."""
    if mixer is None:
        raise SpecError(
            "state layers need weights.mixer (mamba, mamba2 or linear_attention)",
            field="mixer",
        )
    build = {"mamba": _mamba1, "mamba2": _mamba2, "linear_attention": _linear_attention}
    return build[mixer.kind](mixer, hidden)


def _conv(size: int, m: MixerShape) -> list[Tensor]:
    out = [Tensor(name="conv1d", rows=size, cols=m.conv_kernel)]
    if m.conv_bias:
        out.append(_vector("conv1d.bias", size, "rows"))
    return out


def _mamba1(m: MixerShape, hidden: int) -> list[Tensor]:
    inner = m.inner
    out = _linear("in_proj", 2 * inner, hidden, "rows", bias=m.proj_bias)
    out += _conv(inner, m)
    out += _linear("x_proj", m.dt_rank + 2 * m.state, inner, "cols")
    out += _linear("dt_proj", inner, m.dt_rank, "rows", bias=True)
    out += [Tensor(name="A_log", rows=inner, cols=m.state), _vector("D", inner, "rows")]
    out += _linear("out_proj", hidden, inner, "cols", bias=m.proj_bias)
    if m.inner_norms:
        out += [_vector("dt_norm", m.dt_rank), _vector("b_norm", m.state)]
        out.append(_vector("c_norm", m.state))
    return out


def _mamba2(m: MixerShape, hidden: int) -> list[Tensor]:
    inner = m.heads * m.head_dim
    conv = inner + 2 * m.groups * m.state
    out = _linear("in_proj", inner + conv + m.heads, hidden, "rows", bias=m.proj_bias)
    out += _conv(conv, m)
    out += [_vector(name, m.heads, "rows") for name in ("dt_bias", "A_log", "D")]
    out.append(_vector("norm", inner, "rows"))
    out += _linear("out_proj", hidden, inner, "cols", bias=m.proj_bias)
    return out


def _linear_attention(m: MixerShape, hidden: int) -> list[Tensor]:
    keys = m.key_heads * m.key_head_dim
    values = m.value_heads * m.value_head_dim
    out = _linear("in_proj_qkvz", 2 * keys + 2 * values, hidden, "rows")
    out += _linear("in_proj_ba", 2 * m.value_heads, hidden, "rows")
    out += _conv(2 * keys + values, m)
    out += [
        _vector("dt_bias", m.value_heads, "rows"),
        _vector("A_log", m.value_heads, "rows"),
    ]
    out.append(_vector("norm", m.value_head_dim))
    out += _linear("out_proj", hidden, values, "cols")
    return out


def _mlp(prefix: str, width: int, hidden: int, w: WeightShape, **extra) -> list[Tensor]:
    """A (gated) MLP of `width`: gate, up and down projections and their biases."""
    bias = w.mlp_bias or extra.pop("bias", False)
    names = ("gate_proj", "up_proj") if w.gated_mlp else ("up_proj",)
    out: list[Tensor] = []
    for name in names:
        out += _linear(f"{prefix}{name}", width, hidden, "rows", bias=bias, **extra)
    out += _linear(f"{prefix}down_proj", hidden, width, "cols", bias=bias, **extra)
    return out


def _moe(spec: ModelSpec, w: WeightShape) -> list[Tensor]:
    """Router, routed experts (experts_per_token of them read per token), shared experts."""
    moe, hidden = w.moe, spec.hidden_size
    assert moe is not None  # callers check is_moe_layer first
    out = [Tensor(name="router", rows=moe.experts, cols=hidden, split="none")]
    if moe.router_bias:
        out.append(_vector("router.bias", moe.experts))
    experts = {"copies": moe.experts, "active_copies": moe.experts_per_token}
    out += _mlp(
        "experts.", moe.intermediate_size, hidden, w, bias=moe.expert_bias, **experts
    )
    if moe.shared_experts:
        width = moe.shared_experts * moe.shared_intermediate_size
        out += _mlp("shared_expert.", width, hidden, w)
    if moe.shared_gate:
        out.append(Tensor(name="shared_expert_gate", rows=1, cols=hidden, split="none"))
    return out


def _feed_forward(index: int, spec: ModelSpec, w: WeightShape) -> list[Tensor]:
    if w.moe is not None and w.moe.is_moe_layer(index):
        return _moe(spec, w)
    if not w.intermediate_size:
        raise SpecError(
            f"layer {index} has a dense MLP but weights.intermediate_size is 0",
            field="intermediate_size",
        )
    return _mlp("mlp.", w.intermediate_size, spec.hidden_size, w)


def _has_mlp(layer: Layer, w: WeightShape) -> bool:
    return layer.kind == "mlp" or (w.block_mlp and layer.kind != "mlp")


def layer_tensors(spec: ModelSpec, index: int) -> list[Tensor]:
    """Every parameter tensor of layer `index` (0-based)."""
    w = require_weights(spec)
    layer = spec.layers[index]
    out = []
    for n in range(w.norms_per_layer):
        out += _norm(f"norm{n}", spec.hidden_size, w)
    if layer.kind in ATTENTION_KINDS:
        out += _attention(layer, spec, w)
    elif layer.kind == "mla":
        out += _mla(layer, spec, w)
    elif layer.kind == "shared":
        raise SpecError(
            "the parameters of shared-KV layers are not modelled; give --weights or --params",
            field="weights",
        )
    if layer.kind == "state" or layer.conv_values + layer.ssm_values:
        out += _mixer(w.mixer, spec.hidden_size)
    if _has_mlp(layer, w):
        out += _feed_forward(index, spec, w)
    return out


def head_tensors(spec: ModelSpec) -> list[Tensor]:
    """What the first pipeline stage holds besides its layers: the embeddings."""
    w = require_weights(spec)
    hidden = spec.hidden_size
    out = [
        Tensor(name="embed_tokens", rows=w.vocab_size, cols=hidden, role="embedding")
    ]
    if w.position_embeddings:
        out.append(
            Tensor(
                name="embed_positions",
                rows=w.position_embeddings,
                cols=hidden,
                split="none",
                role="embedding",
            )
        )
    if w.embedding_norm:
        out += _norm("embed_norm", hidden, w)
    return out


def tail_tensors(spec: ModelSpec) -> list[Tensor]:
    """What the last pipeline stage holds besides its layers: final norm and LM head."""
    w = require_weights(spec)
    out = _norm("final_norm", spec.hidden_size, w)
    out.append(
        Tensor(
            name="lm_head",
            rows=w.vocab_size,
            cols=spec.hidden_size,
            role="lm_head",
            tied=w.tie_embeddings,
        )
    )
    if w.lm_head_bias:
        out.append(_vector("lm_head.bias", w.vocab_size, "rows"))
    return out


def require_weights(spec: ModelSpec) -> WeightShape:
    """The spec's weight shape, or an error naming the options that replace it."""
    if spec.weights is None:
        raise SpecError(
            f"{spec.name} has no weight shape (no weights: in its spec), so kvplan cannot "
            "count its parameters; give --weights 16GiB (all weight bytes) or --params 8.03B",
            field="weights",
        )
    return spec.weights
