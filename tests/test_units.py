import pytest

from kvplan.errors import UnitError
from kvplan.units import (
    MAX_TOKENS,
    format_bytes,
    format_gib,
    format_tokens,
    parse_bytes,
    parse_count,
    parse_fraction,
    parse_positive_int,
    parse_tokens,
    split_list,
    split_numbers,
)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("4096", 4096),
        ("4k", 4 * 1024),
        ("4K", 4 * 1024),
        ("128k", 128 * 1024),  # "128k context" means 131072 tokens
        ("1M", 1024 * 1024),
        ("1.5k", 1536),
        (" 32k ", 32768),
        (2048, 2048),
    ],
)
def test_parse_tokens_accepts_binary_suffixes(text, tokens):
    assert parse_tokens(text) == tokens


@pytest.mark.parametrize(
    "text", ["12q", "-5", "0", "", "k", "1.3", "4kb", True, "1e3", "4 k k"]
)
def test_parse_tokens_rejects_bad_input_naming_the_field(text):
    with pytest.raises(UnitError, match="context"):
        parse_tokens(text, field="context")


@pytest.mark.parametrize(
    ("text", "n_bytes"),
    [
        ("80GiB", 80 * 2**30),
        ("80GB", 80 * 10**9),
        ("37.5GiB", 37 * 2**30 + 2**29),
        ("512MiB", 512 * 2**20),
        ("1TB", 10**12),
        ("1024B", 1024),
        ("17179869184B", 16 * 2**30),  # bytes in a script: an explicit B
        ("2 KiB", 2048),
        ("16gib", 16 * 2**30),
    ],
)
def test_parse_bytes_keeps_binary_and_decimal_apart(text, n_bytes):
    assert parse_bytes(text) == n_bytes


@pytest.mark.parametrize("text", ["80G", "80 gigs", "-1GiB", "0.5B", "1.0000000001KiB"])
def test_parse_bytes_rejects_unknown_units_and_fractions_of_a_byte(text):
    with pytest.raises(UnitError):
        parse_bytes(text)


def test_parse_count_is_decimal():
    assert parse_count("8.03B") == 8_030_000_000
    assert parse_count("70B") == 70 * 10**9
    assert parse_count("350M") == 350 * 10**6


@pytest.mark.parametrize("text", ["16", "6.51", "80", "2", "1024", " 7 "])
def test_a_size_without_a_unit_is_refused_naming_the_forms(text):
    # 16 could be bytes, GiB or GB: kvplan asks rather than read it as 16 bytes
    number = text.strip()
    with pytest.raises(
        UnitError, match=f"weights: '{text}' has no unit; write {number}GiB"
    ):
        parse_bytes(text, field="weights")


def test_only_a_whole_number_is_offered_as_bytes():
    with pytest.raises(UnitError, match=r"or bytes with a B \(16B\)"):
        parse_bytes("16", field="weights")
    with pytest.raises(UnitError) as error:
        parse_bytes("6.51", field="kv_budget")
    assert "6.51B" not in str(error.value)  # a fraction of a byte is no size


def test_a_bare_zero_is_a_size_where_zero_is_allowed():
    assert parse_bytes("0", field="reserve", allow_zero=True) == 0
    with pytest.raises(UnitError, match="has no unit"):
        parse_bytes("0", field="gpu_memory")


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("8030261248", 8_030_261_248),  # an exact count, as a script prints it
        ("1000000", 10**6),  # the smallest count read without a unit
        ("999999M", 999_999 * 10**6),
    ],
)
def test_a_parameter_count_without_a_unit_is_exact_from_a_million_up(text, count):
    assert parse_count(text, field="params") == count


@pytest.mark.parametrize("text", ["8", "70", "8.03", "999999"])
def test_a_small_parameter_count_without_a_unit_is_refused(text):
    with pytest.raises(UnitError, match=f"params: '{text}' has no unit; write {text}B"):
        parse_count(text, field="params")


def test_parse_fraction_is_exact_and_bounded():
    assert parse_fraction("0.9", field="memory_fraction").numerator == 9
    assert parse_fraction("1", field="memory_fraction") == 1
    for bad in ("0", "1.5", "-0.1", "x"):
        with pytest.raises(UnitError, match="memory_fraction"):
            parse_fraction(bad, field="memory_fraction")


