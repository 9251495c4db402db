"""Command line of the planning engine.

    python -m solver plan FORECAST --out DIR [--time-limit S] [--rules FILE]
    python -m solver generate --tours N [--seed S] --out FILE
    python -m solver sweep FORECAST --setting NAME --values V1,V2,...
        [--gap-target G] [--time-limit S] [--workers N] [--rules FILE]
    python -m solver bench [--forecast FILE] [--out DIR]

As an entry point this module sits above the layers: it is the one module of
`solver` that imports `core`, for the forecast importer. The planning modules
themselves never do.

Exit codes of `plan`: 0 for a plan covering every tour, 1 when tours cannot
be covered (the files are written, and checks.json shows which tours), 2 when
the import fails (nothing is written) or the arguments are invalid. `sweep`
exits with 0 once every point is planned (a point whose tours cannot all be
covered shows status no_feasible_plan), and with 2 on a failed import or
invalid arguments.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from core.forecast_fields import MAX_FORECAST_TOURS
from core.forecast_import import FORMATS, parse_forecast
from solver.benchmark import (
    SCALE_FACTORS,
    SCALE_TIME_LIMIT_SECONDS,
    SWEEP_TIME_LIMIT_SECONDS,
    print_sweep_points,
    run_benchmark,
)
from solver.export import check_plan_folder, write_plan_files
from solver.generate import format_tidy_csv, generate_forecast
from solver.pricing import plan_kpis
from solver.rules import RuleSettings
from solver.scenarios import SweepPoint, sweep
from solver.solve import Progress, SolveResult, SolveStatus, plan_forecast
from solver.tours import expand
from solver.validate import summarize_checks

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BENCHMARK_FORECAST = (
    PROJECT_ROOT.parent / "shared" / "data" / "forecasts" / "week_1385_tours.csv"
)

EXIT_OK = 0
EXIT_UNCOVERED = 1
EXIT_BAD_INPUT = 2


MAX_SEED = 2**31 - 1
PROGRESS_REPEAT_SECONDS = 5.0


def positive_seconds(text: str) -> float:
    """Parse a time limit: a finite number of seconds above 0."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time limit; give a positive number of seconds"
        )
    return seconds


