"""The benchmark of record: every figure the planning engine is judged by.

`python -m solver bench` prints, in this order:

1. The forecast of record planned by the real `python -m solver plan`
   command in a child process: drivers, lower bound, gap, status, part-time
   rosters and their bound, violations, the command's wall seconds from
   interpreter start to written files, and its peak memory.
2. In this process: the optimiser beside a plain first-fit roster builder
   (solver.greedy), with both head counts and the time ratio.
3. The part-time trade-off: the fewest part-time rosters found when up to
   one, two or three more drivers may work, each with its proven bound.
4. The explanations of the model: the head count bound with each rule
   relaxed, the weekday and hour cells whose tours carry the highest shadow
   prices, and the tours in conflict.
5. Named drivers: the forecast of record staffed from a generated pool of
   160 drivers (10 % ADR, 15 % KUEHL, 20 % part-time, 5 % away for a day or
   two, half with wishes; solver.generate.generate_driver_pool), against the
   anonymous optimum, with the wishes honoured and the spreads within a kind.
6. A 5-point sweep of the weekly hour limit (40, 45, 50, 55 and 60 h,
   solver.scenarios.sweep) over the forecast of record in SWEEP_WORKERS
   worker processes, each point with a gap target of SWEEP_GAP_TARGET and
   SWEEP_TIME_LIMIT_SECONDS: per point the drivers, the lower bound, the
   gap, the status and the seconds, then the total wall time against the
   bar of SWEEP_BAR_SECONDS.
7. Scale: generated forecasts of 0.5, 1, 2 and 4 times the size of the
   forecast of record, each planned by the `plan` command in a child process
   of its own, so that each size's peak memory is its own. The search of
   each stops at a gap of at most 1 % (SCALE_GAP_TARGET) or after
   SCALE_TIME_LIMIT_SECONDS. The figures go to scale.csv and the time
   against size to scale.png, with the growth exponent fitted through the
   points.

Everything is written to the output folder: the plan files of the forecast
of record, shadow_prices.csv, scale.csv, scale.png and the generated
forecasts.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from solver.assign import plan_for_drivers
from solver.explain import find_conflicts, rule_costs, shadow_prices_by_hour
from solver.generate import (
    format_tidy_csv,
    generate_driver_pool,
    generate_forecast,
)
from solver.greedy import first_fit_plan
from solver.preferences import PreferenceReport
from solver.rules import RuleSettings
from solver.scenarios import SweepPoint, sweep
from solver.solve import PartTimeTradeOff, part_time_trade_off
from solver.tours import Forecast, expand
from solver.validate import validate_plan

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCALE_FACTORS = (0.5, 1.0, 2.0, 4.0)
SCALE_SEED = 1
SCALE_GAP_TARGET = 0.01
SCALE_TIME_LIMIT_SECONDS = 600.0
EXTRA_DRIVERS = 3
HOTTEST_CELLS = 5
POOL_SIZE = 160
POOL_SEED = 1
SWEEP_SETTING = "max_weekly_minutes"
SWEEP_VALUES = (2400.0, 2700.0, 3000.0, 3300.0, 3600.0)
# Each point stops once its gap is at most 1.5 %, two drivers at 142. On the
# forecast of record the dives at 40 and 45 h end two drivers above their
# bounds, and the head count model then found no better plan within a minute.
SWEEP_GAP_TARGET = 0.015
SWEEP_TIME_LIMIT_SECONDS = 120.0
SWEEP_WORKERS = 2
# The sweep of SWEEP_VALUES over the forecast of record should take at most
# this long in total on the 2-core benchmark machine.
SWEEP_BAR_SECONDS = 180.0
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class CommandRun:
    """One `python -m solver plan` run in a child process, and its figures."""

    exit_code: int
    wall_seconds: float
    peak_memory_mib: float
    figures: dict


@dataclass(frozen=True)
class ScalePoint:
    factor: float
    tours: int
    templates: int
    run: CommandRun

    @property
    def seconds(self) -> float:
        return self.run.wall_seconds


def run_plan_command(
    forecast_path: Path,
    out: Path,
    time_limit_seconds: float,
    gap_target: float = 0.0,
    seed: int = 0,
) -> CommandRun:
    """Run the plan command as a user would, and read back its kpis.json.

    The wall time runs from starting the interpreter to its exit. The peak
    memory is the child's own maximum resident set, read with os.wait4.
    """
    command = [
        sys.executable,
        "-m",
        "solver",
        "plan",
        str(forecast_path),
        "--out",
        str(out),
        "--time-limit",
        f"{time_limit_seconds:g}",
        "--gap-target",
        f"{gap_target:g}",
        "--seed",
        str(seed),
    ]
    started = time.monotonic()
    child = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall_seconds = time.monotonic() - started
    # wait4 reaped the child; tell Popen so it does not wait again.
    child.returncode = os.waitstatus_to_exitcode(status)
    errors = child.stderr.read().decode("utf-8", "replace") if child.stderr else ""
    kpis = out / "kpis.json"
    if child.returncode not in (0, 1) or not kpis.is_file():
        raise RuntimeError(
            f"plan command failed on {forecast_path} with exit code"
            f" {child.returncode}: {errors.strip()[-500:]}"
        )
    return CommandRun(
        exit_code=child.returncode,
        wall_seconds=wall_seconds,
        peak_memory_mib=usage.ru_maxrss / 1024,
        figures=json.loads(kpis.read_text(encoding="utf-8")),
    )


def print_table(
    stream: TextIO, header: Sequence[str], rows: Sequence[Sequence[object]]
) -> None:
    """Print rows under a header, each column as wide as its widest cell."""
    cells = [list(map(str, header))] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    for row in cells:
        stream.write(
            "  ".join(cell.rjust(width) for cell, width in zip(row, widths)) + "\n"
        )


def describe_bound(bound: int | None) -> str:
    return "-" if bound is None else str(bound)


def print_record(
    stream: TextIO, forecast_path: Path, forecast: Forecast, run: CommandRun
) -> None:
    figures = run.figures
    rows = [
        ("forecast", forecast_path.name),
        ("tours", forecast.tour_count),
        ("status", figures["status_text"]),
        ("drivers", figures["drivers"]),
        ("lower bound", f"{figures['lower_bound']} (LP {figures['lp_bound']:.4f})"),
        ("gap", f"{figures['gap']:.2%}"),
        ("part-time rosters", figures["part_time_rosters"]),
        ("part-time lower bound", describe_bound(figures["part_time_lower_bound"])),
        ("split and single blocks", figures["split_and_single_blocks"]),
        ("violations", figures["violations"]),
        ("tours uncovered", figures["tours_uncovered"]),
        ("solver seconds", f"{figures['seconds']:.2f}"),
        ("command wall seconds", f"{run.wall_seconds:.2f}"),
        ("command peak memory MiB", f"{run.peak_memory_mib:.0f}"),
    ]
    stream.write("\n== forecast of record: python -m solver plan ==\n")
    width = max(len(name) for name, _ in rows)
    stream.writelines(f"{name:<{width}}  {value}\n" for name, value in rows)


def print_peer_comparison(
    stream: TextIO,
    forecast: Forecast,
    rules: RuleSettings,
    optimiser_drivers: int,
    optimiser_seconds: float,
) -> None:
    """Plan with the first-fit builder and set its figures beside the optimiser's."""
    started = time.monotonic()
    plan = first_fit_plan(forecast, rules)
    greedy_seconds = time.monotonic() - started
    violations = sum(
        len(check.violations) for check in validate_plan(plan, expand(forecast), rules)
    )
    stream.write("\n== peer comparison: first-fit roster builder ==\n")
    print_table(
        stream,
        ("method", "drivers", "violations", "seconds"),
        [
            ("first fit", plan.driver_count, violations, f"{greedy_seconds:.2f}"),
            ("optimiser", optimiser_drivers, 0, f"{optimiser_seconds:.2f}"),
        ],
    )
    saved = plan.driver_count - optimiser_drivers
    ratio = optimiser_seconds / max(greedy_seconds, 1e-9)
    stream.write(
        f"optimiser: {saved} drivers fewer ({saved / plan.driver_count:.1%}),"
        f" {ratio:.1f} times the first-fit time\n"
    )


