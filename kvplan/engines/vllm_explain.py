"""`--explain` for the vLLM profile: the groups, each spec's blocks, the bytes, the why."""

from kvplan.engines.vllm_mla import has_sparse_mla
from kvplan.sizing import ModelCost


def _pool_line(profile, pool, context: int) -> str:
    """One spec: its layers, its groups and the blocks one request reserves in each group."""
    kind, block = pool.kind, pool.block_size
    blocks = profile.pool_blocks(pool, context)
    groups = f"{pool.groups} group{'s' if pool.groups > 1 else ''}"
    if kind.kind == "full":
        return (
            f"  {kind.layers} full layers ({groups}): cdiv({context:,}, {block})"
            f" = {blocks:,} blocks"
        )
    if kind.kind == "mamba":
        return (
            f"  {kind.layers} state layers ({groups}): {blocks} page(s) each, the state"
            f" padded to the attention page"
        )
    batched = profile.max_num_batched_tokens
    if kind.kind == "sliding":
        return (
            f"  {kind.layers} sliding({kind.window}) layers ({groups}):"
            f" cdiv(min({kind.window} - 1 + {batched:,}, {context:,}), {block}) + 1"
            f" = {blocks:,} blocks (window - 1 + max_num_batched_tokens in flight, capped"
            f" at the request, + 1 block for a window that starts inside a block)"
        )
    return (
        f"  {kind.layers} chunked({kind.window}) layers ({groups}):"
        f" cdiv(min({kind.window} + {batched:,}, {context:,}), {block}) = {blocks:,}"
        f" blocks (the chunk + max_num_batched_tokens, capped at the request)"
    )


def _sparse_line(plan) -> str:
    """DeepSeek-V3.2 on vLLM: two specs per layer in one group, 64-token blocks."""
    latent, index = (p.kind for p in plan.pools)
    return (
        f"  DeepSeek sparse attention: each of the {latent.layers} layers registers its"
        f" latent ({latent.unit_bytes:,} B per token) and its indexer key"
        f" ({index.unit_bytes:,} B, uint8 with fp32 scales) as specs of one group;"
        " FlashMLA sparse forces 64-token blocks"
    )


def explain_lines(profile, cost: ModelCost, context: int) -> list[str]:
    """The vLLM reservation of one request, written out with the model's numbers."""
    plan = profile.plan(cost)
    layout = "one group" if plan.uniform else f"{plan.n_groups} groups"
    lines = [
        f"{profile.label}: {layout} of {plan.group_size} layers,"
        f" block {plan.min_block_size} tokens, {plan.block_bytes:,} B per block id"
    ]
    if has_sparse_mla(cost):
        lines.append(_sparse_line(plan))
    if plan.padding_layers:
        lines.append(
            f"  {plan.padding_layers} padding layers make the groups equal (their pages"
            " are reserved too)"
        )
    lines += [_pool_line(profile, pool, context) for pool in plan.pools]
    blocks = profile.request_blocks(plan, context)
    reserved = blocks * plan.block_bytes
    ideal = cost.sequence_bytes(context)
    held = "its rows hold" if has_sparse_mla(cost) else "the layout needs"
    lines.append(
        f"  request = {blocks:,} block ids x {plan.block_bytes:,} B = {reserved:,} B;"
        f" {held} {ideal:,} B ({reserved / ideal:.2f}x)"
    )
    return lines


def hybrid_note(
    profile, cost: ModelCost, tokens: int | None, concurrency: float | None
):
    """Why vLLM's two capacity lines disagree for a hybrid model, with the logged numbers."""
    plan = profile.plan(cost)
    length = profile.max_model_len
    if plan.uniform or not length:
        return None
    needed = profile.request_blocks(plan, length)
    parts = [
        f"hybrid model in {plan.n_groups} KV cache groups of {plan.group_size} layers:"
    ]
    if profile.token_line == "per_group":
        shown = f" ({tokens:,} tokens)" if tokens is not None else ""
        parts.append(
            f"the 'GPU KV cache size' line{shown} is the pool's blocks // {plan.n_groups}"
            f" groups x {plan.min_block_size} tokens, as if every group held every token;"
        )
    else:
        parts.append("the 'GPU KV cache size' line is concurrency x max_model_len;")
    parts.append(
        f"'Maximum concurrency' divides the pool by the {needed:,} block ids one"
        f" {length:,}-token request reserves over all groups"
    )
    if concurrency is not None:
        parts.append(
            f"({concurrency:.2f} x {length:,} = {concurrency * length:,.0f} tokens of"
            " requests)"
        )
    parts.append("- the concurrency line is the admissible one")
    return " ".join(parts)
