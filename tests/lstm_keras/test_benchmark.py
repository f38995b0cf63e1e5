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


def test_the_page_names_the_cpus_vector_width(tmp_path):
    """Ratios moved with the CPU's vector width (docs/performance.md)."""
    cpuinfo = tmp_path / "cpuinfo"
    for flags, expected in [
        ("fpu avx2 avx512f", ", AVX-512"),
        ("fpu sse4_2 avx2", ", AVX2"),
        ("fpu sse4_2", ""),
    ]:
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        assert benchmark._vector_width(cpuinfo) == expected
    assert benchmark._vector_width(tmp_path / "missing") == ""