def solver_seed(text: str) -> int:
    """Parse a seed HiGHS accepts: a whole number from 0 to 2**31 - 1."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    if not 0 <= seed <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed must lie in 0..{MAX_SEED}, got {seed}")
    return seed


def load_rules(path: str | None) -> RuleSettings:
    """Read rule settings from a JSON object file, or return the defaults."""
    if path is None:
        return RuleSettings()
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read rule settings from {path}: {error}") from error
    except UnicodeDecodeError as error:
        raise ValueError(
            f"cannot read rule settings from {path}: the file is not UTF-8 text;"
            " save it as a UTF-8 JSON file"
        ) from error
    if not isinstance(values, dict):
        raise ValueError(
            f"rule settings in {path} must be a JSON object of name-value pairs"
        )
    return RuleSettings.from_dict(values)


def print_progress(stream: TextIO) -> Callable[[Progress], None]:
    """Return a progress callback that prints a line when the figures change.

    Unchanged figures are printed again every PROGRESS_REPEAT_SECONDS, so a
    long stage still shows that the search is running.
    """
    last: list[tuple] = []

    def on_progress(progress: Progress) -> None:
        figures = (progress.phase, progress.lower_bound, progress.best_drivers)
        if last:
            last_figures, last_seconds = last[-1]
            quiet_seconds = progress.elapsed_seconds - last_seconds
            if last_figures == figures and quiet_seconds < PROGRESS_REPEAT_SECONDS:
                return
        last.append((figures, progress.elapsed_seconds))
        best = "-" if progress.best_drivers is None else str(progress.best_drivers)
        gap = "-" if progress.gap is None else f"{progress.gap:.1%}"
        stream.write(
            f"  {progress.elapsed_seconds:7.2f} s  {progress.phase:<16}"
            f" bound {progress.lower_bound}  best {best}  gap {gap}\n"
        )
        stream.flush()

    return on_progress


def solution_figures(result: SolveResult, rules: RuleSettings) -> dict:
    """Return the plan's KPIs together with the solver's proof of quality."""
    figures = plan_kpis(result.plan, rules)
    figures.update(
        {
            "status": result.status.value,
            "status_text": result.describe_status(),
            "lower_bound": result.lower_bound,
            "lp_bound": round(result.lp_bound, 6),
            "bound_is_exact": result.bound_is_exact,
            "gap": round(result.gap, 6),
            "part_time_lower_bound": result.part_time_lower_bound,
            "violations": result.violations,
            "seconds": round(result.seconds, 3),
            "uncoverable": [
                {"tour_id": item.tour.tour_id, "rule": item.rule, "reason": item.reason}
                for item in result.uncoverable
            ],
        }
    )
    return figures


def describe_part_time_bound(bound: int | None, found: int) -> str:
    """Say what is proven about part-time rosters at this head count."""
    if bound is None:
        return "no lower bound proven"
    if bound >= found:
        return "proven fewest for this head count"
    return f"at least {bound} in any plan with this head count"


def print_summary(figures: dict, result: SolveResult, stream: TextIO) -> None:
    stream.write(f"\nstatus: {figures['status_text']}\n")
    bound = figures["part_time_lower_bound"]
    stream.write(
        f"drivers {figures['drivers']}, lower bound {figures['lower_bound']}"
        f" (LP {figures['lp_bound']:.3f}), gap {figures['gap']:.1%},"
        f" part-time rosters {figures['part_time_rosters']}"
        f" ({describe_part_time_bound(bound, figures['part_time_rosters'])}),"
        f" split and single blocks {figures['split_and_single_blocks']}\n"
    )
    stream.write(
        f"weekly hours: average {figures['average_weekly_hours']},"
        f" minimum {figures['min_weekly_hours']},"
        f" maximum {figures['max_weekly_hours']};"
        f" solver {figures['seconds']} s\n"
    )
    for item in result.uncoverable:
        stream.write(f"cannot cover {item.tour.tour_id} ({item.rule}): {item.reason}\n")
    stream.write("\nchecks:\n" + summarize_checks(result.checks) + "\n")


def run_plan(arguments: argparse.Namespace, stream: TextIO) -> int:
    """Import a forecast, plan it, validate the plan and write the plan files."""
    path = Path(arguments.forecast)
    if not path.is_file():
        stream.write(f"error: forecast file not found: {path}\n")
        return EXIT_BAD_INPUT
    try:
        rules = load_rules(arguments.rules)
        check_plan_folder(Path(arguments.out))
        report = parse_forecast(
            path.read_bytes(), filename=path.name, source_format=arguments.format
        )
    except (OSError, ValueError) as error:
        stream.write(f"error: {error}\n")
        return EXIT_BAD_INPUT
    stream.write(report.format_text() + "\n")
    if not report.ok:
        stream.write(
            "import failed: no plan written; fix the failing lines and try again\n"
        )
        return EXIT_BAD_INPUT

    forecast = report.forecast
    stream.write(
        f"\nplanning {forecast.tour_count} tours (forecast {forecast.sha256[:12]}),"
        f" time limit {arguments.time_limit:g} s\n"
    )
    result = plan_forecast(
        forecast,
        rules,
        time_limit_seconds=arguments.time_limit,
        seed=arguments.seed,
        on_progress=print_progress(stream),
        gap_target=arguments.gap_target,
    )
    figures = solution_figures(result, rules)
    paths = write_plan_files(
        Path(arguments.out), result.plan, expand(forecast), figures, result.checks
    )
    print_summary(figures, result, stream)
    stream.write("\nwrote " + ", ".join(str(path) for path in paths) + "\n")
    return EXIT_UNCOVERED if result.status is SolveStatus.NO_FEASIBLE_PLAN else EXIT_OK


def run_sweep(arguments: argparse.Namespace, stream: TextIO) -> int:
    """Import a forecast and plan it once per value of one setting."""
    path = Path(arguments.forecast)
    if not path.is_file():
        stream.write(f"error: forecast file not found: {path}\n")
        return EXIT_BAD_INPUT
    try:
        rules = load_rules(arguments.rules)
        report = parse_forecast(
            path.read_bytes(), filename=path.name, source_format=arguments.format
        )
    except (OSError, ValueError) as error:
        stream.write(f"error: {error}\n")
        return EXIT_BAD_INPUT
    if not report.ok:
        stream.write(report.format_text() + "\n")
        stream.write("import failed: fix the failing lines and try again\n")
        return EXIT_BAD_INPUT
    forecast = report.forecast
    stream.write(
        f"sweeping {arguments.setting} over {len(arguments.values)} values on"
        f" {forecast.tour_count} tours (forecast {forecast.sha256[:12]}),"
        f" gap target {arguments.gap_target:.2%},"
        f" time limit {arguments.time_limit:g} s per point,"
        f" {arguments.workers} worker(s)\n"
    )
    stream.flush()

    def on_point(point: SweepPoint) -> None:
        stream.write(
            f"  {point.value:g}: {point.drivers} drivers, lower bound"
            f" {point.lower_bound}, {point.status}, {point.seconds:.1f} s\n"
        )
        stream.flush()

    started = time.monotonic()
    try:
        points = sweep(
            forecast,
            rules,
            arguments.setting,
            arguments.values,
            time_limit_seconds=arguments.time_limit,
            gap_target=arguments.gap_target,
            on_point=on_point,
            workers=arguments.workers,
        )
    except ValueError as error:
        stream.write(f"error: {error}\n")
        return EXIT_BAD_INPUT
    print_sweep_points(stream, points, time.monotonic() - started)
    return EXIT_OK


def run_generate(arguments: argparse.Namespace, stream: TextIO) -> int:
    """Write a generated forecast as tidy CSV."""
    if not 1 <= arguments.tours <= MAX_FORECAST_TOURS:
        stream.write(f"error: --tours must lie in 1..{MAX_FORECAST_TOURS}\n")
        return EXIT_BAD_INPUT
    forecast = generate_forecast(arguments.tours, seed=arguments.seed)
    out = Path(arguments.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(format_tidy_csv(forecast), encoding="utf-8")
    stream.write(
        f"wrote {out}: {forecast.tour_count} tours"
        f" in {len(forecast.templates)} templates\n"
    )
    return EXIT_OK


def run_bench(arguments: argparse.Namespace, stream: TextIO) -> int:
    """Print the figures the engine is judged by (see solver.benchmark)."""
    path = Path(arguments.forecast)
    if not path.is_file():
        stream.write(
            f"error: benchmark forecast not found at {path};"
            " give one with --forecast FILE\n"
        )
        return EXIT_BAD_INPUT
    return run_benchmark(
        stream,
        path,
        Path(arguments.out),
        time_limit_seconds=arguments.time_limit,
        seed=arguments.seed,
        scale_factors=arguments.scale,
        scale_time_limit_seconds=arguments.scale_time_limit,
    )


def gap_fraction(text: str) -> float:
    """Parse a gap target: a fraction from 0 up to, not including, 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(
            f"gap target must lie in [0, 1), for example 0.01 for 1 %; got {text!r}"
        )
    return value


