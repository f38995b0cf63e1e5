"""The benchmark times both layers (plain and under XLA) and writes its page."""

import pytest

from lstm_keras import benchmark

TINY_SHAPE = (2, 3, 2, 4)


@pytest.mark.parametrize("xla", [False, True], ids=["graph", "xla"])
def test_measure_times_both_layers_in_both_phases(xla):
    result = benchmark.measure(TINY_SHAPE, repeats=1, xla=xla)
    assert set(result) == {
        (who, phase) for who in ("ours", "keras") for phase in ("forward", "train")
    }
    assert all(seconds > 0 for seconds in result.values())


def test_page_holds_the_xla_table_when_measured():
    result = benchmark.measure(TINY_SHAPE, repeats=1)
    rows = [(TINY_SHAPE, result)]
    plain = benchmark.to_markdown("header", rows)
    both = benchmark.to_markdown("header", rows, xla=("xla header", rows))
    assert "| 2, 3, 2, 4 |" in plain and "XLA" not in plain
    assert both.startswith(plain.rstrip("\n"))
    assert "## Compiled with XLA" in both and "xla header" in both
