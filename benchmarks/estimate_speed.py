"""Time what `kvplan estimate` claims: a one-million-row grid, and one estimate's whole process.

Run: python benchmarks/estimate_speed.py [--repeat 15]
Prints a small markdown table. The grid is timed in-process (vectorized with numpy); the cold
start runs the real `kvplan estimate llama-3.1-8b --context 128k` in a fresh interpreter each
time and reports the median wall time, next to the time Python alone takes to import click,
rich and yaml (the floor any click/rich CLI pays).
"""

import argparse
import statistics
import subprocess
import sys
import time


def time_grid() -> tuple[int, float]:
    import kvplan

    spec = kvplan.load_spec("llama-3.1-8b")
    contexts = list(range(1, 2501))
    batches = list(range(1, 101))
    started = time.perf_counter()
    rows = kvplan.estimate(
        spec, context=contexts, batch=batches, cache_dtype=["bf16", "fp8", "int8", "int4"]
    )
    return len(rows), time.perf_counter() - started


def time_mixed_grid() -> tuple[int, float]:
    import kvplan

    spec = kvplan.load_spec("gpt-oss-120b")  # sliding + full layers
    started = time.perf_counter()
    rows = kvplan.estimate(
        spec, context=list(range(1, 10001)), batch=list(range(1, 101)), cache_dtype="bf16"
    )
    return len(rows), time.perf_counter() - started


def median_run(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    repeat = parser.parse_args().repeat
    n_rows, grid_s = time_grid()
    n_mixed, mixed_s = time_mixed_grid()
    estimate = [sys.executable, "-m", "kvplan", "estimate", "llama-3.1-8b", "--context", "128k"]
    cold_s = median_run(estimate, repeat)
    imports_s = median_run([sys.executable, "-c", "import click, rich, yaml"], repeat)
    print("| measurement | value |")
    print("|---|---|")
    print(f"| grid, {n_rows:,} rows (1 model x 4 dtypes x 2500 contexts x 100 batches) "
          f"| {grid_s:.2f} s |")
    print(f"| grid, {n_mixed:,} rows of gpt-oss-120b (sliding + full) | {mixed_s:.2f} s |")
    print(f"| `kvplan estimate llama-3.1-8b --context 128k`, whole process, median of {repeat} "
          f"| {cold_s:.3f} s |")
    print(f"| `python -c 'import click, rich, yaml'`, median of {repeat} | {imports_s:.3f} s |")


if __name__ == "__main__":
    main()
