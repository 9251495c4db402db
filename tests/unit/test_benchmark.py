"""The benchmark command on a small generated week: every section and file."""

import io

import pytest

from solver.benchmark import (
    CommandRun,
    ScalePoint,
    describe_wishes,
    growth_exponent,
    run_benchmark,
)
from solver.cli import main
from solver.generate import format_tidy_csv, generate_forecast
from solver.preferences import PreferenceReport

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def benchmark_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    forecast = folder / "week.csv"
    forecast.write_text(format_tidy_csv(generate_forecast(120, seed=4)), "utf-8")
    out = folder / "out"
    printed = io.StringIO()
    exit_code = run_benchmark(
        printed,
        forecast,
        out,
        time_limit_seconds=60,
        scale_factors=(0.5, 1.0),
        scale_time_limit_seconds=60,
    )
    return exit_code, printed.getvalue(), out


def test_prints_every_section(benchmark_run):
    exit_code, printed, _ = benchmark_run

    assert exit_code == 0
    for heading in (
        "forecast of record: python -m solver plan",
        "peer comparison: first-fit roster builder",
        "part-time trade-off",
        "why this many drivers",
        "tours in conflict",
        "named drivers: generated pool",
        "5-point sweep: max_weekly_minutes",
        "scale: generated forecasts",
    ):
        assert heading in printed
    assert "command wall seconds" in printed
    assert "command peak memory MiB" in printed
    assert "times the first-fit time" in printed
    assert "time grows about as tours^" in printed
    assert "wishes honoured" in printed
    assert "drivers with unmet wishes" in printed
    assert "spread within a kind" in printed


def test_writes_tables_and_plot(benchmark_run):
    _, _, out = benchmark_run

    assert (out / "plan" / "kpis.json").is_file()
    assert (out / "shadow_prices.csv").read_text("utf-8").startswith("day,hour,")
    scale_rows = (out / "scale.csv").read_text("utf-8").splitlines()
    assert scale_rows[0].startswith("size,tours,templates,drivers,lower bound,gap")
    assert [row.split(",")[1] for row in scale_rows[1:]] == ["60", "120"]
    assert (out / "scale.png").read_bytes().startswith(PNG_SIGNATURE)


def test_trade_off_row_per_head_count(benchmark_run):
    _, printed, _ = benchmark_run

    table = printed.split("part-time trade-off")[1].split("==\n")[1]
    rows = [line.split() for line in table.strip().splitlines()[1:5]]
    max_drivers = [int(row[0]) for row in rows]
    assert max_drivers == list(range(max_drivers[0], max_drivers[0] + 4))


def test_sweep_section_row_per_value(benchmark_run):
    _, printed, _ = benchmark_run

    section = printed.split("5-point sweep: max_weekly_minutes")[1]
    lines = section.split("== scale")[0].strip().splitlines()
    rows = [line.split() for line in lines[2:7]]
    assert lines[1].split()[:3] == ["value", "drivers", "lower"]
    assert [row[0] for row in rows] == ["2400", "2700", "3000", "3300", "3600"]
    for row in rows:
        assert int(row[2]) <= int(row[1])
    assert lines[7].startswith("total wall time ")
    assert lines[8].startswith("bar of 180 s: met")


def scale_point(tours: int, seconds: float) -> ScalePoint:
    return ScalePoint(1.0, tours, tours, CommandRun(0, seconds, 100.0, {}))


def test_growth_exponent_of_square_law():
    points = [scale_point(tours, 0.001 * tours**2) for tours in (100, 200, 400, 800)]

    assert growth_exponent(points) == pytest.approx(2.0)
    assert growth_exponent(points[:1]) is None


@pytest.mark.parametrize(
    "arguments",
    [
        ["bench", "--scale", "1,x"],
        ["bench", "--scale", "0"],
        ["bench", "--scale-time-limit", "-1"],
        ["plan", "week.csv", "--out", "plan", "--gap-target", "1.5"],
        ["plan", "week.csv", "--out", "plan", "--gap-target", "lots"],
    ],
)
def test_bad_arguments_exit_2(arguments, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(arguments, io.StringIO())

    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_wishes_line_gives_count_and_weight():
    report = PreferenceReport(wishes=4, honoured=3, weight_total=20, weight_honoured=15)

    assert describe_wishes(report) == "3 of 4, 15 of 20 weight (75.0%)"