def sweep_values(text: str) -> tuple[float, ...]:
    """Parse sweep values such as "2400,2700,3000"; true and false mean 1 and 0."""
    values: list[float] = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        if part.lower() in ("true", "false"):
            values.append(1.0 if part.lower() == "true" else 0.0)
            continue
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"sweep value {part!r} is not a number")
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"sweep value {part!r} is not finite")
        values.append(value)
    if not values:
        raise argparse.ArgumentTypeError("give at least one sweep value")
    return tuple(values)


def worker_count(text: str) -> int:
    """Parse a number of worker processes: a whole number of 1 or more."""
    try:
        workers = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    if workers < 1:
        raise argparse.ArgumentTypeError(f"workers must be 1 or more, got {workers}")
    return workers


def scale_factors(text: str) -> tuple[float, ...]:
    """Parse sizes such as "0.5,1,2,4"; an empty text means no scale runs."""
    factors = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        try:
            factor = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"size {part!r} is not a number")
        if not math.isfinite(factor) or factor <= 0:
            raise argparse.ArgumentTypeError(f"size {part!r} must be above 0")
        factors.append(factor)
    return tuple(factors)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m solver", description="Plan a week of delivery tours."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser(
        "plan", help="import a forecast and write a validated plan"
    )
    plan.add_argument("forecast", help="forecast file: CSV, text or .xlsx")
    plan.add_argument("--out", required=True, help="folder for the plan files")
    plan.add_argument(
        "--time-limit",
        type=positive_seconds,
        default=120.0,
        help="wall time for the search in seconds (default: %(default)s)",
    )
    plan.add_argument(
        "--format",
        choices=sorted(FORMATS) + ["xlsx"],
        help="force the forecast format instead of detecting it",
    )
    plan.add_argument(
        "--rules", help="JSON file with rule settings that replace the defaults"
    )
    plan.add_argument(
        "--seed", type=solver_seed, default=0, help="seed passed to HiGHS (default: 0)"
    )
    plan.add_argument(
        "--gap-target",
        type=gap_fraction,
        default=0.0,
        help="stop once the gap to the lower bound is at most this fraction"
        " (default: 0, search until proven optimal or out of time)",
    )
    plan.set_defaults(run=run_plan)

    add_sweep_command(commands)

    generate = commands.add_parser(
        "generate", help="write a realistic generated forecast"
    )
    generate.add_argument("--tours", type=int, required=True, help="number of tours")
    generate.add_argument("--seed", type=int, default=0, help="seed of the generator")
    generate.add_argument("--out", required=True, help="tidy CSV file to write")
    generate.set_defaults(run=run_generate)

    bench = commands.add_parser(
        "bench", help="plan the forecast of record and print figures"
    )
    bench.add_argument(
        "--forecast", default=str(BENCHMARK_FORECAST), help="forecast file to plan"
    )
    bench.add_argument(
        "--time-limit",
        type=positive_seconds,
        default=120.0,
        help="wall time for the search in seconds (default: %(default)s)",
    )
    bench.add_argument(
        "--seed", type=solver_seed, default=0, help="seed passed to HiGHS (default: 0)"
    )
    bench.add_argument(
        "--out", default="bench-out", help="folder for plans, tables and the plot"
    )
    bench.add_argument(
        "--scale",
        type=scale_factors,
        default=SCALE_FACTORS,
        help="sizes of the generated forecasts relative to the forecast of record,"
        ' comma-separated (default: 0.5,1,2,4; "" for none)',
    )
    bench.add_argument(
        "--scale-time-limit",
        type=positive_seconds,
        default=SCALE_TIME_LIMIT_SECONDS,
        help="time limit of each scale run in seconds (default: %(default)s)",
    )
    bench.set_defaults(run=run_bench)
    return parser