def print_trade_off(stream: TextIO, rows: Sequence[PartTimeTradeOff]) -> None:
    stream.write("\n== part-time trade-off: at most this many drivers ==\n")
    print_table(
        stream,
        ("max drivers", "drivers", "part-time", "part-time bound", "proven", "viol."),
        [
            (
                row.max_drivers,
                row.drivers,
                row.part_time_rosters,
                describe_bound(row.part_time_lower_bound),
                "yes" if row.is_proven else "no",
                row.violations,
            )
            for row in rows
        ],
    )


def print_explanations(
    stream: TextIO, forecast: Forecast, rules: RuleSettings, out: Path
) -> None:
    """Print the rule costs, the hottest shadow price cells and the conflicts."""
    started = time.monotonic()
    costs = rule_costs(forecast, rules)
    stream.write("\n== why this many drivers: LP bound with one rule relaxed ==\n")
    print_table(
        stream,
        ("rule", "bound with", "bound without", "drivers", "proven"),
        [
            (
                cost.label,
                cost.bound_with_rule,
                cost.bound_without_rule,
                cost.drivers,
                "yes" if cost.exact else "no",
            )
            for cost in costs
        ],
    )

    cells = shadow_prices_by_hour(forecast, rules)
    write_shadow_prices(out / "shadow_prices.csv", cells)
    hottest = sorted(cells, key=lambda cell: -cell["total_shadow_price"])
    hottest = hottest[:HOTTEST_CELLS]
    stream.write(
        "\nweekday and start hour whose tours cost the most"
        f" (all cells in {out / 'shadow_prices.csv'}):\n"
    )
    print_table(
        stream,
        ("weekday", "hour", "tours", "shadow price", "per tour"),
        [
            (
                WEEKDAY_NAMES[cell["day"] - 1],
                f"{cell['hour']:02d}",
                cell["tours"],
                f"{cell['total_shadow_price']:.3f}",
                f"{cell['mean_shadow_price']:.3f}",
            )
            for cell in hottest
        ],
    )
    conflicts = find_conflicts(forecast, rules)
    stream.write(f"\ntours in conflict: {len(conflicts) or 'none'}\n")
    stream.writelines(f"  {conflict.reason}\n" for conflict in conflicts)
    stream.write(f"explanations took {time.monotonic() - started:.1f} s\n")


