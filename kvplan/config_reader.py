"""ConfigReader: reads one config dict, recording every key read and every default taken.

It also decides which keys may shape the cache: a config key whose name suggests a layer
layout, a window, KV heads, a latent or a recurrent state, and that kvplan did not read,
makes kvplan refuse the config (naming the key) rather than print a number that ignores it.
"""

import json
import re

from kvplan.config_defaults import DERIVED, SAME_AS_HEADS, type_defaults
from kvplan.errors import SpecError

# Keys whose names suggest they shape the cache: per-layer layouts, windows, KV heads, latents,
# recurrent states, their dtypes. A config key like these that kvplan did not read makes it
# refuse the config (naming the key), never print a number that ignores it.
_CACHE_WORDS = re.compile(
    r"window|chunk|kv|share|compress|index|pattern|layer_types|block_type|type_list|dtype"
    r"|latent|lora|attn|attention|layers|layer_ids|_idxs|_indices|_indexes|conv|mamba|ssm"
    r"|state|lru|recurrent|linear_|hybrid|cross|global|local|swa|sliding|nope|rope_layer"
    r"|head|group|sink|period|offset|interval|every|memory|cache"
)
# Keys that match the words above but shape computation, weights or training, not the cache.
_NOT_CACHE = {
    "q_lora_rank",
    "o_lora_rank",
    "index_topk",
    "index_n_heads",
    "use_mamba_kernels",
    "mamba_chunk_size",
    "chunk_size",
    "chunk_size_feed_forward",
    "kv_lora_rank_scale",
    "mamba_hidden_act",
    "mamba_rms_norm",
    "mamba_norm_before_gate",
    "mamba_dt_rank",
    "mamba_dt_min",
    "mamba_dt_max",
    "mamba_dt_init_floor",
    "mamba_dt_limit",
    "mlp_layer_types",
    "mlp_only_layers",
    "n_group",
    "topk_group",
    "num_expert_group",
    "use_cache",
    "cache_implementation",
    "attn_temperature_tuning",
    "attn_scale",
    "floor_scale",
    "attention_value_scale",
    "use_qk_norm",
    "qk_layernorm",
    "attn_output_gate",
    "first_k_dense_replace",
    "block_size",  # MiniMax's lightning-attention compute block
    "time_step_limit",
    "attention_pattern",  # gpt-neox-japanese style attention masks for training
    "activation_sparsity_pattern",
    "head_dim_scale",
    "lm_head",
    "for_llm_compressor",
    "pretraining_tp",
    "attention_in_multiplier",
    "use_sliding_window_for_training",
    "parallel_attn",  # Falcon: attention beside the MLP, not a cache layout
    "num_dense_layers",  # MoE models' dense MLP layers
    "o_groups",  # DeepSeek-V4's grouped output projection
    "clip_qkv",  # OLMo's clamp on q, k and v values
    "deterministic_flash_attn",
    "use_mambapy",  # a slower Mamba kernel
    "reorder_and_upcast_attn",  # GPT-2's fp32 attention scores
    "scale_attn_by_inverse_layer_idx",
}
# Suffixes and prefixes of keys that never shape the cache: dropouts, biases, activations,
# initialisation, norms, scales, MoE routing and experts, rotary embedding settings, the
# attention implementation (eager, sdpa, flash), special tokens' ids, loss and freezing.
_NOT_CACHE_FORM = re.compile(
    r"(dropout|_drop_rate|_pdrop|bias|_act|activation|_eps|epsilon|_init\w*|_std|_range"
    r"|multiplier|multipliers|_alpha|_beta|_factor|softcap\w*|_logit_cap|_theta|_in_fp32"
    r"|_scaling|_scale|_scalar|_norm|layernorm\w*|_proj|_weights|rotary\w*"
    r"|_implementation|ignore_index|_token_index|_token_offset|_token_ids?)$"
    r"|^(partial_rotary|moe_|router_|expert|num_experts|n_routed|n_shared"
    r"|shared_expert|shared_intermediate|shared_moe|num_shared|layernorm_|output_|initializer"
    r"|rotary_|hc_|blocksparse_"  # Phi-3-small's block-sparse layers still cache every token
    r"|use_kernel|use_flash|is_|tie_|add_|return_|freeze_|has_)"
)


# Generation, output and training settings any transformers config may carry (the old
# PretrainedConfig attributes): none shapes the cache; num_beam_groups matched "group".
_GENERATION = frozenset(
    {
        "num_beams", "num_beam_groups", "diversity_penalty", "max_length", "min_length",
        "do_sample", "early_stopping", "temperature", "top_k", "top_p", "typical_p",
        "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
        "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences",
        "output_scores", "return_dict_in_generate", "forced_bos_token_id",
        "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty",
        "suppress_tokens", "begin_suppress_tokens", "output_attentions",
        "output_hidden_states", "use_return_dict", "torchscript", "pruned_heads",
        "tie_encoder_decoder", "cross_attention_hidden_size",
    }
)  # fmt: skip
# Rotary-embedding settings (type, base, interleaving, sections) do not shape the cache; a
# rotary key that names a dimension or layers (qk_rope_head_dim, no_rope_layers) may.
_ROTARY = re.compile(r"rope|rotary")
_ROTARY_SHAPING = re.compile(r"dim|layer|nope|interval|every")
# Mixture-of-experts settings: experts, shared experts, routers, top-k, hash routing.
_ROUTING = re.compile(r"expert|moe|router|routed|routing|topk|top_k|hash_layer")


