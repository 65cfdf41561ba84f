"""A decoder built from any spec: its layers in order, each of its own kind, random weights.

Each block is pre-norm: `h += mixer(norm(h))`, then `h += mlp(norm(h))` with a SwiGLU MLP.
The mixer follows the layer's kind: attention (full, sliding, chunked; K=V when kv_shared), MLA
over its latent, a recurrent state mixer, attention beside a state mixer for parallel hybrids,
a shared layer reading the cache of the last earlier layer that stores one, or none (mlp).
DeepSeek-V4's compressed layers are refused by name.

Sizes: hidden is the spec's; the MLP width and vocabulary are the spec's `weights` when it has
them, else INTERMEDIATE_PER_HIDDEN x hidden and FALLBACK_VOCAB, and `small` shrinks all three
(never the attention geometry, which alone shapes the cache). Weights are drawn from a fixed
seed with std 1/sqrt(fan_in), so activations keep their scale and attention is not flat.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kvplan.errors import KvplanError
from kvplan.measure.attention import Attention, RMSNorm, Step, Work, linear
from kvplan.measure.cache import Geometry, ModelCache
from kvplan.measure.mla import LatentAttention
from kvplan.measure.state import StateMixer
from kvplan.spec import ModelSpec

INTERMEDIATE_PER_HIDDEN = 4  # GPT-2's MLP width, when a spec does not give its own
FALLBACK_VOCAB = 32000  # Llama-2's vocabulary, when a spec does not give its own
SMALL_HIDDEN = 256
SMALL_VOCAB = 1024


@dataclass(frozen=True, kw_only=True)
class Dims:
    """The non-attention sizes of the measured model, and where each came from."""

    hidden_size: int
    intermediate_size: int
    vocab_size: int
    notes: tuple[str, ...] = ()


def model_dims(spec: ModelSpec, *, small: bool = False) -> Dims:
    """Hidden, MLP and vocabulary sizes: the spec's own where it has them (see module doc)."""
    weights = getattr(spec, "weights", None)
    intermediate = getattr(weights, "intermediate_size", None)
    vocab = getattr(weights, "vocab_size", None)
    notes = []
    if small:
        hidden = min(spec.hidden_size, SMALL_HIDDEN)
        notes.append(
            f"--small: hidden {hidden}, MLP {2 * hidden}, vocabulary {SMALL_VOCAB} "
            "(attention geometry unchanged)"
        )
        return Dims(
            hidden_size=hidden,
            intermediate_size=2 * hidden,
            vocab_size=min(vocab or SMALL_VOCAB, SMALL_VOCAB),
            notes=tuple(notes),
        )
    if intermediate is None:
        intermediate = INTERMEDIATE_PER_HIDDEN * spec.hidden_size
        notes.append(f"MLP width not in the spec: {INTERMEDIATE_PER_HIDDEN} x hidden")
    if vocab is None:
        vocab = FALLBACK_VOCAB
        notes.append(f"vocabulary size not in the spec: {FALLBACK_VOCAB:,}")
    return Dims(
        hidden_size=spec.hidden_size,
        intermediate_size=intermediate,
        vocab_size=vocab,
        notes=tuple(notes),
    )


def shared_source(spec: ModelSpec, index: int) -> int:
    """The layer a shared layer reads: the last earlier layer that stores K/V or a latent."""
    for earlier in range(index - 1, -1, -1):
        if spec.layers[earlier].holds_kv:
            return earlier
    raise KvplanError(
        f"layer {index} is shared but no earlier layer stores K/V for it to read",
        field="layers",
    )


def layer_source(spec: ModelSpec, index: int) -> int | None:
    """The layer whose cache layer `index` reads (None: its own); refuses what cannot run."""
    layer = spec.layers[index]
    if layer.compress_ratio:
        raise KvplanError(
            f"layer {index} is {layer.label}: kvplan measure does not run DeepSeek-V4 "
            "compressed attention (kvplan estimate sizes it); use --layers to stop before it",
            field="compress_ratio",
        )
    return shared_source(spec, index) if layer.kind == "shared" else None