def print_named_drivers(
    stream: TextIO, forecast: Forecast, rules: RuleSettings, anonymous_drivers: int
) -> None:
    """Staff the week from a generated pool and compare with the anonymous optimum."""
    pool = generate_driver_pool(POOL_SIZE, seed=POOL_SEED)
    result = plan_for_drivers(forecast, pool, rules, time_limit_seconds=120)
    minimum = {driver.driver_id: driver.min_weekly_minutes for driver in pool}
    stream.write(f"\n== named drivers: generated pool of {POOL_SIZE} ==\n")
    rows = [
        ("drivers used", result.drivers_used),
        ("anonymous optimum", anonymous_drivers),
        ("lower bound", result.lower_bound),
        ("open tours", len(result.open_tours)),
        ("violations", result.violations),
        ("weekly hours spread", f"{result.weekly_hours_spread:.1f} h"),
        (
            "under contract minimum",
            sum(
                1
                for roster in result.plan.rosters
                if roster.work_minutes < minimum[roster.driver]
            ),
        ),
        (
            "spread within a kind",
            f"{result.spreads['weekly_hours']:.1f} h,"
            f" {result.spreads['split_or_single_blocks']:.0f} split or single"
            f" blocks, {result.spreads['weekend_days']:.0f} weekend days",
        ),
        ("wishes honoured", describe_wishes(result.preferences)),
        ("drivers with unmet wishes", len(result.preferences.unmet)),
        ("seconds", f"{result.seconds:.1f}"),
    ]
    width = max(len(name) for name, _ in rows)
    stream.writelines(f"{name:<{width}}  {value}\n" for name, value in rows)
    stream.writelines(f"shortfall: {line}\n" for line in result.shortfall)