def test_parse_positive_int():
    assert parse_positive_int("8", field="batch") == 8
    for bad in ("0", "-1", "1.5", "4k", True):
        with pytest.raises(UnitError, match="batch"):
            parse_positive_int(bad, field="batch")


def test_split_list_flattens_commas_and_repeats():
    assert split_list(("4k,32k", "128k")) == ["4k", "32k", "128k"]
    assert split_list("bf16, fp8") == ["bf16", "fp8"]


@pytest.mark.parametrize("text", ["4k,,8k", "4096,", ",4k", "4k, ,8k"])
def test_an_empty_value_between_commas_is_refused_naming_the_field(text):
    with pytest.raises(UnitError, match=f"context: '{text}' has an empty value"):
        split_numbers(text, field="context", parse=parse_tokens)
    with pytest.raises(UnitError, match="dtype: .* has an empty value"):
        split_list(text.replace("4", "bf"), field="dtype")


def test_an_option_left_empty_adds_no_value_but_numbers_need_one():
    assert split_list(("", "fp8"), field="dtype") == ["fp8"]  # --gpu "" is "no GPU"
    with pytest.raises(UnitError, match="context: at least one value is needed"):
        split_numbers("", field="context", parse=parse_tokens)


def test_formatting_names_the_unit():
    assert format_gib(16 * 2**30) == "16.00 GiB"
    assert format_bytes(36 * 1024) == "36.00 KiB"
    assert format_bytes(512) == "512 B"
    assert format_tokens(131072) == "128k"
    assert format_tokens(20000) == "20,000"
    assert format_tokens(2**20) == "1M"


def test_a_size_an_engine_printed_rounded_is_floored_and_flagged():
    from kvplan.units import parse_bytes_rounded

    # 3.81 GiB = 3.81 x 2^30 = 4,090,956,349.44 bytes
    assert parse_bytes_rounded("3.81GiB") == (4_090_956_349, True)
    assert parse_bytes_rounded("37.5GiB") == (37 * 2**30 + 2**29, False)
    assert parse_bytes_rounded("0", allow_zero=True) == (0, False)
    with pytest.raises(UnitError, match="positive size"):
        parse_bytes_rounded("0.1B")


@pytest.mark.parametrize(
    "text",
    [
        "1G",
        "1g",
        "４０９６",
        "024",
        "000",
        "1,000",
        "4096.5",
        float("nan"),
        None,
        [4096],
    ],
)
def test_token_counts_refuse_g_other_digits_leading_zeros_and_non_numbers(text):
    with pytest.raises(UnitError) as error:
        parse_tokens(text, field="context")
    assert error.value.field == "context"


def test_token_counts_accept_numpy_integers_and_whole_floats():
    np = pytest.importorskip("numpy")
    assert parse_tokens(np.int64(4096)) == 4096
    assert parse_tokens(4096.0) == 4096
    assert parse_positive_int(np.int32(8), field="batch") == 8


def test_token_counts_stop_at_two_to_the_forty():
    assert MAX_TOKENS == 2**40 == 1_099_511_627_776
    assert parse_tokens("1048576M") == 2**40  # 2^20 x 2^20, the limit itself
    with pytest.raises(UnitError, match="at most 2\\^40"):
        parse_tokens(2**40 + 1)
    with pytest.raises(UnitError, match="at most 2\\^40"):
        parse_tokens(10**30)


def test_a_comma_in_a_number_is_explained():
    with pytest.raises(UnitError, match="commas separate values, so '1,000' was read"):
        split_numbers(["1,000"], field="context", parse=parse_tokens)
    assert split_numbers(["512,256", "4k"], field="context", parse=parse_tokens) == [
        512,
        256,
        4096,
    ]


def test_sizes_are_formatted_from_exact_integers():
    # 10^20 GiB: a float would print 100,000,000,000,000,000,000.00 only by luck
    assert (
        format_gib(10**20 * 2**30 + 2**30 // 2) == "100,000,000,000,000,000,000.50 GiB"
    )
    # rounding is half up on the exact value: 0.005 GiB is 5,368,709.12 bytes
    assert format_gib(5_368_709) == "0.00 GiB"
    assert format_gib(5_368_710) == "0.01 GiB"
    assert format_bytes(3 * 2**40 + 2**40 // 4) == "3.25 TiB"
    assert format_gib(-(2**30) * 3 // 2) == "-1.50 GiB"