def add_sweep_command(commands: argparse._SubParsersAction) -> None:
    sweep_parser = commands.add_parser(
        "sweep",
        help="plan a forecast once per value of one rule setting",
        description="Plan the forecast once per value and print, per point,"
        " the drivers, the lower bound, the gap, the status and the seconds.",
    )
    sweep_parser.add_argument("forecast", help="forecast file: CSV, text or .xlsx")
    sweep_parser.add_argument(
        "--setting",
        required=True,
        help="rule setting to vary, such as max_weekly_minutes, or demand_percent"
        " to scale the demand",
    )
    sweep_parser.add_argument(
        "--values",
        type=sweep_values,
        required=True,
        help="comma-separated values: minutes for a rule setting, percent for"
        " demand_percent, true or false for a switch",
    )
    sweep_parser.add_argument(
        "--gap-target",
        type=gap_fraction,
        default=0.0,
        help="each point stops once the gap to its lower bound is at most this"
        " fraction (default: 0, search until proven optimal or out of time)",
    )
    sweep_parser.add_argument(
        "--time-limit",
        type=positive_seconds,
        default=SWEEP_TIME_LIMIT_SECONDS,
        help="wall time for each point in seconds (default: %(default)s)",
    )
    sweep_parser.add_argument(
        "--workers",
        type=worker_count,
        default=1,
        help="worker processes that plan points side by side (default: 1)",
    )
    sweep_parser.add_argument(
        "--format",
        choices=sorted(FORMATS) + ["xlsx"],
        help="force the forecast format instead of detecting it",
    )
    sweep_parser.add_argument(
        "--rules", help="JSON file with rule settings that replace the defaults"
    )
    sweep_parser.set_defaults(run=run_sweep)


def main(argv: list[str] | None = None, stream: TextIO = sys.stdout) -> int:
    """Run one command and return its exit code."""
    arguments = build_parser().parse_args(argv)
    return arguments.run(arguments, stream)