def not_cache_shaping(key: str) -> bool:
    """Whether a key, whatever its name suggests, is known not to shape the cache."""
    return (
        key in _NOT_CACHE
        or key in _GENERATION
        or bool(_NOT_CACHE_FORM.search(key))
        or bool(_ROUTING.search(key))
        or bool(_ROTARY.search(key) and not _ROTARY_SHAPING.search(key))
    )


_MISSING = object()


def _short(value) -> str:
    """A config value as a note shows it: lists and mappings abridged."""
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class ConfigReader:
    """Reads one (text) config dict, recording the keys read and the defaults used."""

    def __init__(
        self,
        data: dict,
        model_type: str,
        where: str,
        implied: dict | None = None,
        *,
        implied_by: str = "",
    ):
        self.data = data
        self.model_type = model_type
        self.where = where
        self.defaults = {**type_defaults(model_type), **(implied or {})}
        self.implied = dict(implied or {})
        self.implied_by = implied_by
        self.read: set[str] = set()
        self.defaults_used: list[str] = []
        self.readings: list[str] = []

    def present(self, *keys: str) -> str | None:
        """The first of `keys` the config gives a non-null value for."""
        for key in keys:
            if key in self.data:
                self.read.add(key)
                if self.data[key] is not None:
                    return key
        return None

    def get(self, *keys: str, default=_MISSING, agree: bool = True):
        """The value of the first present key, else the type default, else `default`, else error.

        Aliases of one quantity must agree (`agree`): a config that gives two values for it
        is refused rather than read by whichever spelling comes first.
        """
        key = self.present(*keys)
        if key is not None:
            if agree:
                self._agreed(keys)
            return self.data[key]
        explicit_null = any(k in self.data for k in keys)
        for name in keys:
            if name in self.defaults:
                value = self.defaults[name]
                if explicit_null and value not in (DERIVED, SAME_AS_HEADS):
                    return None  # an explicit null is the config's word, not a gap
                text = f"{name} = {value} ({self._origin(name)})"
                if (
                    value not in (DERIVED, SAME_AS_HEADS)
                    and text not in self.defaults_used
                ):
                    self.defaults_used.append(
                        text
                    )  # rules (markers): the caller says what it did
                return value
        if default is not _MISSING:
            return default
        if explicit_null:
            return None
        raise self.missing(keys)

    def _agreed(self, keys: tuple[str, ...]) -> None:
        given = {k: self.data[k] for k in keys if self.data.get(k) is not None}
        self.read.update(k for k in keys if k in self.data)
        values = list(given.items())
        for key, value in values[1:]:
            if value != values[0][1]:
                first, seen = values[0]
                raise SpecError(
                    f"{self.where}: {first} = {_short(seen)} and {key} = {_short(value)} "
                    "disagree; kvplan will not pick one",
                    field=first,
                )

    def _origin(self, key: str) -> str:
        """Where a default comes from: the type's class, or what an old model_type implies."""
        if key in self.implied:
            return f"implied by model_type {self.implied_by}"
        return f"{self.model_type} default"

    def missing(self, keys: tuple[str, ...]) -> SpecError:
        names = " / ".join(keys)
        if self.model_type:
            why = f"kvplan knows no default for it in model type {self.model_type!r}"
        else:
            why = "the config has no model_type, so kvplan takes no defaults"
        return SpecError(
            f"{self.where}: missing key {names}, and {why}; "
            "add it to the config or write a spec YAML",
            field=keys[0],
        )

    def integer(self, *keys: str, default=_MISSING) -> int:
        value = self.get(*keys, default=default)
        if value is None and default is _MISSING:
            key = next((k for k in keys if k in self.data), keys[0])
            raise SpecError(
                f"{self.where}: {key} is null; expected a positive integer", field=key
            )
        if value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            key = self.present(*keys) or keys[0]
            raise SpecError(
                f"{self.where}: {key} must be a positive integer, got {value!r}",
                field=key,
            )
        return value

    def flag(self, key: str) -> bool:
        return bool(self.get(key, default=False))

    def unread_cache_keys(self) -> list[str]:
        """Keys the reader did not use whose names suggest they shape the cache."""
        return sorted(
            key
            for key, value in self.data.items()
            if key not in self.read
            and not not_cache_shaping(key)
            and value not in (None, False, [], {}, "", -1)
            and _CACHE_WORDS.search(key)
        )

    def refuse_unread(self) -> None:
        """Refuse the config if a key that may shape the cache was not read."""
        unread = self.unread_cache_keys()
        if not unread:
            return
        shown = ", ".join(f"{key} = {_short(self.data[key])}" for key in unread)
        raise SpecError(
            f"{self.where}: kvplan does not read {shown}, which may shape the cache "
            f"(model type {self.model_type or '(none)'!r}); it will not size this model "
            "without it: write a spec YAML (docs/specs.md), or report the key",
            field=unread[0],
        )
