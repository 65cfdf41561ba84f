"""The GPU check: a real-size GQA model's cache, measured beside kvplan's prediction.

Run on a machine with CUDA (one prepared run, a few minutes on one H100/H200-class GPU):

    python benchmarks/measure_cuda.py

Default: Llama-3.1-8B geometry (32 query heads, 8 KV heads of 128, hidden 4096), its first 4
layers, bf16 / fp8 / int8 caches at 4k, 32k and 128k tokens, batch 1, 32 decode steps. For each
point it prints, as one markdown table: predicted and measured cache bytes (distinct storages),
the CUDA allocator's growth across the cache allocation and its excess over the storages (the
caching allocator rounds every block up to 512 B), the allocated peak during decode above what
was allocated before the cache (cache + transient activations, weights excluded), TTFT, TPOT,
and the logit checks. On a machine without CUDA, `--device cpu` with small sizes checks the
script itself, e.g. `--device cpu --contexts 256,1k --layers 2 --small --decode-tokens 8`.
"""

import argparse
import platform
import sys

from kvplan.units import format_bytes, split_list

HEADER = (
    "| context | cache | predicted | measured | error | allocator growth | growth - measured"
    " | decode peak | TTFT ms | TPOT ms | tok/s | max abs dlogit | vs bf16 | status |"
)


def _size(value) -> str:
    return "-" if value is None else f"{value:,} ({format_bytes(value)})"


def _number(value, spec: str = ",.2f") -> str:
    return "-" if value is None else format(value, spec)


def markdown_row(row: dict) -> str:
    """One measured point as a markdown table row."""
    growth, measured = row["alloc_growth_bytes"], row["measured_kv_bytes"]
    excess = None if growth is None or measured is None else growth - measured
    cells = [
        f"{row['context']:,}",
        row["cache_dtype"],
        _size(row["predicted_kv_bytes"]),
        _size(measured),
        _number(row["error_pct"], "+.2f")
        + ("%" if row["error_pct"] is not None else ""),
        _size(growth),
        _number(excess, ",d"),
        _size(row["decode_peak_bytes"]),
        _number(row["ttft_ms"]),
        _number(row["tpot_ms"]),
        _number(row["decode_tokens_per_s"], ",.1f"),
        _number(row["max_abs_logit_diff"], ".2e"),
        _number(row["quant_logit_diff_vs_bf16"], ".2e"),
        row["status"],
    ]
    return "| " + " | ".join(cells) + " |"


def environment(device) -> str:
    """Where the table was measured: torch, device, Python."""
    import torch

    where = platform.processor() or platform.machine()
    if device.type == "cuda":
        where = torch.cuda.get_device_name(device)
    return f"torch {torch.__version__}, {where}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama-3.1-8b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--contexts", default="4k,32k,128k")
    parser.add_argument("--dtypes", default="bf16,fp8,int8")
    parser.add_argument("--batch", default="1")
    parser.add_argument("--decode-tokens", type=int, default=32)
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args(argv)

    from kvplan.measure.grid import iter_measure, plan_measure

    plan = plan_measure(
        args.model,
        device=args.device,
        cache_dtype=split_list(args.dtypes),
        context=split_list(args.contexts),
        batch=split_list(args.batch),
        decode_tokens=args.decode_tokens,
        layers=args.layers,
        small=args.small,
    )
    command = " ".join(
        ["python", "benchmarks/measure_cuda.py", *(argv or sys.argv[1:])]
    )
    print(f"`{command}` ({environment(plan.device)}, compute {plan.compute_dtype})\n")
    for text in plan.notes:
        print(f"- {text}")
    print()
    print(HEADER)
    print("|" + "---|" * HEADER.count(" | ") + "---|")
    for row in iter_measure(plan):
        print(markdown_row(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
