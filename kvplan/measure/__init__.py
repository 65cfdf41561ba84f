"""`kvplan measure`: a real decoder in PyTorch that fills the cache kvplan predicts.

The only package of kvplan that imports torch; nothing outside it imports it, and the CLI only
when `kvplan measure` runs. `measure(models, ...)` returns Rows (docs/columns.md);
`plan_measure` and `iter_measure` run the same grid point by point.
"""


def measure(models, **options):
    """Measured KV-cache bytes and prefill/decode times beside the prediction (see grid.py)."""
    from kvplan.measure.grid import measure as run

    return run(models, **options)
