"""Layer layouts of hybrid and recurrent types whose configs do not list their layers.

Each rule is its config class's (transformers 5.25) or remote code's, as in config_layout.py,
which holds them in RULES: MiniMax's `attn_type_list`, Bamba's `attn_layer_indices`,
Kimi-Linear's `linear_attn_config`, RecurrentGemma's `block_types`, LFM2's `full_attn_idxs`,
Nemotron-H's default, and the types whose every layer is a recurrent state.
"""

from kvplan.config_reader import ConfigReader
from kvplan.errors import SpecError

Kinds = tuple[list[str], str]


def minimax(reader: ConfigReader, n: int) -> Kinds:
    # MiniMax's checkpoints list attn_type_list (1 = softmax attention, 0 = lightning
    # linear attention); without it transformers' MiniMaxConfig alternates, full first
    if reader.present("attn_type_list"):
        flags = reader.data["attn_type_list"]
        check_list(reader, "attn_type_list", flags, n)
        if any(flag not in (0, 1) for flag in flags):
            raise SpecError(
                f"{reader.where}: attn_type_list holds 0 (linear) or 1 (full), got "
                f"{sorted({f for f in flags if f not in (0, 1)}, key=str)[0]!r}",
                field="attn_type_list",
            )
        kinds = ["full" if flag == 1 else "state" for flag in flags]
        return (
            kinds,
            "attn_type_list (1 = full attention, 0 = lightning linear attention)",
        )
    if reader.model_type != "minimax":
        raise _needs(reader, "attn_type_list")
    kinds = ["full" if (i + 1) % 2 else "state" for i in range(n)]
    return (
        kinds,
        "minimax alternates full (even layers) and linear attention (odd layers)",
    )


def minimax_m2(reader: ConfigReader, n: int) -> Kinds:
    # MiniMaxM2Config has no linear attention: its checkpoints' attn_type_list (kept from
    # MiniMax-Text-01's remote code) lists 1, softmax attention, for every layer
    if not reader.present("attn_type_list"):
        return ["full"] * n, ""
    kinds, _ = minimax(reader, n)
    if "state" in kinds:
        raise SpecError(
            f"{reader.where}: attn_type_list lists 0 (lightning linear attention) for "
            f"layer {kinds.index('state')}, but model type minimax_m2 has none in its code; "
            "write a spec YAML (docs/specs.md)",
            field="attn_type_list",
        )
    return kinds, "attn_type_list: 1 on every layer, softmax attention throughout"


def bamba(reader: ConfigReader, n: int) -> Kinds:
    # BambaConfig: full attention on attn_layer_indices, Mamba-2 elsewhere
    indices = reader.get("attn_layer_indices", default=None) or []
    check_indices(reader, "attn_layer_indices", indices, n, base=0)
    kinds = ["full" if i in indices else "state" for i in range(n)]
    return kinds, f"attention on attn_layer_indices {indices}, Mamba-2 elsewhere"


def all_state(reader: ConfigReader, n: int) -> Kinds:
    return ["state"] * n, f"{reader.model_type}: every layer a recurrent state"


def nemotron_h(reader: ConfigReader, n: int) -> Kinds:
    # NemotronHConfig's default is the 4-layer list (Mamba, MoE, attention, MLP)
    if n != 4:
        raise SpecError(
            f"{reader.where}: missing hybrid_override_pattern / layers_block_type; "
            f"nemotron_h's own default lists 4 layers (M E * -), not {n}",
            field="hybrid_override_pattern",
        )
    return ["state", "mlp", "full", "mlp"], "nemotron_h default layers (M E * -)"


def kimi_linear(reader: ConfigReader, n: int) -> Kinds:
    # KimiLinearConfig: linear_attn_config lists full_attn_layers and kda_layers, 1-indexed;
    # without them layer i is full when i > 0 and i % 4 == 0
    config = reader.get("linear_attn_config", default=None) or {}
    if "full_attn_layers" in config and "kda_layers" in config:
        full, kda = config["full_attn_layers"], config["kda_layers"]
        check_indices(reader, "linear_attn_config.full_attn_layers", full, n, base=1)
        check_indices(reader, "linear_attn_config.kda_layers", kda, n, base=1)
        kinds = ["full" if i + 1 in full else "state" for i in range(n)]
        if sorted([*full, *kda]) != list(range(1, n + 1)):
            raise SpecError(
                f"{reader.where}: linear_attn_config's full_attn_layers and kda_layers "
                f"must together list layers 1 to {n} once each",
                field="linear_attn_config",
            )
        return (
            kinds,
            "linear_attn_config: full_attn_layers MLA, kda_layers linear (1-indexed)",
        )
    kinds = ["full" if i and i % 4 == 0 else "state" for i in range(n)]
    return kinds, "kimi_linear: layers 4, 8, ... full attention, the others linear"


def recurrent_gemma(reader: ConfigReader, n: int) -> Kinds:
    # RecurrentGemmaConfig: block_types repeated to the depth; attention blocks are local
    blocks = reader.get("block_types")
    if not isinstance(blocks, list) or not blocks:
        raise SpecError(
            f"{reader.where}: block_types must be a non-empty list", field="block_types"
        )
    words = {"recurrent": "state", "attention": "sliding"}
    unknown = [b for b in blocks if b not in words]
    if unknown:
        raise SpecError(
            f"{reader.where}: block_types has {unknown[0]!r}; expected recurrent or attention",
            field="block_types",
        )
    kinds = [words[blocks[i % len(blocks)]] for i in range(n)]
    return kinds, f"block_types {blocks} repeated; attention blocks are local (sliding)"


def lfm2(reader: ConfigReader, n: int) -> Kinds:
    # Lfm2Config: full attention on full_attn_idxs (default: every layer), short conv elsewhere
    indices = reader.get("full_attn_idxs", default=None)
    reader.present("conv_L_cache")  # read: it sizes the conv layers, if any
    if indices is None:
        return [
            "full"
        ] * n, "no full_attn_idxs: every layer full attention (lfm2 default)"
    check_indices(reader, "full_attn_idxs", indices, n, base=0)
    kinds = ["full" if i in indices else "state" for i in range(n)]
    return kinds, "full attention on full_attn_idxs, short convolutions elsewhere"


def check_list(reader: ConfigReader, key: str, values, n: int) -> None:
    """A per-layer list: a list, one entry per layer (else an error naming the key)."""
    if not isinstance(values, list):
        raise SpecError(
            f"{reader.where}: {key} must be a list with one entry per layer, got "
            f"{type(values).__name__} {values!r}",
            field=key,
        )
    if len(values) != n:
        raise SpecError(
            f"{reader.where}: {key} lists {len(values)} layers but the model has {n}",
            field=key,
        )


def check_indices(reader: ConfigReader, key: str, values, n: int, *, base: int) -> None:
    """A list of distinct layer indices, each in [base, n - 1 + base]."""
    ok = isinstance(values, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in values
    )
    if not ok:
        raise SpecError(
            f"{reader.where}: {key} must be a list of layer indices, got {values!r}",
            field=key,
        )
    bad = [v for v in values if not base <= v < n + base]
    if bad or len(set(values)) != len(values):
        what = f"index {bad[0]} outside {base}..{n - 1 + base}" if bad else "repeats"
        raise SpecError(
            f"{reader.where}: {key} {what} (the model has {n} layers)", field=key
        )


def _needs(reader: ConfigReader, key: str) -> SpecError:
    return SpecError(
        f"{reader.where}: missing {key}: model type {reader.model_type!r} takes its layer "
        f"layout from it; add it, or write a spec YAML (docs/specs.md)",
        field=key,
    )
