"""ModelSpec and Layer: the one vocabulary for a model's attention geometry.

A spec is a list of layers, each with its own kind and geometry, so a model whose local and
global layers differ (windows, KV heads, head dims) is described as it is, never flattened.
Layers with equal geometry form a LayerGroup; the arithmetic works group by group.

Kinds, and what one layer holds per sequence:
- full:     every token's K and V
- sliding:  the K and V of at most `window_tokens` tokens
- chunked:  the K and V of at most `window_tokens` tokens (the current attention chunk)
- mla:      one latent of kv_lora_rank + rope_dim values per token (or, expanded, full K/V)
- state:    a fixed recurrent state (Mamba conv + SSM, linear attention), whatever the context
- shared:   nothing: it reads another layer's K and V
- mlp:      nothing: a block with no attention and no state (hybrid stacks' MLP blocks)

An attention layer may also keep compressed entries (DeepSeek-V4's CSA/HCA): one entry of
`compressed_dims` values per `compress_ratio` tokens, for the whole context, beside its window.

An attention layer may also carry a state (conv_values, ssm_values): a parallel hybrid layer
(Falcon-H1, Zamba2) that runs attention and a Mamba mixer side by side.
"""

from collections import Counter
from dataclasses import dataclass, replace

from kvplan.errors import SpecError
from kvplan.weight_shape import WeightShape

ATTENTION_KINDS = ("full", "sliding", "chunked")

# The most layers a spec may have: real models have a few hundred (Llama-3.1-405B: 126), so a
# larger count is a typo or an attack on memory, refused before any list is built.
MAX_LAYERS = 10_000
KINDS = (*ATTENTION_KINDS, "mla", "state", "shared", "mlp")
MLA_MODES = ("latent", "expanded")


