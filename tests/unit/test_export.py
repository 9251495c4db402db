import csv
import json

import pytest

from solver.checks import CheckResult, Violation
from solver.export import PlanFilesNotWritable, write_plan_files
from solver.plan import Block, BlockKind, Plan, Roster
from solver.pricing import plan_kpis
from solver.rules import RuleSettings
from solver.tours import MINUTES_PER_DAY, Tour


def make_tour(tour_id: str, day: int, start: str, end: str) -> Tour:
    """Build a tour from HH:MM times. An end at or before the start is next day."""
    start_minute = int(start[:2]) * 60 + int(start[3:])
    end_minute = int(end[:2]) * 60 + int(end[3:])
    duration = (end_minute - start_minute) % MINUTES_PER_DAY
    week_start = (day - 1) * MINUTES_PER_DAY + start_minute
    return Tour(week_start, week_start + duration, tour_id, day)


def make_block(kind: BlockKind, *tours: Tour) -> Block:
    return Block(day=tours[0].day, kind=kind, tours=tours)


MONDAY_EARLY = make_tour("Mo-0500-0930-Nord-01", 1, "05:00", "09:30")
MONDAY_LATE = make_tour("Mo-1000-1430-Nord-01", 1, "10:00", "14:30")
TUESDAY_NIGHT = make_tour("Di-2200-0630-Süd-01", 2, "22:00", "06:30")
WEDNESDAY_EARLY = make_tour("Mi-0500-0900-West-01", 3, "05:00", "09:00")
WEDNESDAY_LATE = make_tour("Mi-1400-1800-West-01", 3, "14:00", "18:00")
THURSDAY_FIRST = make_tour("Do-0500-0900-Nord-01", 4, "05:00", "09:00")
THURSDAY_SECOND = make_tour("Do-0930-1330-Nord-01", 4, "09:30", "13:30")
THURSDAY_THIRD = make_tour("Do-1400-1800-Nord-01", 4, "14:00", "18:00")
SUNDAY_UNCOVERED = make_tour("So-0600-1030-Nord-KUEHL-01", 7, "06:00", "10:30")

WEEK_TOURS = (
    MONDAY_EARLY,
    MONDAY_LATE,
    TUESDAY_NIGHT,
    WEDNESDAY_EARLY,
    WEDNESDAY_LATE,
    THURSDAY_FIRST,
    THURSDAY_SECOND,
    THURSDAY_THIRD,
    SUNDAY_UNCOVERED,
)


def small_plan() -> Plan:
    """D001 works a regular double and a night single, D002 a split and a triple."""
    first_driver = Roster(
        "D001",
        (
            make_block(BlockKind.DOUBLE_REGULAR, MONDAY_EARLY, MONDAY_LATE),
            make_block(BlockKind.SINGLE, TUESDAY_NIGHT),
        ),
    )
    second_driver = Roster(
        "D002",
        (
            make_block(BlockKind.DOUBLE_SPLIT, WEDNESDAY_EARLY, WEDNESDAY_LATE),
            make_block(
                BlockKind.TRIPLE_CHAINED,
                THURSDAY_FIRST,
                THURSDAY_SECOND,
                THURSDAY_THIRD,
            ),
        ),
    )
    return Plan(rosters=(first_driver, second_driver), uncovered=(SUNDAY_UNCOVERED,))


def small_checks() -> list[CheckResult]:
    return [
        CheckResult("coverage", "every tour covered once", checked=9),
        CheckResult(
            "rest",
            "at least 11 h rest between days",
            violations=(
                Violation(
                    message="rest 9 h after Tuesday night",
                    driver="D001",
                    day=2,
                    tour_ids=("Di-2200-0630-Süd-01",),
                    amount_minutes=120,
                ),
            ),
            checked=4,
        ),
    ]


