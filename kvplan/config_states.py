"""Recurrent-state sizes read from a config: what one state layer keeps per sequence.

Each family's state, as its modeling code allocates it (transformers 5.25 unless noted), with
the convolution keeping kernel - 1 inputs (what the update needs, as vLLM keeps it):

- mamba (Mamba-1: Jamba, Mamba, FalconMamba): conv inner x (d_conv - 1), SSM inner x d_state
- mamba2 (Bamba, Granite-4.0-H, Nemotron-H, Falcon-H1, Mamba-2): conv (inner + 2 x groups x
  d_state) x (d_conv - 1), SSM heads x head_dim x d_state
- gated_delta (Qwen3-Next, Qwen3.5): conv (2 x key heads x key dim + value heads x value dim)
  x (kernel - 1), state value heads x key dim x value dim
- lightning (MiniMax-Text-01 / M1 linear attention): one heads x head_dim x head_dim matrix
- kda (Kimi-Linear's delta attention): conv 3 x heads x head_dim x (kernel - 1) for the short
  q, k, v convolutions, state heads x head_dim x head_dim
- rg_lru (RecurrentGemma): conv lru_width x (conv1d_width - 1), state lru_width (kept in fp32)
- short_conv (LFM2): conv hidden_size x (conv_L_cache - 1), no recurrent state

A model type outside these families is refused when its layers hold a state: kvplan does not
guess a state's size from key names.
"""

from kvplan.config_defaults import DERIVED
from kvplan.config_reader import ConfigReader
from kvplan.errors import SpecError

FAMILY_OF_TYPE = {
    "jamba": "mamba",
    "mamba": "mamba",
    "falcon_mamba": "mamba",
    "bamba": "mamba2",
    "granitemoehybrid": "mamba2",
    "nemotron_h": "mamba2",
    "falcon_h1": "mamba2",
    "mamba2": "mamba2",
    "qwen3_next": "gated_delta",
    "qwen3_5_text": "gated_delta",
    "qwen3_5_moe_text": "gated_delta",
    "minimax": "lightning",
    "minimax_text_01": "lightning",
    "minimax_m1": "lightning",
    "kimi_linear": "kda",
    "recurrent_gemma": "rg_lru",
    "lfm2": "short_conv",
}

# Families whose recurrent part transformers keeps in float32 whatever the model dtype.
FP32_STATE_FAMILIES = ("rg_lru",)


def state_family(reader: ConfigReader) -> str:
    """The state family of the config's model type (or of its gated-delta keys)."""
    family = FAMILY_OF_TYPE.get(reader.model_type)
    if family is None and reader.present("linear_num_value_heads"):
        family = "gated_delta"  # the keys name the mechanism (Qwen3-Next's)
    if family is None:
        known = ", ".join(sorted(FAMILY_OF_TYPE))
        raise SpecError(
            f"{reader.where}: some layers keep a recurrent state, whose size kvplan reads "
            f"only for model types {known}; model type {reader.model_type or '(none)'!r} is "
            "not one of them: write a spec YAML with conv_values and ssm_values "
            "(docs/specs.md)",
            field="model_type",
        )
    return family


def state_values(reader: ConfigReader, hidden: int) -> tuple[int, int, str]:
    """(conv values, recurrent values, label) one state layer keeps per sequence."""
    family = state_family(reader)
    conv, ssm = _READERS[family](reader, hidden)
    return conv, ssm, _LABELS.get(family, family)


# The state_kind a layer shows; the gated delta rule keeps its older, wider name.
_LABELS = {"gated_delta": "linear_attention"}


def _gated_delta(reader: ConfigReader, hidden: int) -> tuple[int, int]:
    n_k = reader.integer("linear_num_key_heads")
    n_v = reader.integer("linear_num_value_heads")
    d_k = reader.integer("linear_key_head_dim")
    d_v = reader.integer("linear_value_head_dim")
    kernel = reader.integer("linear_conv_kernel_dim")
    conv_channels = 2 * n_k * d_k + n_v * d_v
    return conv_channels * (kernel - 1), n_v * d_k * d_v


def _mamba(reader: ConfigReader, hidden: int) -> tuple[int, int]:
    if reader.model_type == "jamba":  # its intermediate_size is the MLP's, not Mamba's
        inner = reader.integer("mamba_expand") * hidden
    else:  # MambaConfig: intermediate_size = expand x hidden_size when not given
        expand = reader.get("expand", default=None)
        inner = reader.integer(
            "intermediate_size", default=expand * hidden if expand else None
        )
        if inner is None:
            raise reader.missing(("intermediate_size", "expand"))
    conv = reader.integer("mamba_d_conv", "conv_kernel", "d_conv")
    state = reader.integer("mamba_d_state", "state_size", "ssm_state_size")
    return inner * (conv - 1), inner * state


