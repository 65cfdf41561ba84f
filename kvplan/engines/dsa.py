"""DeepSeek sparse attention (DeepSeek-V3.2): how engines store the latent and indexer key.

A DSA layer is an MLA layer whose lightning indexer keeps one key of `index_head_dim` values
per token. The layout (`kvplan estimate`) counts both in the cache dtype; the engines do not:

- vLLM (`DeepseekV32IndexerCache`) and SGLang (`NSATokenToKVPool`) store the indexer key as
  uint8: index_head_dim fp8 values and one fp32 scale per 128 of them, 128 + 4 = 132 B,
  whatever the cache dtype;
- with an fp8 cache the latent is one 656-byte row (vLLM's `fp8_ds_mla`, SGLang's
  `kv_cache_dim` override): kv_lora_rank fp8 values, one fp32 scale per 128 of them and the
  rope part kept in bf16: 512 + 4 x 4 + 64 x 2 = 656 B.

Each engine profile applies the parts it uses (engines/vllm.py, engines/sglang.py).
"""

from dataclasses import replace

from kvplan.sizing import GroupCost

# Values that share one fp32 scale, in the indexer key and in the fp8 latent row.
QUANT_BLOCK = 128
FP32_BYTES = 4
ROPE_BYTES = 2  # the rope part of an fp8 latent row stays in bf16


def is_dsa(g: GroupCost) -> bool:
    """Whether the group is an MLA layer with a sparse-attention indexer."""
    return g.layer.kind == "mla" and bool(g.layer.index_head_dim)


def latent_values(g: GroupCost) -> int:
    """Values of one token's latent: kv_lora_rank + rope_dim (576 for DeepSeek-V3.2)."""
    return g.layer.kv_lora_rank + g.layer.rope_dim


def index_key_bytes(g: GroupCost) -> int:
    """Bytes of one token's indexer key as uint8: fp8 values + an fp32 scale per 128."""
    dim = g.layer.index_head_dim
    return dim + dim // QUANT_BLOCK * FP32_BYTES


def fp8_latent_bytes(g: GroupCost) -> int:
    """Bytes of one fp8 latent row with inline scales and a bf16 rope part (656)."""
    rank = g.layer.kv_lora_rank
    return rank + rank // QUANT_BLOCK * FP32_BYTES + g.layer.rope_dim * ROPE_BYTES


def value_bytes(g: GroupCost) -> int:
    """Bytes per value of the cache dtype the layout counted this group in (floats only)."""
    values = latent_values(g) + g.layer.index_head_dim
    return g.bytes_per_token // values


def stored_as(g: GroupCost, latent_bytes: int) -> GroupCost:
    """The group with its latent row and indexer key stored as the engines store them.

    The two tensors are described by their bytes (row_values in the engines' uint8 view), so
    `tensor_bytes` splits the token's bytes exactly; the scales are inline, so no per-tensor
    constants remain.
    """
    index = index_key_bytes(g)
    return replace(
        g,
        row_values=(latent_bytes, index),
        rows_per_token=(1, 1),
        bytes_per_token=latent_bytes + index,
        tensor_bytes=0,
    )