def describe_wishes(report: PreferenceReport) -> str:
    """Describe the wishes honoured by count and by weight."""
    return (
        f"{report.honoured} of {report.wishes},"
        f" {report.weight_honoured} of {report.weight_total} weight"
        f" ({report.weighted_share:.1%})"
    )


def write_shadow_prices(path: Path, cells: Sequence[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(
            stream,
            ["day", "hour", "tours", "total_shadow_price", "mean_shadow_price"],
        )
        writer.writeheader()
        writer.writerows(cells)


def print_sweep_points(
    stream: TextIO, points: Sequence[SweepPoint], total_seconds: float
) -> None:
    """Print one row per sweep point, then the total wall time of the sweep."""
    print_table(
        stream,
        ("value", "drivers", "lower bound", "gap", "status", "seconds"),
        [
            (
                f"{point.value:g}",
                point.drivers,
                point.lower_bound,
                f"{point.gap:.2%}",
                point.status + (" (cached)" if point.cached else ""),
                f"{point.seconds:.1f}",
            )
            for point in points
        ],
    )
    stream.write(f"total wall time {total_seconds:.1f} s\n")


def run_sweep_section(
    stream: TextIO,
    forecast: Forecast,
    rules: RuleSettings,
    values: Sequence[float] = SWEEP_VALUES,
    time_limit_seconds: float = SWEEP_TIME_LIMIT_SECONDS,
    workers: int = SWEEP_WORKERS,
) -> tuple[list[SweepPoint], float]:
    """Sweep the weekly hour limit, print the points and whether the bar is met.

    Returns the points and the total wall seconds of the sweep.
    """
    stream.write(
        f"\n== {len(values)}-point sweep: {SWEEP_SETTING},"
        f" gap target {SWEEP_GAP_TARGET:.1%},"
        f" time limit {time_limit_seconds:g} s per point, {workers} workers ==\n"
    )
    started = time.monotonic()
    points = sweep(
        forecast,
        rules,
        SWEEP_SETTING,
        values,
        time_limit_seconds=time_limit_seconds,
        gap_target=SWEEP_GAP_TARGET,
        workers=workers,
    )
    total_seconds = time.monotonic() - started
    print_sweep_points(stream, points, total_seconds)
    verdict = "met" if total_seconds <= SWEEP_BAR_SECONDS else "NOT met"
    stream.write(f"bar of {SWEEP_BAR_SECONDS:g} s: {verdict} ({total_seconds:.1f} s)\n")
    return points, total_seconds


def run_scale(
    stream: TextIO,
    base_tours: int,
    out: Path,
    factors: Sequence[float] = SCALE_FACTORS,
    time_limit_seconds: float = SCALE_TIME_LIMIT_SECONDS,
) -> list[ScalePoint]:
    """Generate and plan forecasts of each size; print and write their figures."""
    stream.write(
        f"\n== scale: generated forecasts, gap target {SCALE_GAP_TARGET:.0%},"
        f" time limit {time_limit_seconds:g} s ==\n"
    )
    points = []
    header = ("size", "tours", "templates", "drivers", "lower bound", "gap")
    header += ("status", "violations", "seconds", "peak MiB")
    rows = []
    for factor in factors:
        tours = max(1, round(base_tours * factor))
        forecast = generate_forecast(tours, seed=SCALE_SEED)
        path = out / f"generated_{tours}_tours.csv"
        path.write_text(format_tidy_csv(forecast), encoding="utf-8")
        run = run_plan_command(
            path,
            out / f"plan_{tours}_tours",
            time_limit_seconds,
            gap_target=SCALE_GAP_TARGET,
        )
        point = ScalePoint(factor, tours, len(forecast.templates), run)
        points.append(point)
        figures = run.figures
        rows.append(
            (
                f"{factor:g}x",
                tours,
                point.templates,
                figures["drivers"],
                figures["lower_bound"],
                f"{figures['gap']:.2%}",
                figures["status"],
                figures["violations"],
                f"{run.wall_seconds:.1f}",
                f"{run.peak_memory_mib:.0f}",
            )
        )
        stream.write(f"  planned {tours} tours in {run.wall_seconds:.1f} s\n")
        stream.flush()
    print_table(stream, header, rows)
    write_scale_csv(out / "scale.csv", header, rows)
    exponent = growth_exponent(points)
    if exponent is not None:
        stream.write(
            f"time grows about as tours^{exponent:.2f}"
            " (least-squares fit of log seconds against log tours)\n"
        )
    plot_scale(out / "scale.png", points, exponent)
    stream.write(f"plot: {out / 'scale.png'}\n")
    return points


def write_scale_csv(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]
) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)


