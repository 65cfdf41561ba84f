"""Query heads, KV heads and head_dim from a config, with every spelling the configs use.

MQA and GQA are spelled many ways: ChatGLM's `multi_query_attention` + `multi_query_group_num`,
Falcon's `new_decoder_architecture` + `num_kv_heads` (FalconConfig: absent means MHA), Falcon-7B
and GPTBigCode's `multi_query` (true = one KV head, false = MHA), DBRX and MPT's nested
`attn_config` (`kv_n_heads`; MPT's `attn_type`), and the plain `num_key_value_heads` family.
"""

from kvplan.config_blocks import block_kv_heads, has_blocks
from kvplan.config_defaults import DERIVED, SAME_AS_HEADS
from kvplan.config_reader import ConfigReader
from kvplan.configs import HEAD_DIM, HEADS, KV_HEADS, LAYERS
from kvplan.errors import SpecError


def _mha(reader: ConfigReader, n_heads: int, why: str) -> tuple[int, int]:
    reader.readings.append(f"{why}: {n_heads} KV heads (MHA)")
    return n_heads, n_heads


def _kv_or_mha(reader: ConfigReader, n_heads: int, why: str) -> tuple[int, int]:
    """The KV-head key when given, else MHA (the rule of the types that call this)."""
    if reader.present(*KV_HEADS):
        return n_heads, reader.integer(*KV_HEADS)
    return _mha(reader, n_heads, why)


def _attn_config(reader: ConfigReader, n_heads: int) -> tuple[int, int]:
    """DBRX and MPT keep their attention settings in a nested attn_config."""
    config = reader.get("attn_config", default=None) or {}
    if not isinstance(config, dict):
        raise SpecError(
            f"{reader.where}: attn_config must be a mapping, got {config!r}",
            field="attn_config",
        )
    window = config.get("sliding_window_size", -1)
    if window not in (-1, None):
        raise SpecError(
            f"{reader.where}: attn_config.sliding_window_size {window!r} is not read by "
            "kvplan; write a spec YAML (docs/specs.md)",
            field="attn_config.sliding_window_size",
        )
    if reader.model_type == "dbrx":
        kv = config.get("kv_n_heads", 1)  # DbrxAttentionConfig: kv_n_heads = 1
        reader.readings.append(f"attn_config.kv_n_heads: {kv} KV heads")
        return n_heads, _agreeing(
            reader, _positive(reader, "attn_config.kv_n_heads", kv)
        )
    kind = config.get("attn_type", "multihead_attention")
    if kind == "multihead_attention":
        return _mha(reader, n_heads, "attn_config.attn_type multihead_attention")
    if kind == "multiquery_attention":
        reader.readings.append("attn_config.attn_type multiquery_attention: 1 KV head")
        return n_heads, 1
    if kind == "grouped_query_attention":
        kv = _positive(reader, "attn_config.kv_n_heads", config.get("kv_n_heads"))
        return n_heads, kv
    raise SpecError(
        f"{reader.where}: attn_config.attn_type {kind!r} is unknown to kvplan; expected "
        "multihead_attention, multiquery_attention or grouped_query_attention",
        field="attn_config.attn_type",
    )


def _agreeing(reader: ConfigReader, kv: int, *, ignored: tuple[str, ...] = ()) -> int:
    """KV heads found another way; a KV-head key the config also gives must agree."""
    for key in KV_HEADS:
        given = reader.data.get(key)
        reader.present(key)
        if given is not None and given != kv and key not in ignored:
            raise SpecError(
                f"{reader.where}: {key} = {given!r} disagrees with the {kv} KV heads the "
                "model's code uses; kvplan will not pick one",
                field=key,
            )
    return kv


def _positive(reader: ConfigReader, key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SpecError(
            f"{reader.where}: {key} must be a positive integer, got {value!r}",
            field=key,
        )
    return value


def read_heads(reader: ConfigReader) -> tuple[int, int | list]:
    """Query heads and KV heads (a list where the config gives one per layer)."""
    n_heads = reader.integer(*HEADS)
    if has_blocks(reader):  # DeciLM / Nemotron NAS: KV heads per layer in block_configs
        return n_heads, block_kv_heads(reader, n_heads, reader.integer(*LAYERS))
    if reader.model_type in ("dbrx", "mpt"):
        return _attn_config(reader, n_heads)
    if (
        reader.present("multi_query_attention")
        or "multi_query_attention" in reader.defaults
    ):
        if reader.flag("multi_query_attention"):
            return n_heads, reader.integer("multi_query_group_num")
        return _mha(reader, n_heads, "multi_query_attention is false")
    if reader.flag("new_decoder_architecture"):
        # FalconConfig: num_kv_heads defaults to num_attention_heads
        return _kv_or_mha(
            reader, n_heads, "new_decoder_architecture without num_kv_heads"
        )
    if reader.present("multi_query") or "multi_query" in reader.defaults:
        if reader.flag("multi_query"):
            reader.readings.append("multi_query: true means one KV head (MQA)")
            # FalconAttention ignores num_kv_heads then (its config may still carry one)
            ignored = ("num_kv_heads",) if reader.model_type == "falcon" else ()
            return n_heads, _agreeing(reader, 1, ignored=ignored)
        return _kv_or_mha(reader, n_heads, "multi_query is false")
    value = reader.get(*KV_HEADS)
    if value == SAME_AS_HEADS:
        return _mha(
            reader, n_heads, f"no num_key_value_heads, as {reader.model_type} assumes"
        )
    if isinstance(value, list):
        return n_heads, value
    return n_heads, reader.integer(*KV_HEADS)


def read_head_dim(reader: ConfigReader, hidden: int, n_heads: int) -> int | list:
    """head_dim as given; derived from hidden/heads only where the type's code derives it."""
    value = reader.get(*HEAD_DIM)
    if value == DERIVED:
        if hidden % n_heads:
            raise SpecError(
                f"{reader.where}: hidden_size {hidden} is not a multiple of {n_heads} heads, "
                "so head_dim cannot be derived; add head_dim",
                field="head_dim",
            )
        reader.readings.append(
            f"head_dim = hidden_size / num_attention_heads = {hidden} / {n_heads} = "
            f"{hidden // n_heads} (no head_dim key; {reader.model_type} derives it so)"
        )
        return hidden // n_heads
    if isinstance(value, list):
        return value
    return reader.integer(*HEAD_DIM)