def read_rows(path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as csv_file:
        return list(csv.reader(csv_file))


def write_small_plan(out_dir, tours=WEEK_TOURS):
    plan = small_plan()
    kpis = plan_kpis(plan, RuleSettings())
    return write_plan_files(out_dir, plan, list(tours), kpis, small_checks())


def test_written_paths_are_returned(tmp_path):
    out_dir = tmp_path / "plans" / "week-07"

    paths = write_small_plan(out_dir)

    assert paths == [
        out_dir / "assignments.csv",
        out_dir / "rosters.csv",
        out_dir / "matrix.csv",
        out_dir / "kpis.json",
        out_dir / "checks.json",
    ]
    assert all(path.is_file() for path in paths)


def test_assignments_list_every_tour_in_week_order(tmp_path):
    shuffled_tours = list(reversed(WEEK_TOURS))

    write_small_plan(tmp_path, shuffled_tours)

    assert read_rows(tmp_path / "assignments.csv") == [
        ["tour_id", "weekday", "start", "end", "driver"],
        ["Mo-0500-0930-Nord-01", "1", "05:00", "09:30", "D001"],
        ["Mo-1000-1430-Nord-01", "1", "10:00", "14:30", "D001"],
        ["Di-2200-0630-Süd-01", "2", "22:00", "06:30", "D001"],
        ["Mi-0500-0900-West-01", "3", "05:00", "09:00", "D002"],
        ["Mi-1400-1800-West-01", "3", "14:00", "18:00", "D002"],
        ["Do-0500-0900-Nord-01", "4", "05:00", "09:00", "D002"],
        ["Do-0930-1330-Nord-01", "4", "09:30", "13:30", "D002"],
        ["Do-1400-1800-Nord-01", "4", "14:00", "18:00", "D002"],
        ["So-0600-1030-Nord-KUEHL-01", "7", "06:00", "10:30", ""],
    ]


def test_uncovered_tour_has_empty_driver(tmp_path):
    write_small_plan(tmp_path)

    rows = read_rows(tmp_path / "assignments.csv")

    uncovered = [row for row in rows if row[0] == "So-0600-1030-Nord-KUEHL-01"]
    assert uncovered == [["So-0600-1030-Nord-KUEHL-01", "7", "06:00", "10:30", ""]]


def test_rosters_list_one_row_per_block(tmp_path):
    write_small_plan(tmp_path)

    assert read_rows(tmp_path / "rosters.csv") == [
        ["driver", "day", "block_kind", "tour_ids", "start", "end", "minutes"],
        [
            "D001",
            "1",
            "double_regular",
            "Mo-0500-0930-Nord-01 Mo-1000-1430-Nord-01",
            "05:00",
            "14:30",
            "540",
        ],
        ["D001", "2", "single", "Di-2200-0630-Süd-01", "22:00", "06:30", "510"],
        [
            "D002",
            "3",
            "double_split",
            "Mi-0500-0900-West-01 Mi-1400-1800-West-01",
            "05:00",
            "18:00",
            "480",
        ],
        [
            "D002",
            "4",
            "triple_chained",
            "Do-0500-0900-Nord-01 Do-0930-1330-Nord-01 Do-1400-1800-Nord-01",
            "05:00",
            "18:00",
            "720",
        ],
    ]


def test_matrix_marks_block_kinds(tmp_path):
    write_small_plan(tmp_path)

    assert read_rows(tmp_path / "matrix.csv") == [
        ["driver", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "hours"],
        ["D001", "05:00-14:30 (2)", "22:00-06:30", "", "", "", "", "", "17.50"],
        ["D002", "", "", "05:00-18:00 (2s)", "05:00-18:00 (3)", "", "", "", "20.00"],
    ]


def test_csv_files_are_utf8_with_crlf_lines(tmp_path):
    write_small_plan(tmp_path)

    raw = (tmp_path / "assignments.csv").read_bytes()

    assert raw.startswith(b"tour_id,weekday,start,end,driver\r\n")
    assert "Di-2200-0630-Süd-01".encode("utf-8") in raw
    assert raw.count(b"\r\n") == 10
    assert b"\r\r\n" not in raw


def test_kpis_json_has_sorted_keys(tmp_path):
    plan = small_plan()
    kpis = plan_kpis(plan, RuleSettings())

    write_plan_files(tmp_path, plan, WEEK_TOURS, kpis, small_checks())

    text = (tmp_path / "kpis.json").read_text(encoding="utf-8")
    assert json.loads(text) == kpis
    top_level_keys = [key for key, _ in json.loads(text, object_pairs_hook=list)]
    assert top_level_keys == sorted(kpis)
    assert text.startswith('{\n  "average_weekly_hours": 18.75,\n')
    assert text.endswith("}\n")


def test_checks_json_lists_check_results(tmp_path):
    write_small_plan(tmp_path)

    checks = json.loads((tmp_path / "checks.json").read_text(encoding="utf-8"))

    assert checks == [
        {
            "rule": "coverage",
            "label": "every tour covered once",
            "passed": True,
            "checked": 9,
            "violations": [],
        },
        {
            "rule": "rest",
            "label": "at least 11 h rest between days",
            "passed": False,
            "checked": 4,
            "violations": [
                {
                    "message": "rest 9 h after Tuesday night",
                    "driver": "D001",
                    "day": 2,
                    "tour_ids": ["Di-2200-0630-Süd-01"],
                    "amount_minutes": 120,
                }
            ],
        },
    ]


def test_formula_like_cells_get_apostrophe(tmp_path):
    formula_tour = make_tour('=HYPERLINK("http://example.test")', 1, "05:00", "09:30")
    plus_tour = make_tour("+Mo-1000-1430-01", 1, "10:00", "14:30")
    at_tour = make_tour("@Di-0500-0930-01", 2, "05:00", "09:30")
    plan = Plan(
        rosters=(
            Roster(
                "-D001",
                (make_block(BlockKind.DOUBLE_REGULAR, formula_tour, plus_tour),),
            ),
            Roster("D002", (make_block(BlockKind.SINGLE, at_tour),)),
        )
    )
    tours = [formula_tour, plus_tour, at_tour]

    write_plan_files(tmp_path, plan, tours, plan_kpis(plan, RuleSettings()), [])

    assignments = read_rows(tmp_path / "assignments.csv")
    assert [row[0] for row in assignments[1:]] == [
        '\'=HYPERLINK("http://example.test")',
        "'+Mo-1000-1430-01",
        "'@Di-0500-0930-01",
    ]
    assert [row[4] for row in assignments[1:]] == ["'-D001", "'-D001", "D002"]
    rosters = read_rows(tmp_path / "rosters.csv")
    assert rosters[1][0] == "'-D001"
    assert rosters[1][3] == '\'=HYPERLINK("http://example.test") +Mo-1000-1430-01'
    assert rosters[2][3] == "'@Di-0500-0930-01"
    matrix = read_rows(tmp_path / "matrix.csv")
    assert matrix[1][0] == "'-D001"
    assert matrix[2][0] == "D002"


def test_tour_assigned_twice_lists_both_drivers(tmp_path):
    plan = Plan(
        rosters=(
            Roster("D001", (make_block(BlockKind.SINGLE, MONDAY_EARLY),)),
            Roster("D002", (make_block(BlockKind.SINGLE, MONDAY_EARLY),)),
        )
    )

    write_plan_files(tmp_path, plan, [MONDAY_EARLY], {}, [])

    assert read_rows(tmp_path / "assignments.csv")[1] == [
        "Mo-0500-0930-Nord-01",
        "1",
        "05:00",
        "09:30",
        "D001 D002",
    ]


def test_plan_tour_missing_from_tours_is_rejected(tmp_path):
    plan = small_plan()

    with pytest.raises(ValueError, match="Do-1400-1800-Nord-01"):
        write_plan_files(tmp_path, plan, WEEK_TOURS[:-2], {}, [])


def test_empty_plan_writes_headers_only(tmp_path):
    plan = Plan(rosters=())

    write_plan_files(tmp_path, plan, [], plan_kpis(plan, RuleSettings()), [])

    assert read_rows(tmp_path / "assignments.csv") == [
        ["tour_id", "weekday", "start", "end", "driver"]
    ]
    assert len(read_rows(tmp_path / "rosters.csv")) == 1
    assert len(read_rows(tmp_path / "matrix.csv")) == 1
    assert json.loads((tmp_path / "checks.json").read_text(encoding="utf-8")) == []


def test_blocked_file_name_leaves_earlier_files_untouched(tmp_path):
    (tmp_path / "assignments.csv").write_text("earlier plan", encoding="utf-8")
    (tmp_path / "kpis.json").mkdir()

    with pytest.raises(PlanFilesNotWritable):
        write_small_plan(tmp_path)

    assert (tmp_path / "assignments.csv").read_text(encoding="utf-8") == "earlier plan"
    assert not (tmp_path / "rosters.csv").exists()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".staging")]