def _mixers(spec: ModelSpec, index: int, hidden: int, dtypes: dict) -> list[nn.Module]:
    """The mixers of layer `index`: attention-like, state, both, or none."""
    layer = spec.layers[index]
    source = layer_source(spec, index)
    geometry = spec.layers[source] if source is not None else layer
    mixers = []
    if geometry.kind == "mla":
        mixers.append(LatentAttention(geometry, hidden, spec.n_heads, index, source))
    elif geometry.holds_kv:
        mixers.append(Attention(geometry, hidden, spec.n_heads, index, source))
    if layer.conv_values + layer.ssm_values:
        mixers.append(StateMixer(layer, hidden, index, dtypes))
    return mixers


class Block(nn.Module):
    """One pre-norm decoder block: mixers (summed), then a SwiGLU MLP."""

    def __init__(self, mixers: list[nn.Module], hidden: int, intermediate: int):
        super().__init__()
        self.mixers = nn.ModuleList(mixers)
        self.mix_norm = RMSNorm(hidden)
        self.mlp_norm = RMSNorm(hidden)
        self.gate = linear(hidden, intermediate)
        self.up = linear(hidden, intermediate)
        self.down = linear(intermediate, hidden)

    def forward(self, h, step: Step):
        if len(self.mixers):
            x = self.mix_norm(h)
            h = h + sum(mixer(x, step) for mixer in self.mixers)
        x = self.mlp_norm(h)
        return h + self.down(F.silu(self.gate(x)) * self.up(x))


class Decoder(nn.Module):
    """Embedding, the spec's blocks, a final norm and the LM head."""

    def __init__(self, spec: ModelSpec, dims: Dims, dtypes: dict[str, str]):
        super().__init__()
        self.spec, self.dims, self.dtypes = spec, dims, dtypes
        hidden = dims.hidden_size
        self.embed = nn.Embedding(dims.vocab_size, hidden)
        self.blocks = nn.ModuleList(
            Block(_mixers(spec, i, hidden, dtypes), hidden, dims.intermediate_size)
            for i in range(spec.n_layers)
        )
        self.norm = RMSNorm(hidden)
        self.lm_head = linear(hidden, dims.vocab_size)

    def new_cache(
        self, *, batch_size: int, tokens: int, cache_dtype: str
    ) -> ModelCache:
        """Every layer's cache, preallocated for `tokens` tokens of `batch_size` sequences."""
        device = self.embed.weight.device
        geo = Geometry(
            batch_size=batch_size,
            tokens=tokens,
            device=device,
            cache_dtype=cache_dtype,
            **self.dtypes,
        )
        layers = []
        for block in self.blocks:
            caches = {}
            for mixer in block.mixers:
                if isinstance(mixer, StateMixer):
                    caches["state"] = mixer.new_cache(geo)
                elif mixer.source is None:
                    caches["kv"] = mixer.new_cache(geo)
                else:  # a shared layer holds its source's cache object, not a copy
                    caches["kv"] = layers[mixer.source]["kv"]
            layers.append(caches)
        return ModelCache(layers)

    def forward(self, tokens, *, start=0, cache=None, logits_from=None, work=None):
        """Logits `[B, n, vocab]` for positions from `logits_from` (default: the last) on.

        Without a cache the tokens are the whole sequence from position 0; with one, start 0
        is a prefill that fills it, a later start one decode step that reads it.
        """
        length = tokens.shape[1]
        positions = torch.arange(start, start + length, device=tokens.device)
        step = Step(start=start, positions=positions, cache=cache, work=work or Work())
        h = self.embed(tokens)
        for block in self.blocks:
            h = block(h, step)
        first = length - 1 if logits_from is None else logits_from
        return self.lm_head(self.norm(h[:, first:]))


def _init_weights(model: nn.Module) -> None:
    """std 1/sqrt(fan_in) for every projection: activations keep their scale through a layer."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=module.in_features**-0.5)


def build_decoder(
    spec: ModelSpec, *, dims: Dims, device, dtype, seed: int, dtypes: dict[str, str]
) -> Decoder:
    """The decoder for `spec` with weights drawn from `seed`, on `device` in `dtype`."""
    torch.manual_seed(seed)
    with torch.device(device):
        model = Decoder(spec, dims, dtypes)
        _init_weights(model)
    return model.to(dtype).eval().requires_grad_(False)
