"""vLLM's MLA storage rules: the one place the vLLM profile changes the layout's MLA bytes.

Read from vllm-project/vllm (docs/engines.md names files and commits):

- MLA layers cache the latent (kv_lora_rank + rope values) in the cache dtype, one
  `MLAAttentionSpec` page per block (`vllm/v1/kv_cache_interface.py`);
- DeepSeek-V3.2's sparse attention (a model with `index_topk`) runs on FlashMLA sparse, which
  takes a bf16 latent or, for any fp8 cache, `fp8_ds_mla` rows of 656 B (`MLAAttentionSpec.
  real_page_size_bytes`, `flashmla_sparse.py` `get_kv_cache_shape`), and forces 64-token
  blocks (`platforms/cuda.py`, "Forcing kv cache block size to 64 for FlashMLASparse");
- its indexer key is its own spec (`DeepseekV32IndexerCache`: `MLAAttentionSpec` of head
  size 128 + 128 // 128 x 4 = 132, dtype uint8), whatever the cache dtype; both specs are
  full attention, so they share one KV cache group and a block spans both pages.
"""

from dataclasses import replace

from kvplan.engines.base import EngineRuleError
from kvplan.engines.dsa import fp8_latent_bytes, is_dsa, latent_values, stored_as
from kvplan.formats import get_format
from kvplan.sizing import GroupCost, ModelCost

FLASHMLA_SPARSE_BLOCK = 64  # tokens per block vLLM forces for sparse MLA
SPARSE_LATENT_DTYPES = (
    "bf16",
    "fp8",
    "fp8_e5m2",
)  # FlashMLA sparse: bf16 or fp8_ds_mla


def _dsa_group(g: GroupCost, fmt_name: str) -> GroupCost:
    """A DSA group as vLLM stores it: the latent row, then the 132-byte indexer key."""
    if fmt_name not in SPARSE_LATENT_DTYPES:
        raise EngineRuleError(
            f"vLLM runs DeepSeek sparse attention on FlashMLA sparse, which takes a bf16"
            f" or fp8 (fp8_ds_mla) cache, not {fmt_name}",
            field="cache_dtype",
        )
    latent = fp8_latent_bytes(g) if fmt_name.startswith("fp8") else latent_values(g) * 2
    return stored_as(g, latent)


def stored_cost(cost: ModelCost, cache_dtype: str, model_dtype: str) -> ModelCost:
    """The cost terms with every DSA layer stored as vLLM stores it (others unchanged)."""
    if not any(is_dsa(g) for g in cost.groups):
        return cost
    fmt_name = get_format(cache_dtype, model_dtype=model_dtype).name
    groups = tuple(_dsa_group(g, fmt_name) if is_dsa(g) else g for g in cost.groups)
    return replace(cost, groups=groups)


def has_sparse_mla(cost: ModelCost) -> bool:
    """Whether vLLM runs this model on FlashMLA sparse (64-token blocks)."""
    return any(is_dsa(g) for g in cost.groups)


def token_parts(g: GroupCost) -> tuple[int, ...]:
    """Bytes per token of each vLLM spec a group's layers register: the latent and the
    indexer key apart for a DSA layer, else the group's own bytes."""
    stored = g.tensor_bytes == 0 and sum(g.row_values) == g.bytes_per_token
    if is_dsa(g) and stored:
        return tuple(g.row_values)  # stored_as: the two tensors' bytes
    return (g.bytes_per_token,)