def _mamba2_head_keys(reader: ConfigReader) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Keys of the Mamba heads and head dim; a pure Mamba-2 config names them plainly."""
    heads = ("mamba_num_heads", "mamba_n_heads")
    head_dim = ("mamba_head_dim", "mamba_d_head", "mamba_headdim")
    if reader.model_type == "mamba2":
        return ("num_heads",), ("head_dim",)
    return heads, head_dim


def _mamba2(reader: ConfigReader, hidden: int) -> tuple[int, int]:
    heads_keys, dim_keys = _mamba2_head_keys(reader)
    expand = reader.integer("mamba_expand", "expand")
    heads = reader.integer(*heads_keys)
    head_dim = reader.get(*dim_keys)
    if head_dim == "auto":  # Bamba / Granite: mamba_expand x hidden / mamba_n_heads
        head_dim = expand * hidden // heads
        reader.readings.append(
            f"{dim_keys[0]} auto = mamba_expand x hidden_size / heads = {head_dim}"
        )
    elif not isinstance(head_dim, int) or isinstance(head_dim, bool) or head_dim <= 0:
        raise SpecError(
            f"{reader.where}: {dim_keys[0]} must be a positive integer or 'auto', "
            f"got {head_dim!r}",
            field=dim_keys[0],
        )
    inner = reader.integer("mamba_d_ssm", default=heads * head_dim)
    groups = reader.integer("n_groups", "mamba_n_groups", "mamba_ngroups")
    state = reader.integer("ssm_state_size", "mamba_d_state", "state_size")
    conv = reader.integer("conv_kernel", "mamba_d_conv", "d_conv")
    conv_channels = inner + 2 * groups * state
    return conv_channels * (conv - 1), heads * head_dim * state


def _lightning(reader: ConfigReader, hidden: int) -> tuple[int, int]:
    heads = reader.integer("num_attention_heads")
    head_dim = reader.get("head_dim", default=None)
    if head_dim in (None, DERIVED):  # MiniMax's code: head_dim or hidden / heads
        head_dim = hidden // heads
    else:
        head_dim = reader.integer("head_dim")
    reader.readings.append(
        f"lightning linear attention: one {heads} heads x {head_dim} x {head_dim} state "
        "per layer (K^T V), no convolution"
    )
    return 0, heads * head_dim * head_dim


def _kda(reader: ConfigReader, hidden: int) -> tuple[int, int]:
    # KimiLinearConfig takes these from linear_attn_config when the checkpoint has it
    nested = reader.get("linear_attn_config", default=None) or {}
    heads = _positive(reader, nested, "num_heads", "linear_num_heads")
    head_dim = _positive(reader, nested, "head_dim", "linear_head_dim")
    kernel = _positive(
        reader, nested, "short_conv_kernel_size", "linear_conv_kernel_dim"
    )
    channels = heads * head_dim
    return 3 * channels * (kernel - 1), heads * head_dim * head_dim


def _positive(reader: ConfigReader, nested: dict, key: str, flat: str) -> int:
    """linear_attn_config[key], else the flat key (or its type default)."""
    if key in nested:
        value = nested[key]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise SpecError(
                f"{reader.where}: linear_attn_config.{key} must be a positive integer, "
                f"got {value!r}",
                field=f"linear_attn_config.{key}",
            )
        return value
    return reader.integer(flat)


def _rg_lru(reader: ConfigReader, hidden: int) -> tuple[int, int]:
    width = reader.integer("lru_width", default=hidden)
    conv = reader.integer("conv1d_width")
    return width * (conv - 1), width


def _short_conv(reader: ConfigReader, hidden: int) -> tuple[int, int]:
    # Lfm2ShortConv convolves hidden_size channels; old configs repeat it as conv_dim
    for key in ("conv_dim", "conv_dim_out"):
        given = reader.get(key, default=hidden)
        if given != hidden:
            raise SpecError(
                f"{reader.where}: {key} {given!r} differs from hidden_size {hidden}, "
                "which LFM2's convolution uses; kvplan will not pick one",
                field=key,
            )
    cache = reader.integer("conv_L_cache")
    return hidden * (cache - 1), 0


_READERS = {
    "gated_delta": _gated_delta,
    "mamba": _mamba,
    "mamba2": _mamba2,
    "lightning": _lightning,
    "kda": _kda,
    "rg_lru": _rg_lru,
    "short_conv": _short_conv,
}
