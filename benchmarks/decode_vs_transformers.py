"""kvplan's cached decode against transformers' own model and DynamicCache, on the CPU.

Run: python benchmarks/decode_vs_transformers.py [--context 2048] [--decode-tokens 64]

One geometry for both (a Llama config built in memory, no download): 4 layers, hidden 512,
8 query heads over 2 KV heads of 64, MLP 1408, vocabulary 8192, fp32 weights and caches. Both
prefill the same random prompt, then decode the same fixed tokens one at a time, each step
timed with perf_counter; the table gives the median time per output token of each and their
ratio. transformers' DynamicCache grows by concatenation (a new K and V tensor per layer per
step); kvplan's cache is preallocated and written in place.
"""

import argparse
import statistics
import sys
import time

import torch

GEOMETRY = dict(
    hidden_size=512,
    intermediate_size=1408,
    num_hidden_layers=4,
    num_attention_heads=8,
    num_key_value_heads=2,
    vocab_size=8192,
    dtype="float32",
)


def _steps(call, tokens, context: int) -> list[float]:
    """Milliseconds of each decode step `call(token_ids, position)` after the prompt."""
    times = []
    for position in range(context, tokens.shape[1]):
        start = time.perf_counter()
        call(tokens[:, position : position + 1], position)
        times.append((time.perf_counter() - start) * 1000)
    return times


def transformers_tpot(config, tokens, context: int) -> list[float]:
    """Per-step decode times of transformers' LlamaForCausalLM with its DynamicCache."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    state = {}

    def step(ids, position):
        state["out"] = model(ids, cache=state["out"].cache, use_cache=True)

    with torch.inference_mode():
        for _ in range(2):  # the first pass warms up
            state["out"] = model(tokens[:, :context], use_cache=True)
            times = _steps(step, tokens, context)
    return times


def kvplan_tpot(config, tokens, context: int) -> list[float]:
    """Per-step decode times of kvplan's decoder for the same config, preallocated fp32 cache."""
    from kvplan.configs import spec_from_config
    from kvplan.measure.model import Dims, build_decoder

    spec = spec_from_config(config.to_dict(), name="bench-llama")
    dims = Dims(
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        vocab_size=config.vocab_size,
    )
    dtypes = {"conv_dtype": "fp32", "ssm_dtype": "fp32"}
    model = build_decoder(
        spec, dims=dims, device="cpu", dtype=torch.float32, seed=0, dtypes=dtypes
    )
    with torch.inference_mode():
        for _ in range(2):
            cache = model.new_cache(
                batch_size=tokens.shape[0], tokens=tokens.shape[1], cache_dtype="fp32"
            )
            model(tokens[:, :context], cache=cache)
            times = _steps(
                lambda ids, p, c=cache: model(ids, start=p, cache=c), tokens, context
            )
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args(argv)

    from transformers import LlamaConfig

    config = LlamaConfig(**GEOMETRY)
    generator = torch.Generator().manual_seed(0)
    shape = (args.batch, args.context + args.decode_tokens)
    tokens = torch.randint(0, config.vocab_size, shape, generator=generator)
    theirs = statistics.median(transformers_tpot(config, tokens, args.context))
    ours = statistics.median(kvplan_tpot(config, tokens, args.context))
    print(
        f"context {args.context}, {args.decode_tokens} decode steps, batch {args.batch}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads\n"
    )
    print("| decoder | cache | TPOT ms (median) |")
    print("|---|---|---|")
    print(
        f"| transformers LlamaForCausalLM | DynamicCache (grows by concatenation) | {theirs:.2f} |"
    )
    print(f"| kvplan measure decoder | preallocated, written in place | {ours:.2f} |")
    print(f"\nkvplan is {theirs / ours:.2f}x transformers' speed per output token")
    return 0


if __name__ == "__main__":
    sys.exit(main())