def growth_exponent(points: Sequence[ScalePoint]) -> float | None:
    """Fit seconds = c * tours^k through the points and return k."""
    if len(points) < 2:
        return None
    tours = np.log([point.tours for point in points])
    seconds = np.log([max(point.seconds, 1e-3) for point in points])
    slope, _ = np.polyfit(tours, seconds, 1)
    return float(slope)


def plot_scale(
    path: Path, points: Sequence[ScalePoint], exponent: float | None
) -> None:
    """Draw wall seconds against tours on log axes, each point labelled with its gap."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4.5), dpi=120)
    tours = [point.tours for point in points]
    seconds = [point.seconds for point in points]
    axes.plot(tours, seconds, marker="o")
    for point in points:
        axes.annotate(
            f"{point.factor:g}x: {point.run.figures['drivers']} drivers,"
            f" gap {point.run.figures['gap']:.1%}",
            (point.tours, point.seconds),
            textcoords="offset points",
            xytext=(6, -12),
            fontsize=8,
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    # Room on the right for the last point's label.
    axes.set_xlim(min(tours) / 1.3, max(tours) * 2.2)
    axes.set_xlabel("tours in the week")
    axes.set_ylabel("wall seconds of python -m solver plan")
    title = "Planning time against forecast size"
    if exponent is not None:
        title += f" (about tours^{exponent:.2f})"
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    pyplot.close(figure)


def run_benchmark(
    stream: TextIO,
    forecast_path: Path,
    out: Path,
    *,
    time_limit_seconds: float = 120.0,
    seed: int = 0,
    scale_factors: Sequence[float] = SCALE_FACTORS,
    scale_time_limit_seconds: float = SCALE_TIME_LIMIT_SECONDS,
    sweep_values: Sequence[float] = SWEEP_VALUES,
    sweep_time_limit_seconds: float = SWEEP_TIME_LIMIT_SECONDS,
) -> int:
    """Run every section and print its figures; return the command's exit code."""
    from core.forecast_import import read_forecast_file

    report = read_forecast_file(forecast_path)
    if not report.ok:
        stream.write(report.format_text() + "\nimport failed\n")
        return 2
    forecast = report.forecast
    rules = RuleSettings()
    out.mkdir(parents=True, exist_ok=True)

    record = run_plan_command(
        forecast_path, out / "plan", time_limit_seconds, seed=seed
    )
    print_record(stream, forecast_path, forecast, record)
    stream.flush()

    result, trade_off = part_time_trade_off(
        forecast,
        rules,
        extra_drivers=EXTRA_DRIVERS,
        time_limit_seconds=time_limit_seconds,
        seed=seed,
    )
    print_peer_comparison(stream, forecast, rules, result.drivers, result.seconds)
    print_trade_off(stream, trade_off)
    print_explanations(stream, forecast, rules, out)
    print_named_drivers(stream, forecast, rules, result.drivers)
    stream.flush()
    if sweep_values:
        run_sweep_section(
            stream, forecast, rules, sweep_values, sweep_time_limit_seconds
        )
        stream.flush()
    if scale_factors:
        run_scale(
            stream, forecast.tour_count, out, scale_factors, scale_time_limit_seconds
        )
    return 0
