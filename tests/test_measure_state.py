"""The state stand-in's chunked scan: the same states and outputs as the token-by-token
recurrence it replaces, computed here with a plain loop (kvplan/measure/state.py)."""

import pytest

torch = pytest.importorskip("torch")

from kvplan.measure.state import chunk_scan, decay_tables, scan_chunk  # noqa: E402


def loop(decay, u, b, c, start):
    """h_t = a h_{t-1} + (1 - a) u_t b_t^T and y_t = h_t c_t, one token at a time."""
    h, ys = start.clone(), []
    for t in range(u.shape[1]):
        h = (
            decay[:, None] * h
            + (1 - decay)[:, None] * u[:, t, :, None] * b[:, t, None, :]
        )
        ys.append((h * c[:, t, None, :]).sum(-1))
    return torch.stack(ys, dim=1), h


@pytest.mark.parametrize("tokens", [1, 5, 16])
def test_a_chunk_gives_the_loops_outputs_and_state(tokens):
    generator = torch.Generator().manual_seed(0)
    batch, channels, state = 2, 6, 4

    def rand(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    decay = torch.sigmoid(rand(channels))
    u, b, c = (
        rand(batch, tokens, channels),
        rand(batch, tokens, state),
        rand(batch, tokens, state),
    )
    start = rand(batch, channels, state)
    y, h = chunk_scan(decay_tables(decay, tokens), u, b, c, start)
    expected_y, expected_h = loop(decay, u, b, c, start)
    assert torch.allclose(y, expected_y, atol=1e-12)
    assert torch.allclose(h, expected_h, atol=1e-12)


def test_chunks_keep_the_decay_table_small():
    # Nemotron-H's Mamba-2 layer: 4,194,304 state values = 32,768 channels x 128; a chunk of
    # 16 tokens keeps the [16, 16, 32,768] table at 2^23 values; tiny layers take 64 tokens
    assert scan_chunk(32768) == 16 and 16 * 16 * 32768 == 2**23
    assert scan_chunk(64) == 64
    assert scan_chunk(2**24) == 1
