import pytest

from kvplan.errors import FormatError
from kvplan.formats import canonical_name, get_format


@pytest.mark.parametrize(
    ("name", "head_dim", "row_bytes"),
    [
        ("fp32", 128, 128 * 4),
        ("fp16", 128, 128 * 2),
        ("bf16", 128, 128 * 2),
        ("fp8", 128, 128 * 1),  # the per-layer scales are not per row
        ("fp8_e5m2", 128, 128 * 1),
        ("int8", 128, 128 * 1 + 2),  # one fp16 scale per token per KV head
        (
            "int4",
            128,
            128 // 2 + 2 * (2 + 2),
        ),  # 2 groups of 64, fp16 scale + fp16 zero each
        (
            "int4",
            96,
            96 // 2 + 2 * (2 + 2),
        ),  # 64 + a short group of 32 keeps its own scale
        ("q8_0", 128, 4 * (32 + 2)),  # 4 blocks of 32 int8 + fp16 scale = 34 B
        ("q4_0", 128, 4 * (16 + 2)),  # 4 blocks of 32 nibbles + fp16 scale = 18 B
        ("q4_1", 128, 4 * (16 + 2 + 2)),
        ("q5_0", 128, 4 * (20 + 2)),
        ("q5_1", 128, 4 * (20 + 2 + 2)),
        ("q8_0", 576, 18 * 34),  # an MLA latent row: 512 + 64 values
    ],
)
def test_row_bytes_count_every_scale(name, head_dim, row_bytes):
    assert get_format(name).row_bytes(head_dim) == row_bytes


def test_fp8_counts_one_fp32_scale_per_cache_tensor():
    assert get_format("fp8").tensor_scale_bytes == 4
    assert get_format("int8").tensor_scale_bytes == 0


def test_block_types_refuse_rows_the_block_does_not_divide():
    with pytest.raises(FormatError, match="q8_0.*32.*80"):
        get_format("q8_0").row_bytes(80)


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("fp8_e4m3", "fp8"),
        ("float16", "fp16"),
        ("BF16", "bf16"),
        ("f16", "fp16"),
        ("bfloat16", "bf16"),
        ("float8_e5m2", "fp8_e5m2"),
    ],
)
def test_aliases(alias, name):
    assert canonical_name(alias) == name


def test_auto_is_the_model_dtype():
    assert get_format("auto", model_dtype="fp16").name == "fp16"


def test_unknown_format_lists_the_accepted_ones():
    with pytest.raises(FormatError, match="cache_dtype.*'fp7'.*bf16.*q4_0"):
        canonical_name("fp7")
