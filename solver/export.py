"""Plan files for dispatchers and analysts: CSV for spreadsheets, JSON for tools.

Weekdays are ISO numbers (1 = Monday to 7 = Sunday) and times are HH:MM. An
end earlier than the start means the tour or block ends the next day. CSV
files are UTF-8 without byte order mark, comma-separated, with CRLF line ends
(the csv module's default).

NOTE: without a byte order mark, Excel may read a CSV in the local code page
when it is opened by double-click, which garbles names such as Süd. Importing
the file as UTF-8 text shows them correctly.

A CSV cell that can carry user text (tour ids, which contain depot names, and
driver ids) gets a leading apostrophe when it starts with =, +, -, @, a tab or
a carriage return. Spreadsheet programs would otherwise run such a cell as a
formula.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from solver.checks import CheckResult
from solver.plan import Block, BlockKind, Plan
from solver.tours import MINUTES_PER_DAY, WEEKDAYS, Tour, format_clock

ASSIGNMENTS_HEADER = ("tour_id", "weekday", "start", "end", "driver")
ROSTERS_HEADER = (
    "driver",
    "day",
    "block_kind",
    "tour_ids",
    "start",
    "end",
    "minutes",
)
MATRIX_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MATRIX_HEADER = ("driver", *MATRIX_DAY_NAMES, "hours")
BLOCK_KIND_MARKS = {
    BlockKind.SINGLE: "",
    BlockKind.DOUBLE_REGULAR: " (2)",
    BlockKind.DOUBLE_SPLIT: " (2s)",
    BlockKind.TRIPLE_CHAINED: " (3)",
}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
PLAN_FILE_NAMES = (
    "assignments.csv",
    "rosters.csv",
    "matrix.csv",
    "kpis.json",
    "checks.json",
)


def write_plan_files(
    out_dir: Path,
    plan: Plan,
    tours: Sequence[Tour],
    kpis: dict[str, Any],
    checks: Sequence[CheckResult],
) -> list[Path]:
    """Write the plan's CSV and JSON files into `out_dir` and return their paths.

    `out_dir` and its parents are created when missing, and files of the same
    name are overwritten. The files are:

    - assignments.csv: one row per tour of `tours`, in week order, with the
      driver who covers it. The driver is empty for an uncovered tour. A tour
      that the plan assigns more than once lists all its drivers, separated
      by spaces.
    - rosters.csv: one row per block, drivers in plan order and blocks by day.
      `tour_ids` are separated by spaces, and `minutes` is the block's work
      time without the gaps between tours.
    - matrix.csv: one row per driver with one cell per weekday, Monday to
      Sunday, and the week's work in hours. A cell is the block's time range
      with the mark of its kind: none for a single tour (`05:00-09:30`),
      `(2)` for a regular double (`05:00-14:30 (2)`), `(2s)` for a split
      double and `(3)` for a chained triple. A day off is an empty cell.
    - kpis.json: `kpis`, indented, with sorted keys.
    - checks.json: the list of `CheckResult.to_dict()` of `checks`.

    The files are first written into a staging folder inside `out_dir` and
    then moved into place, so a failure while writing leaves the files of an
    earlier plan untouched instead of mixing old and new files.

    Raises:
        ValueError: the plan contains a tour id that `tours` lacks, so the
            assignments would contradict the rosters.
        PlanFilesNotWritable: `out_dir` or one of the file names is taken by
            something other than a folder or a regular file.
    """
    check_plan_folder(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    drivers_by_tour = _drivers_by_tour(plan, tours)

    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    try:
        staged = [
            _write_csv(
                staging / "assignments.csv",
                ASSIGNMENTS_HEADER,
                _assignment_rows(tours, drivers_by_tour),
            ),
            _write_csv(staging / "rosters.csv", ROSTERS_HEADER, _roster_rows(plan)),
            _write_csv(staging / "matrix.csv", MATRIX_HEADER, _matrix_rows(plan)),
            _write_json(staging / "kpis.json", kpis),
            _write_json(staging / "checks.json", [check.to_dict() for check in checks]),
        ]
        paths = []
        for path in staged:
            target = out_dir / path.name
            os.replace(path, target)
            paths.append(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return paths


class PlanFilesNotWritable(ValueError):
    """The output folder or a plan file name is taken by something else."""


def check_plan_folder(out_dir: Path) -> None:
    """Raise PlanFilesNotWritable unless the plan files can be written to `out_dir`."""
    for folder in (out_dir, *out_dir.parents):
        if folder.exists() and not folder.is_dir():
            raise PlanFilesNotWritable(
                f"cannot write plan files to {out_dir}: {folder} exists and is"
                " not a folder; choose another --out folder"
            )
    for name in PLAN_FILE_NAMES:
        target = out_dir / name
        if target.exists() and not target.is_file():
            raise PlanFilesNotWritable(
                f"cannot write {target}: something other than a file has that"
                " name; move it away or choose another --out folder"
            )


def _drivers_by_tour(plan: Plan, tours: Sequence[Tour]) -> dict[str, list[str]]:
    drivers_by_tour: dict[str, list[str]] = {tour.tour_id: [] for tour in tours}
    for roster in plan.rosters:
        for tour in roster.tours:
            if tour.tour_id not in drivers_by_tour:
                raise ValueError(
                    f"tour {tour.tour_id} of driver {roster.driver} is not among the"
                    " forecast tours. Pass the tours the plan was solved for."
                )
            drivers_by_tour[tour.tour_id].append(roster.driver)
    return drivers_by_tour


def _assignment_rows(
    tours: Sequence[Tour], drivers_by_tour: dict[str, list[str]]
) -> list[list[str | int]]:
    in_week_order = sorted(
        tours, key=lambda tour: (tour.week_start, tour.week_end, tour.tour_id)
    )
    return [
        [
            _spreadsheet_safe(tour.tour_id),
            tour.day,
            format_clock(tour.start_minute),
            format_clock(tour.end_minute),
            _spreadsheet_safe(" ".join(drivers_by_tour[tour.tour_id])),
        ]
        for tour in in_week_order
    ]


def _roster_rows(plan: Plan) -> list[list[str | int]]:
    rows: list[list[str | int]] = []
    for roster in plan.rosters:
        for block in sorted(roster.blocks, key=lambda block: block.week_start):
            rows.append(
                [
                    _spreadsheet_safe(roster.driver),
                    block.day,
                    block.kind.value,
                    _spreadsheet_safe(" ".join(tour.tour_id for tour in block.tours)),
                    format_clock(block.week_start % MINUTES_PER_DAY),
                    format_clock(block.week_end % MINUTES_PER_DAY),
                    block.work_minutes,
                ]
            )
    return rows


def _matrix_rows(plan: Plan) -> list[list[str]]:
    rows = []
    for roster in plan.rosters:
        cells_by_day: dict[int, list[str]] = {day: [] for day in WEEKDAYS}
        for block in sorted(roster.blocks, key=lambda block: block.week_start):
            if block.day not in cells_by_day:
                raise ValueError(
                    f"block of driver {roster.driver} has weekday {block.day}, but"
                    " a weekday must be 1 (Monday) to 7 (Sunday)"
                )
            cells_by_day[block.day].append(_matrix_cell(block))
        hours = roster.work_minutes / 60
        rows.append(
            [
                _spreadsheet_safe(roster.driver),
                # A roster with two blocks on one day breaks the plan rules, and
                # the validator reports it. The cell shows both blocks.
                *(" / ".join(cells_by_day[day]) for day in WEEKDAYS),
                f"{hours:.2f}",
            ]
        )
    return rows


def _matrix_cell(block: Block) -> str:
    start = format_clock(block.week_start % MINUTES_PER_DAY)
    end = format_clock(block.week_end % MINUTES_PER_DAY)
    return f"{start}-{end}{BLOCK_KIND_MARKS[block.kind]}"


def _spreadsheet_safe(text: str) -> str:
    """Prefix an apostrophe when a spreadsheet would read the text as a formula."""
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _write_csv(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[str | int]]
) -> Path:
    # newline="" leaves the line ends to the csv module, which writes CRLF.
    with path.open("w", encoding="utf-8", newline="") as csv_file:
        writer = csv.writer(csv_file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _write_json(path: Path, content: Any) -> Path:
    text = json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8", newline="\n")
    return path
