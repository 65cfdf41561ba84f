"""Lower bounds on latency from a GPU's peaks: decode bytes over bandwidth, prefill FLOPs.

    tpot_floor = (weight bytes read per step + KV bytes read per step) / HBM bandwidth
    ttft_floor = prefill FLOPs / (GPUs x dense peak FLOP/s at the weights' dtype)

Prefill FLOPs of one request of c tokens:

    2 x c x (active params - LM head)          every token through every matmul it uses
  + 2 x LM head params                          logits for the last token only
  + sum over layers of 2 x n_heads x (head_dim_k + head_dim_v) x pairs(c)
                                                scores QK^T and the weighted sum with V

pairs(c) is c(c+1)/2 for full and MLA layers (causal), and capped by the window for sliding
(w(w+1)/2 + (c - w) x w past the window) and chunked layers (whole chunks of k(k+1)/2).
Recurrent and MLP-only layers add no pairs; their projections are in the params.
"""

from kvplan.spec import ModelSpec

MS = 1000


def attention_pairs(kind: str, window: int | None, context: int) -> int:
    """Query-key pairs a causal prefill of `context` tokens scores in one layer."""
    if kind in ("full", "mla"):
        return context * (context + 1) // 2
    if kind == "sliding" and window is not None:
        if context <= window:
            return context * (context + 1) // 2
        return window * (window + 1) // 2 + (context - window) * window
    if kind == "chunked" and window is not None:
        chunks, rest = divmod(context, window)
        return chunks * window * (window + 1) // 2 + rest * (rest + 1) // 2
    return 0


def attention_flops(spec: ModelSpec, context: int) -> int:
    """FLOPs of the attention scores and weighted sums of a prefill, over all layers."""
    return sum(
        2
        * spec.n_heads
        * (layer.head_dim_k + layer.head_dim_v)
        * attention_pairs(layer.kind, layer.window_tokens, context)
        for layer in spec.layers
    )


def prefill_flops(spec: ModelSpec, context: int, *, active: int, lm_head: int) -> int:
    """FLOPs of one request's prefill of `context` tokens (see the module docstring)."""
    matmuls = 2 * context * (active - lm_head) + 2 * lm_head
    return matmuls + attention_flops(spec, context)


def ttft_floor_ms(flops: int, gpus: int, peak_flops: int | None) -> float | None:
    """Milliseconds the prefill takes at best when `gpus` GPUs share it perfectly."""
    if not peak_flops:
        return None
    return flops / (gpus * peak_flops) * MS


def tpot_floor_ms(read_bytes: float, bandwidth: int | None) -> float | None:
    """Milliseconds one decode step takes at best: every byte read once at full bandwidth."""
    if not bandwidth:
        return None
    return read_bytes / bandwidth * MS