def _require_positive(value: object, name: str, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SpecError(
            f"{where}: {name} must be a positive integer, got {value!r}", field=name
        )


@dataclass(frozen=True, kw_only=True)
class Layer:
    """One layer's cache geometry; which fields apply depends on `kind`."""

    kind: str
    n_kv_heads: int = 0  # attention kinds; for mla, the heads of the expanded form
    head_dim_k: int = 0
    head_dim_v: int = 0
    window_tokens: int | None = None  # sliding window or attention chunk, in tokens
    kv_lora_rank: int = 0  # mla: compressed KV width
    rope_dim: int = 0  # mla: decoupled rotary key width (qk_rope_head_dim)
    index_head_dim: int = 0  # mla with a sparse-attention indexer: its key per token
    conv_values: int = 0  # state: convolution state values per sequence
    ssm_values: int = (
        0  # state: recurrent (SSM or linear-attention) values per sequence
    )
    state_kind: str = ""  # state: mamba, mamba2, linear_attention, ... (display only)
    kv_shared: bool = False  # K and V are one tensor (DeepSeek-V4's K=V attention)
    compress_ratio: int = (
        0  # one compressed entry per this many tokens, for all the context
    )
    compressed_dims: tuple[
        int, ...
    ] = ()  # values of each row one compressed entry stores

    def __post_init__(self) -> None:
        where = f"{self.kind} layer"
        if self.kind not in KINDS:
            raise SpecError(
                f"unknown layer kind {self.kind!r}; expected one of {', '.join(KINDS)}",
                field="kind",
            )
        if self.kind in ATTENTION_KINDS or self.kind == "mla":
            for name in ("n_kv_heads", "head_dim_k", "head_dim_v"):
                _require_positive(getattr(self, name), name, where)
        if self.kind in ("sliding", "chunked"):
            _require_positive(self.window_tokens, "window_tokens", where)
        elif self.window_tokens is not None:
            raise SpecError(
                f"{where}: window_tokens applies only to sliding and chunked"
            )
        if self.kind == "mla":
            _require_positive(self.kv_lora_rank, "kv_lora_rank", where)
            _require_positive(self.rope_dim, "rope_dim", where)
        if self.kind == "state" and self.conv_values + self.ssm_values <= 0:
            raise SpecError(f"{where}: conv_values + ssm_values must be positive")
        if self.kind in ("shared", "mlp", "mla") and self.conv_values + self.ssm_values:
            raise SpecError(f"{where}: only state and attention layers carry a state")
        if self.kind != "mla":
            for name in ("kv_lora_rank", "rope_dim", "index_head_dim"):
                if getattr(self, name):
                    raise SpecError(
                        f"{where}: {name} applies only to mla layers", field=name
                    )
        if self.kv_shared and (
            self.kind not in ATTENTION_KINDS or self.head_dim_k != self.head_dim_v
        ):
            raise SpecError(
                f"{where}: kv_shared (one tensor for K and V) needs an attention layer "
                f"with head_dim_k == head_dim_v, got {self.head_dim_k} and {self.head_dim_v}",
                field="kv_shared",
            )
        if self.compressed_dims and not self.compress_ratio:
            raise SpecError(
                f"{where}: compressed_dims needs compress_ratio", field="compress_ratio"
            )
        if self.compress_ratio:
            _require_positive(self.compress_ratio, "compress_ratio", where)
            if not self.compressed_dims or self.kind not in ATTENTION_KINDS:
                raise SpecError(
                    f"{where}: compress_ratio needs compressed_dims on an attention layer",
                    field="compressed_dims",
                )
            for dim in self.compressed_dims:
                _require_positive(dim, "compressed_dims", where)

    @property
    def label(self) -> str:
        """Short form used in layouts and tables: `full`, `sliding(4096)`, `mla(512+64)`."""
        if self.compress_ratio:
            return (
                f"{self.kind}({self.window_tokens})+compressed(1/{self.compress_ratio})"
            )
        if self.kind in ("sliding", "chunked"):
            return f"{self.kind}({self.window_tokens})"
        if self.kind == "mla":
            return f"mla({self.kv_lora_rank}+{self.rope_dim})"
        if self.kind == "state":
            return f"state({self.state_kind})" if self.state_kind else "state"
        if self.conv_values + self.ssm_values:
            return (
                f"{self.kind}+state({self.state_kind})"
                if self.state_kind
                else f"{self.kind}+state"
            )
        return self.kind

    @property
    def holds_kv(self) -> bool:
        """Whether the layer stores per-token K/V (or a latent) that grows with context."""
        return self.kind in ATTENTION_KINDS or self.kind == "mla"

    def sharded(self, tp: int) -> "Layer":
        """This layer as one tensor-parallel rank of `tp` holds it.

        KV heads split across ranks; when TP exceeds the KV heads each rank keeps a whole
        replica of one head (never a fraction). The MLA latent is shared by all heads, so every
        rank holds all of it. State layers split their heads and channels evenly.
        """
        if tp == 1 or self.kind in ("shared", "mlp"):
            return self
        layer = self
        if self.kind in ATTENTION_KINDS or self.kind == "mla":
            layer = replace(self, n_kv_heads=_heads_per_rank(self.n_kv_heads, tp))
        if not self.conv_values + self.ssm_values:
            return layer
        for name in ("conv_values", "ssm_values"):
            if getattr(self, name) % tp:
                raise SpecError(
                    f"TP {tp} does not divide the {self.state_kind or 'state'} layer's "
                    f"{name} ({getattr(self, name)})",
                    field="tp",
                )
        return replace(
            layer, conv_values=self.conv_values // tp, ssm_values=self.ssm_values // tp
        )


def _heads_per_rank(n_kv_heads: int, tp: int) -> int:
    """KV heads one rank holds: kv/tp when TP divides them, 1 (a replica) when TP is a multiple."""
    if n_kv_heads % tp == 0:
        return n_kv_heads // tp
    if tp % n_kv_heads == 0:
        return 1
    raise SpecError(
        f"TP {tp} neither divides the {n_kv_heads} KV heads nor is a multiple of them",
        field="tp",
    )


@dataclass(frozen=True)
class LayerGroup:
    """Layers of equal geometry, and how many of them the model (or a stage) has."""

    layer: Layer
    count: int


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """A model's validated, immutable attention geometry, with where each value came from."""

    name: str
    layers: tuple[Layer, ...]
    n_heads: int
    n_kv_heads: int
    head_dim: int
    hidden_size: int
    dtype: str = "bf16"
    max_positions: int | None = None
    model_type: str = ""
    source: str = ""
    state_dtype: str = ""  # dtype of recurrent state layers; empty means `dtype`
    ssm_dtype: str = ""  # dtype of the recurrent (SSM) part alone; empty: `state_dtype`
    defaults_used: tuple[str, ...] = ()  # values taken from type defaults (printed)
    readings: tuple[str, ...] = ()  # how a config was interpreted (printed)
    notes: tuple[
        str, ...
    ] = ()  # provenance of a spec file (shown by `kvplan spec` only)
    weights: WeightShape | None = None  # what a parameter count needs; None: not known

    def __post_init__(self) -> None:
        where = f"model {self.name!r}"
        if not self.name:
            raise SpecError("a model spec needs a name", field="name")
        if not self.layers:
            raise SpecError(
                f"{where}: n_layers must be a positive integer", field="n_layers"
            )
        if len(self.layers) > MAX_LAYERS:
            raise SpecError(
                f"{where}: {len(self.layers):,} layers; at most {MAX_LAYERS:,} are accepted",
                field="n_layers",
            )
        _require_positive(self.hidden_size, "hidden_size", where)
        attention = any(layer.holds_kv for layer in self.layers)
        for name in ("n_heads", "n_kv_heads", "head_dim"):
            if attention or getattr(self, name) != 0:  # 0: a model with no attention
                _require_positive(getattr(self, name), name, where)
        if self.max_positions is not None:
            _require_positive(self.max_positions, "max_positions", where)
        for index, layer in enumerate(self.layers):
            if layer.kind in ATTENTION_KINDS and self.n_heads % layer.n_kv_heads:
                raise SpecError(
                    f"{where}: layer {index} has {layer.n_kv_heads} KV heads, which do not "
                    f"divide the {self.n_heads} query heads (GQA needs n_heads % n_kv_heads == 0)",
                    field="n_kv_heads",
                )

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def groups(self) -> tuple[LayerGroup, ...]:
        """Distinct layer geometries in order of first appearance, with their counts."""
        counts = Counter(self.layers)
        return tuple(
            LayerGroup(layer, counts[layer]) for layer in dict.fromkeys(self.layers)
        )

    @property
    def layout(self) -> str:
        """The layer kinds in short form, such as `26 sliding(4096) + 26 full`."""
        counts = Counter(layer.label for layer in self.layers)
        return " + ".join(f"{n} {label}" for label, n in counts.items())

    def with_layers(
        self, layers: tuple[Layer, ...], *, name: str | None = None
    ) -> "ModelSpec":
        """The same model with another layer list (a pipeline stage, the first N layers)."""
        return replace(self, layers=tuple(layers), name=name or self.name)
