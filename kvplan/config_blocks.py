"""Per-layer `block_configs` of DeciLM / Llama-Nemotron NAS models (model_type nemotron-nas).

Llama-3.3-Nemotron-Super-49B and its kin are Llama models pruned layer by layer: each entry of
`block_configs` says what its layer's attention became (the model's remote code
modeling_decilm.py, its VariableCache, and vLLM's nemotron_nas.py agree):
- `no_op: true`: no attention at all, so no cache in that layer;
- `replace_with_linear: true`: one linear map instead of attention, no cache either;
- otherwise attention with num_attention_heads / `n_heads_in_group` KV heads.
Any other attention setting of a block (a window, sink tokens, sparsity, a Mamba or Llama-4
block) changes that layer's cache in ways kvplan does not read: refused, naming it. The
top-level num_key_value_heads of these configs is null: the blocks hold the KV heads.
"""

from kvplan.config_reader import ConfigReader
from kvplan.errors import SpecError

KEY = "block_configs"
# Attention keys read; every other key of a block's attention must be null or false.
_READ = ("n_heads_in_group", "no_op", "replace_with_linear")


def has_blocks(reader: ConfigReader) -> bool:
    """Whether the config describes its layers one by one in block_configs."""
    return reader.present(KEY) is not None


def _attention(reader: ConfigReader, n_layers: int) -> list[dict]:
    """Each layer's attention block, checked: a mapping, settings kvplan reads or unset."""
    blocks = reader.data[KEY]
    if not isinstance(blocks, list) or len(blocks) != n_layers:
        given = len(blocks) if isinstance(blocks, list) else type(blocks).__name__
        raise SpecError(
            f"{reader.where}: {KEY} must list one block per layer ({n_layers}), got {given}",
            field=KEY,
        )
    attention = []
    for index, block in enumerate(blocks):
        entry = block.get("attention") if isinstance(block, dict) else None
        if not isinstance(entry, dict):
            raise SpecError(
                f"{reader.where}: {KEY}[{index}] has no attention mapping",
                field=KEY,
            )
        unread = [
            k for k, v in entry.items() if k not in _READ and v not in (None, False)
        ]
        if unread:
            raise SpecError(
                f"{reader.where}: {KEY}[{index}].attention.{unread[0]} = "
                f"{entry[unread[0]]!r} changes that layer's cache in a way kvplan does not "
                "read; write a spec YAML (docs/specs.md)",
                field=f"{KEY}.attention.{unread[0]}",
            )
        attention.append(entry)
    return attention


def _caches(entry: dict) -> bool:
    return not (entry.get("no_op") or entry.get("replace_with_linear"))


def block_kv_heads(reader: ConfigReader, n_heads: int, n_layers: int) -> list[int]:
    """KV heads per layer: n_heads / n_heads_in_group; 0 for a layer without attention."""
    reader.present("num_key_value_heads")  # null in these configs: the blocks say
    heads = []
    for index, entry in enumerate(_attention(reader, n_layers)):
        if not _caches(entry):
            heads.append(0)
            continue
        group = entry.get("n_heads_in_group")
        if isinstance(group, bool) or not isinstance(group, int) or group <= 0:
            raise SpecError(
                f"{reader.where}: {KEY}[{index}].attention.n_heads_in_group must be a "
                f"positive integer, got {group!r}",
                field=f"{KEY}.attention.n_heads_in_group",
            )
        if n_heads % group:
            raise SpecError(
                f"{reader.where}: {KEY}[{index}].attention.n_heads_in_group {group} does "
                f"not divide the {n_heads} query heads",
                field=f"{KEY}.attention.n_heads_in_group",
            )
        heads.append(n_heads // group)
    if not any(heads):
        raise SpecError(
            f"{reader.where}: every layer of {KEY} is no_op or replace_with_linear: "
            "no attention layer holds a cache",
            field=KEY,
        )
    return heads


def block_kinds(reader: ConfigReader, n_layers: int) -> tuple[list[str], str]:
    """full for a layer with attention, mlp (no cache) for a no_op or linear one."""
    kinds = [
        "full" if _caches(entry) else "mlp" for entry in _attention(reader, n_layers)
    ]
    skipped = kinds.count("mlp")
    return kinds, (
        f"{KEY}: {n_layers - skipped} layers with attention, {skipped} without "
        "(no_op or replace_with_linear: no cache)"
    )
