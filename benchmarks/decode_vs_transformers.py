"""kvplan's cached decode against transformers' own model and DynamicCache, on the CPU.

Run: python benchmarks/decode_vs_transformers.py [--context 2048] [--decode-tokens 64]

One geometry for both (a Llama config built in memory, no download): 4 layers, hidden 512,
8 query heads over 2 KV heads of 64, MLP 1408, vocabulary 8192, fp32 weights and caches. Both
prefill the same random prompt, then decode the same fixed tokens one at a time, their steps
interleaved one for one (so both see the same machine load), each timed with perf_counter,
over a warm-up round and `--rounds` counted rounds; the table gives the median time per output
token of each and their ratio. transformers' DynamicCache grows by concatenation (a new K and
V tensor per layer per step); kvplan's cache is preallocated and written in place. Both run on
`--threads` CPU threads (default 1).
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


def _timed(step, position: int) -> float:
    """Milliseconds `step(position)` takes."""
    start = time.perf_counter()
    step(position)
    return (time.perf_counter() - start) * 1000


def transformers_decoder(config, tokens, context: int):
    """transformers' LlamaForCausalLM with its DynamicCache: a prefill, then a step function."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    state = {"out": model(tokens[:, :context], use_cache=True)}

    def step(position: int) -> None:
        ids = tokens[:, position : position + 1]
        state["out"] = model(ids, cache=state["out"].cache, use_cache=True)

    return step


def kvplan_decoder(config, tokens, context: int):
    """kvplan's decoder for the same config with a preallocated fp32 cache: prefill, step."""
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
    cache = model.new_cache(
        batch_size=tokens.shape[0], tokens=tokens.shape[1], cache_dtype="fp32"
    )
    model(tokens[:, :context], cache=cache)

    def step(position: int) -> None:
        model(tokens[:, position : position + 1], start=position, cache=cache)

    return step


def interleaved_tpot(config, tokens, context: int, rounds: int) -> tuple[float, float]:
    """Median ms per decode step of each decoder, their steps interleaved one for one so that
    both see the same machine load; the first round warms up and is not counted."""
    theirs, ours = [], []
    with torch.inference_mode():
        for round_index in range(rounds + 1):
            steps = (
                transformers_decoder(config, tokens, context),
                kvplan_decoder(config, tokens, context),
            )
            for position in range(context, tokens.shape[1]):
                their_ms = _timed(steps[0], position)
                our_ms = _timed(steps[1], position)
                if round_index:
                    theirs.append(their_ms)
                    ours.append(our_ms)
    return statistics.median(theirs), statistics.median(ours)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--decode-tokens", type=int, default=64)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    # one thread by default: on a shared machine a parallel region waits on whichever of its
    # threads was descheduled, turning a 0.2 ms matmul into milliseconds for either decoder
    torch.set_num_threads(args.threads)

    from transformers import LlamaConfig

    config = LlamaConfig(**GEOMETRY)
    generator = torch.Generator().manual_seed(0)
    shape = (args.batch, args.context + args.decode_tokens)
    tokens = torch.randint(0, config.vocab_size, shape, generator=generator)
    theirs, ours = interleaved_tpot(config, tokens, args.context, args.rounds)
    print(
        f"context {args.context}, {args.decode_tokens} decode steps x {args.rounds} rounds, "
        f"batch {args.batch}, torch {torch.__version__}, {torch.get_num_threads()} threads\n"
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
