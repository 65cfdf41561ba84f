"""Multi-head Latent Attention as DeepSeek-V2/V3 run it: the cache holds only the latent.

Per token the layer caches one latent row: `kv_lora_rank` compressed values (normalized) and
`rope_dim` values of the shared rotary key (RoPE applied), plus, with a sparse-attention
indexer, one indexer key of `index_head_dim` values. The per-head up-projections are applied at
compute time in the absorbed form MLA kernels use: queries are taken into the latent space
(q_nope W_uk), scored against the latent as one KV head shared by every query head, and the
weighted latent is taken out through W_uv. That equals expanding K and V per head, without
ever storing them.

The indexer key is computed and cached (its bytes are real), but its top-k token selection is
not applied: attention stays dense, which changes the time, not the cache.
"""

import math

import torch

from kvplan.measure.attention import CachedAttention, RMSNorm, heads_view, linear, rope


class LatentAttention(CachedAttention):
    """An MLA layer over its latent cache (or, shared, over another MLA layer's)."""

    reads = 1  # attention reads the latent; the indexer key is stored, not read

    def __init__(
        self, layer, hidden: int, n_heads: int, index: int, source: int | None
    ):
        super().__init__(index, source, 1.0 / math.sqrt(layer.head_dim_k))
        self.layer, self.n_heads = layer, n_heads
        self.nope = layer.head_dim_k - layer.rope_dim
        rank = layer.kv_lora_rank
        self.q_proj = linear(hidden, n_heads * layer.head_dim_k)
        self.kv_up = linear(rank, n_heads * (self.nope + layer.head_dim_v))
        self.o_proj = linear(n_heads * layer.head_dim_v, hidden)
        if source is None:
            self.kv_down = linear(hidden, rank + layer.rope_dim)
            self.kv_norm = RMSNorm(rank)
            if layer.index_head_dim:
                self.index_proj = linear(hidden, layer.index_head_dim)

    def new_cache(self, geo):
        from kvplan.measure.cache import LatentCache

        return LatentCache(self.layer, geo)

    def _up(self):
        """W_uk `[H, nope, rank]` and W_uv `[H, v, rank]`, views of one up-projection."""
        weight = self.kv_up.weight.view(self.n_heads, -1, self.layer.kv_lora_rank)
        return weight[:, : self.nope], weight[:, self.nope :]

    def queries(self, x, positions):
        q = heads_view(x, self.q_proj, self.n_heads, self.layer.head_dim_k)
        q_nope, q_rope = q[..., : self.nope], q[..., self.nope :]
        q_rope = rope(q_rope, positions, self.layer.rope_dim)
        w_uk, _ = self._up()
        q_latent = torch.einsum("bhld,hdr->bhlr", q_nope, w_uk)
        return torch.cat((q_latent, q_rope), dim=-1).contiguous()

    def fresh(self, x, positions):
        batch, length, _ = x.shape
        rank = self.layer.kv_lora_rank
        down = self.kv_down(x).view(batch, 1, length, -1)  # one row per token
        compressed = self.kv_norm(down[..., :rank])
        rotary = rope(down[..., rank:], positions, self.layer.rope_dim)
        latent = torch.cat((compressed, rotary), dim=-1)
        if not self.layer.index_head_dim:
            return (latent,)
        return latent, self.index_proj(x).view(batch, 1, length, -1)

    def keys_values(self, tensors):
        latent = tensors[0]
        return latent, latent[..., : self.layer.kv_lora_rank]

    def output(self, out):
        _, w_uv = self._up()
        per_head = torch.einsum("bhlr,hvr->bhlv", out, w_uv)
        return self.o_proj(per_head.transpose(1, 2).flatten(2))
