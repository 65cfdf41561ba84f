"""`--explain` adds up: every group line's terms make its total, the totals make the sequence."""

import math
import re
from fractions import Fraction

import pytest

from kvplan.breakdown import explain_lines
from kvplan.catalog import load_shipped, load_spec, shipped_names
from kvplan.errors import FormatError
from kvplan.sizing import model_cost

from .conftest import DATA

BYTES = r"([0-9][0-9,]*) B"
# The plain form: N label layers x 2 (K,V) x H KV heads x D head dim x b B x T tokens = X B
PLAIN = re.compile(
    r"^(\d+) \S+ layers x 2 \(K,V\) x (\d+) KV heads x (\d+) head dim x (\d+) B x (\d+) "
    rf"tokens(?: \(capped at \d+\))? = {BYTES}$"
)


def number(text: str) -> int:
    return int(text.replace(",", ""))


# [(K 8 x (128 values: 128 x 1 B + 1 x 2 B scale) + V ...) = 2,080 B] x 100 tokens
PER_TOKEN = re.compile(rf"\[\((.*?)\) = {BYTES}\] x (\d+) tokens")
# K 8 x (128 values: 128 x 1 B + 1 x 2 B scale): 8 rows of (128 x 1 + 1 x 2) bytes
TENSOR = re.compile(r"(\d+) x \(\d+ values: ([^)]*)\)")
PRODUCT = re.compile(r"(\d+(?:\.\d+)?) (?:blocks )?x (\d+(?:\.\d+)?) B")


def row_bytes(formula: str) -> Fraction:
    """128 x 0.5 B + 2 x 4 B scale+zero -> 72: the sum of the products written out."""
    return sum(
        (Fraction(a) * Fraction(b) for a, b in PRODUCT.findall(formula)), Fraction(0)
    )


def check_per_token(line: str) -> None:
    """Where a line shows a token's bytes, its tensors' rows add up to them."""
    for tensors, per_token, _tokens in PER_TOKEN.findall(line):
        rows = sum(int(n) * math.ceil(row_bytes(f)) for n, f in TENSOR.findall(tensors))
        assert rows == number(per_token), line


def check_group_line(line: str) -> int:
    """The line's total, after checking that its own terms add up to it."""
    total = number(re.search(rf"= {BYTES}$", line).group(1))
    plain = PLAIN.match(line)
    count = int(line.split()[0])
    check_per_token(line)
    if plain:
        factors = [int(x) for x in plain.groups()[:5]]
        assert math.prod(factors) * 2 == total, line  # 2: K and V
    elif " hold nothing " in line:
        assert total == 0, line
    elif "; " in line or "state: " in line:
        terms = [number(x) for x in re.findall(rf"= {BYTES}(?=[;)])", line)]
        assert terms and count * sum(terms) == total, line
    else:
        (_, per_token, tokens), *_ = PER_TOKEN.findall(line)
        assert count * number(per_token) * int(tokens) == total, line
    return total


def check_explain(spec, dtype: str, context: int, batch: int, **options) -> None:
    lines = [
        line.strip() for line in explain_lines(spec, dtype, context, batch, **options)
    ]
    groups, per_sequence, total_line = lines[1:-2], lines[-2], lines[-1]
    sequence = number(re.search(rf"per sequence = {BYTES}$", per_sequence).group(1))
    assert sum(check_group_line(line) for line in groups) == sequence
    cost = model_cost(spec, dtype, **options)
    assert sequence == cost.sequence_bytes(context)
    total = number(re.search(rf"= {BYTES} = ", total_line).group(1))
    assert (
        total == batch * sequence + cost.fixed_bytes == cost.total_bytes(context, batch)
    )


@pytest.mark.parametrize("name", shipped_names())
def test_every_shipped_specs_explain_adds_up(name):
    spec = load_shipped(name)
    for dtype in ("bf16", "fp8", "int8", "int4", "q8_0"):
        for context in (100, 8192, 131072):
            try:
                check_explain(spec, dtype, context, 3)
            except FormatError:  # q8_0 refuses heads its blocks do not divide
                assert dtype == "q8_0"


@pytest.mark.parametrize(
    "config",
    [
        "Bamba-9B.json",
        "RecurrentGemma-2b.json",
        "Kimi-Linear-48B-A3B.json",
        "LFM2-1.2B.json",
    ],
)
def test_hybrid_explains_add_up_with_mixed_state_dtypes(config):
    spec = load_spec(DATA / "more_configs" / config)
    check_explain(spec, "bf16", 8192, 2)
    check_explain(spec, "fp8", 8192, 2, state_dtype="fp32")


def test_mixed_state_dtypes_are_shown_each_at_its_own_size():
    spec = load_spec(DATA / "more_configs" / "RecurrentGemma-2b.json")
    line = explain_lines(spec, "bf16", 8192, 1)[1]
    # conv at the model's bf16, RG-LRU at fp32: never one blended "x 3 B"
    assert "7,680 conv values x 2 B (bf16) + 2,560 SSM values x 4 B (fp32)" in line
    assert "= 25,600 B) = 460,800 B" in line  # 7680 x 2 + 2560 x 4 = 25,600 per layer


def test_layers_that_hold_nothing_say_so():
    lines = explain_lines(load_shipped("nemotron-h-56b"), "bf16", 8192, 1)
    assert "  54 mlp layers hold nothing (no cache) = 0 B" in lines
    assert not any("x ()" in line for line in lines)
