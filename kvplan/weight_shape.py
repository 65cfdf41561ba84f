"""WeightShape: what a model's parameters look like beyond its attention geometry.

ModelSpec holds the cache geometry (layers, heads, head dims); `ModelSpec.weights` adds what a
parameter count needs: vocabulary, MLP widths, biases and norms, mixture-of-experts routing, and
the Mamba / linear-attention mixers of hybrid models. kvplan.weights turns the two into
parameter counts and bytes per GPU. Every size is a count of values (not bytes).
"""

from dataclasses import MISSING, dataclass, fields

from kvplan.errors import SpecError

ATTENTION_BIAS = (
    "none",
    "qkv",
    "all",
)  # q,k,v biases only (Qwen2), or o_proj's too (GPT-2)
QK_NORMS = (
    "",
    "head",
    "full",
)  # per-head q/k norm (Qwen3, Gemma-3), or over all heads (OLMo-2)
MIXER_KINDS = ("mamba", "mamba2", "linear_attention")


def _check_counts(shape: object, where: str, positive: tuple[str, ...] = ()) -> None:
    """Every int field is a non-negative int; those in `positive` are above zero."""
    for item in fields(shape):  # type: ignore[arg-type]
        value = getattr(shape, item.name)
        if item.type in ("int", int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SpecError(
                    f"{where}: {item.name} must be a non-negative integer, got {value!r}",
                    field=item.name,
                )
            if item.name in positive and value == 0:
                raise SpecError(
                    f"{where}: {item.name} must be a positive integer", field=item.name
                )
        elif item.type in ("bool", bool) and not isinstance(value, bool):
            raise SpecError(
                f"{where}: {item.name} must be true or false, got {value!r}",
                field=item.name,
            )


@dataclass(frozen=True, kw_only=True)
class MoeShape:
    """Routed (and shared) experts, and which layers have them instead of a dense MLP."""

    experts: int
    experts_per_token: int
    intermediate_size: int  # one routed expert's MLP width
    shared_experts: int = 0
    shared_intermediate_size: int = 0  # one shared expert's MLP width
    first_dense_layers: int = 0  # layers before this index keep the dense MLP
    layer_period: int = 1  # a layer i >= first_dense_layers is MoE when
    layer_offset: int = 0  # i % layer_period == layer_offset
    router_bias: bool = False  # a bias per expert on the router (gpt-oss; DeepSeek-V3)
    expert_bias: bool = False  # biases inside each expert (gpt-oss)
    shared_gate: bool = False  # a sigmoid gate of hidden values on the shared expert

    def __post_init__(self) -> None:
        where = "weights.moe"
        _check_counts(
            self,
            where,
            ("experts", "experts_per_token", "intermediate_size", "layer_period"),
        )
        if self.experts_per_token > self.experts:
            raise SpecError(
                f"{where}: experts_per_token {self.experts_per_token} exceeds the "
                f"{self.experts} experts",
                field="experts_per_token",
            )
        if self.shared_experts and not self.shared_intermediate_size:
            raise SpecError(
                f"{where}: shared experts need shared_intermediate_size",
                field="shared_intermediate_size",
            )
        if self.layer_offset >= self.layer_period:
            raise SpecError(
                f"{where}: layer_offset must be below layer_period",
                field="layer_offset",
            )

    def is_moe_layer(self, index: int) -> bool:
        """Whether layer `index` (0-based) has routed experts."""
        return (
            index >= self.first_dense_layers
            and index % self.layer_period == self.layer_offset
        )


@dataclass(frozen=True, kw_only=True)
class MixerShape:
    """The recurrent mixer of `state` layers (and of hybrid attention+state layers).

    mamba (Mamba-1): inner, state, conv_kernel, dt_rank. mamba2: heads, head_dim, groups,
    state, conv_kernel. linear_attention (gated delta rule): key_heads, key_head_dim,
    value_heads, value_head_dim, conv_kernel.
    """

    kind: str
    conv_kernel: int
    state: int = 0
    inner: int = 0
    dt_rank: int = 0
    heads: int = 0
    head_dim: int = 0
    groups: int = 0
    key_heads: int = 0
    key_head_dim: int = 0
    value_heads: int = 0
    value_head_dim: int = 0
    conv_bias: bool = True
    proj_bias: bool = False
    inner_norms: bool = False  # Jamba's RMSNorms on dt, B and C

    def __post_init__(self) -> None:
        where = "weights.mixer"
        if self.kind not in MIXER_KINDS:
            raise SpecError(
                f"{where}: kind must be one of {', '.join(MIXER_KINDS)}, got {self.kind!r}",
                field="kind",
            )
        needed = {
            "mamba": ("inner", "state", "dt_rank"),
            "mamba2": ("heads", "head_dim", "groups", "state"),
            "linear_attention": (
                "key_heads",
                "key_head_dim",
                "value_heads",
                "value_head_dim",
            ),
        }[self.kind]
        _check_counts(self, where, ("conv_kernel", *needed))


@dataclass(frozen=True, kw_only=True)
class WeightShape:
    """What the parameter count needs beyond the cache geometry; sizes are value counts."""

    vocab_size: int
    intermediate_size: int  # the dense MLP's width; 0 where no layer has a dense MLP
    tie_embeddings: bool = False  # the LM head reuses the embedding table
    gated_mlp: bool = True  # gate, up and down (SwiGLU/GeGLU); else up and down
    attention_bias: str = "none"
    mlp_bias: bool = False
    norm_bias: bool = False  # LayerNorm (weight and bias) rather than RMSNorm (weight)
    norms_per_layer: int = 2
    qk_norm: str = ""
    position_embeddings: int = 0  # rows of a learned absolute position table
    embedding_norm: bool = False  # a norm right after the embeddings (Bloom)
    lm_head_bias: bool = False
    attention_sinks: bool = False  # one learned sink logit per query head (gpt-oss)
    attention_output_gate: bool = False  # q_proj also emits a gate per head value
    q_lora_rank: int = 0  # MLA: low-rank query (0: a direct query projection)
    index_n_heads: int = 0  # MLA with a sparse-attention indexer: its query heads
    block_mlp: bool = (
        True  # every attention/state layer has an MLP; False: only `mlp` layers
    )
    moe: MoeShape | None = None
    mixer: MixerShape | None = None

    def __post_init__(self) -> None:
        where = "weights"
        _check_counts(self, where, ("vocab_size",))
        if self.attention_bias not in ATTENTION_BIAS:
            raise SpecError(
                f"{where}: attention_bias must be one of {', '.join(ATTENTION_BIAS)}, "
                f"got {self.attention_bias!r}",
                field="attention_bias",
            )
        if self.qk_norm not in QK_NORMS:
            raise SpecError(
                f"{where}: qk_norm must be empty, head or full, got {self.qk_norm!r}",
                field="qk_norm",
            )
        if self.moe is not None and not isinstance(self.moe, MoeShape):
            raise SpecError(f"{where}: moe must be a mapping", field="moe")
        if self.mixer is not None and not isinstance(self.mixer, MixerShape):
            raise SpecError(f"{where}: mixer must be a mapping", field="mixer")


def _from_mapping(cls, data: object, file: str, path: str, nested: dict | None = None):
    """One shape dataclass from a spec YAML mapping; unknown keys are errors naming them."""
    where = f"{file}: {path}"
    if not isinstance(data, dict):
        raise SpecError(f"{where}: expected a mapping", field=path.rsplit(".", 1)[-1])
    allowed = [item.name for item in fields(cls)]
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        raise SpecError(
            f"{where}: unknown key {unknown[0]!r}; expected one of {', '.join(allowed)}",
            field=unknown[0],
        )
    required = [item.name for item in fields(cls) if item.default is MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        raise SpecError(f"{where}: missing {missing[0]}", field=missing[0])
    values = dict(data)
    for key, inner in (nested or {}).items():
        if values.get(key) is not None:
            values[key] = _from_mapping(inner, values[key], file, f"{path}.{key}")
    try:
        return cls(**values)
    except SpecError as error:  # its message already names weights.<field>
        raise SpecError(f"{file}: {error.args[0]}", field=error.field) from None


def weight_shape_from_mapping(data: object, where: str) -> WeightShape:
    """A WeightShape from the `weights:` mapping of a spec YAML (`where`: the file)."""
    nested = {"moe": MoeShape, "mixer": MixerShape}
    return _from_mapping(WeightShape, data, where, "weights", nested)


def _non_default(shape) -> dict:
    """The fields of a shape that differ from their defaults, nested shapes as mappings."""
    out: dict = {}
    for item in fields(shape):
        value = getattr(shape, item.name)
        if isinstance(value, (MoeShape, MixerShape)):
            out[item.name] = _non_default(value)
        elif value != item.default:
            out[item.name] = value
    return out


def weight_shape_to_mapping(shape: WeightShape) -> dict:
    """The `weights:` mapping of a spec YAML: required keys and every non-default value."""
    return _non_default(shape)
