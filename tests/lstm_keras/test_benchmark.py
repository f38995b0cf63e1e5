"""The benchmark times both layers (plain and under XLA) and writes its page."""

import pytest

from lstm_keras import benchmark

TINY_SHAPE = (2, 3, 2, 4)


@pytest.mark.parametrize(
    "options",
    [{}, {"xla": True}, {"bidirectional": True}],
    ids=["graph", "xla", "bidirectional"],
)
def test_measure_times_both_layers_in_both_phases(options):
    result = benchmark.measure(TINY_SHAPE, repeats=1, **options)
    assert set(result) == {
        (who, phase) for who in ("ours", "keras") for phase in ("forward", "train")
    }
    assert all(seconds > 0 for seconds in result.values())


def test_page_holds_the_extra_tables_when_measured():
    result = benchmark.measure(TINY_SHAPE, repeats=1)
    rows = [(TINY_SHAPE, result)]
    plain = benchmark.to_markdown("header", rows)
    extra = {"xla": ("xla header", rows), "bidirectional": ("bidi header", rows)}
    every = benchmark.to_markdown("header", rows, extra)
    assert "| 2, 3, 2, 4 |" in plain and "XLA" not in plain
    assert every.startswith(plain.rstrip("\n"))
    assert every.index("## Compiled with XLA") < every.index("xla header")
    assert every.index("## Bidirectional") < every.index("bidi header")
    assert every.count("| 2, 3, 2, 4 |") == 3
