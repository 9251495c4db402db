import csv
import io
import json

import pytest

from solver.cli import main

ASSIGNMENT_COLUMNS = ["tour_id", "weekday", "start", "end", "driver"]


@pytest.fixture(scope="module")
def planned_week(tmp_path_factory):
    """Generate a forecast of 300 tours and plan it through the command line."""
    folder = tmp_path_factory.mktemp("cli")
    forecast = folder / "forecast.csv"
    out = folder / "plan"
    output = io.StringIO()

    generated = main(
        ["generate", "--tours", "300", "--seed", "5", "--out", str(forecast)], output
    )
    planned = main(
        ["plan", str(forecast), "--out", str(out), "--time-limit", "60"], output
    )

    return generated, planned, out, output.getvalue()


def read_rows(path):
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.reader(stream))


def test_plan_command_exits_zero(planned_week):
    generated, planned, _, _ = planned_week

    assert generated == 0
    assert planned == 0


def test_plan_command_prints_report_progress_and_summary(planned_week):
    _, _, _, printed = planned_week

    assert "forecast import, format tidy" in printed
    assert "lower bound" in printed
    assert "status: " in printed
    assert "PASS coverage" in printed


def test_assignments_file_has_one_row_per_tour(planned_week):
    _, _, out, _ = planned_week

    rows = read_rows(out / "assignments.csv")

    assert rows[0] == ASSIGNMENT_COLUMNS
    assert len(rows) == 1 + 300
    assert all(row[4] for row in rows[1:])
    assert {row[1] for row in rows[1:]} <= {"1", "2", "3", "4", "5", "6", "7"}


def test_kpis_and_checks_agree_with_assignments(planned_week):
    _, _, out, _ = planned_week
    rows = read_rows(out / "assignments.csv")[1:]

    kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    checks = json.loads((out / "checks.json").read_text(encoding="utf-8"))

    assert kpis["drivers"] == len({row[4] for row in rows})
    assert kpis["tours_covered"] == 300
    assert kpis["lower_bound"] <= kpis["drivers"]
    assert kpis["violations"] == 0
    assert all(check["passed"] for check in checks)
    assert kpis["status"] in {"optimal", "feasible", "time_limit"}


def test_rosters_and_matrix_name_the_same_drivers(planned_week):
    _, _, out, _ = planned_week

    roster_drivers = {row[0] for row in read_rows(out / "rosters.csv")[1:]}
    matrix_rows = read_rows(out / "matrix.csv")

    assert matrix_rows[0][0] == "driver"
    assert {row[0] for row in matrix_rows[1:]} == roster_drivers


def test_failed_import_exits_two_and_writes_nothing(tmp_path):
    forecast = tmp_path / "bad.csv"
    forecast.write_text("Montag;Anzahl\n05:30-10:00;x\n", encoding="utf-8")
    out = tmp_path / "plan"
    output = io.StringIO()

    code = main(["plan", str(forecast), "--out", str(out)], output)

    assert code == 2
    assert not out.exists()
    assert "line 2" in output.getvalue()
    assert "no plan written" in output.getvalue()


def test_uncoverable_tour_exits_one_and_names_the_rule(tmp_path):
    forecast = tmp_path / "week.txt"
    forecast.write_text("Mo 06:00-11:00 1\nDi 06:00-09:00 1\n", encoding="utf-8")
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"max_weekly_minutes": 240}), encoding="utf-8")
    out = tmp_path / "plan"
    output = io.StringIO()

    code = main(
        ["plan", str(forecast), "--out", str(out), "--rules", str(rules)], output
    )

    assert code == 1
    rows = read_rows(out / "assignments.csv")[1:]
    assert [row[4] for row in rows if row[0].startswith("Mo-")] == [""]
    assert [bool(row[4]) for row in rows if row[0].startswith("Di-")] == [True]
    assert "weekly_hours" in output.getvalue()
    assert "no feasible plan" in output.getvalue()


def test_unknown_rule_setting_is_rejected(tmp_path):
    forecast = tmp_path / "week.txt"
    forecast.write_text("Mo 06:00-11:00 1\n", encoding="utf-8")
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"max_weekly_hours": 48}), encoding="utf-8")
    output = io.StringIO()

    code = main(
        ["plan", str(forecast), "--out", str(tmp_path / "plan"), "--rules", str(rules)],
        output,
    )

    assert code == 2
    assert "unknown rule setting max_weekly_hours" in output.getvalue()


@pytest.mark.parametrize("limit", ["-1", "0", "nan", "inf", "abc"])
def test_invalid_time_limit_is_rejected(tmp_path, limit, capsys):
    forecast = tmp_path / "week.txt"
    forecast.write_text("Mo 06:00-11:00 1\n", encoding="utf-8")

    with pytest.raises(SystemExit) as raised:
        main(
            [
                "plan",
                str(forecast),
                "--out",
                str(tmp_path / "plan"),
                "--time-limit",
                limit,
            ]
        )

    assert raised.value.code == 2
    assert "--time-limit" in capsys.readouterr().err
    assert not (tmp_path / "plan").exists()


def test_out_naming_a_file_is_rejected_before_planning(tmp_path):
    forecast = tmp_path / "week.txt"
    forecast.write_text("Mo 06:00-11:00 1\n", encoding="utf-8")
    taken = tmp_path / "taken"
    taken.write_text("keep me", encoding="utf-8")
    output = io.StringIO()

    code = main(["plan", str(forecast), "--out", str(taken)], output)

    assert code == 2
    assert "is not a folder" in output.getvalue()
    assert "planning" not in output.getvalue()
    assert taken.read_text(encoding="utf-8") == "keep me"


def test_missing_forecast_file_is_named(tmp_path):
    output = io.StringIO()

    code = main(["plan", str(tmp_path / "nowhere.csv"), "--out", str(tmp_path)], output)

    assert code == 2
    assert "forecast file not found" in output.getvalue()


def test_kpis_name_uncoverable_tours_with_their_rule(tmp_path):
    forecast = tmp_path / "week.txt"
    forecast.write_text("Mo 06:00-11:00 1\n", encoding="utf-8")
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"max_weekly_minutes": 60}), encoding="utf-8")
    out = tmp_path / "plan"

    code = main(
        ["plan", str(forecast), "--out", str(out), "--rules", str(rules)], io.StringIO()
    )

    kpis = json.loads((out / "kpis.json").read_text(encoding="utf-8"))
    assert code == 1
    assert kpis["uncoverable"][0]["tour_id"] == "Mo-0600-1100-01"
    assert kpis["uncoverable"][0]["rule"] == "weekly_hours"


def test_rule_switch_must_be_true_or_false(tmp_path):
    forecast = tmp_path / "week.txt"
    forecast.write_text("Mo 06:00-11:00 1\n", encoding="utf-8")
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps({"forbid_triple_after_triple": "false"}), encoding="utf-8"
    )
    output = io.StringIO()

    code = main(
        ["plan", str(forecast), "--out", str(tmp_path / "p"), "--rules", str(rules)],
        output,
    )

    assert code == 2
    assert "forbid_triple_after_triple must be true or false" in output.getvalue()


def test_generate_refuses_more_tours_than_a_week_holds(tmp_path):
    output = io.StringIO()

    code = main(
        ["generate", "--tours", "100000000", "--out", str(tmp_path / "f.csv")], output
    )

    assert code == 2
    assert "--tours must lie in 1..20000" in output.getvalue()
    assert not (tmp_path / "f.csv").exists()


def test_rules_file_not_utf8_is_named(tmp_path):
    rules = tmp_path / "rules.json"
    rules.write_bytes(b"\xab\xcd\xef{}")
    forecast = tmp_path / "week.csv"
    forecast.write_text("day,start,end,count\n1,06:00,10:30,1\n", "utf-8")
    output = io.StringIO()

    code = main(
        ["plan", str(forecast), "--out", str(tmp_path / "plan"), "--rules", str(rules)],
        output,
    )

    assert code == 2
    assert (
        f"cannot read rule settings from {rules}: the file is not UTF-8"
        in output.getvalue()
    )


def write_sweep_week(folder):
    forecast = folder / "week.txt"
    forecast.write_text(
        "Mo 06:00-10:30 3\nMo 14:00-18:30 2\nFr 06:00-10:30 4\n", encoding="utf-8"
    )
    return forecast


def test_sweep_command_prints_each_point_and_total(tmp_path):
    output = io.StringIO()

    code = main(
        [
            "sweep",
            str(write_sweep_week(tmp_path)),
            "--setting",
            "max_weekly_minutes",
            "--values",
            "270,3300",
            "--gap-target",
            "0.01",
            "--time-limit",
            "30",
        ],
        output,
    )

    lines = output.getvalue().splitlines()
    assert code == 0
    assert lines[0].startswith("sweeping max_weekly_minutes over 2 values on 9 tours")
    assert "  270: 9 drivers, lower bound 9, optimal" in lines[1]
    assert "  3300: 5 drivers, lower bound 5, optimal" in lines[2]
    assert lines[3].split() == [
        "value",
        "drivers",
        "lower",
        "bound",
        "gap",
        "status",
        "seconds",
    ]
    assert lines[4].split()[:5] == ["270", "9", "9", "0.00%", "optimal"]
    assert lines[5].split()[:5] == ["3300", "5", "5", "0.00%", "optimal"]
    assert lines[6].startswith("total wall time ")
    assert lines[6].endswith(" s")


def test_sweep_command_with_workers_prints_same_rows(tmp_path):
    forecast = str(write_sweep_week(tmp_path))
    arguments = ["sweep", forecast, "--setting", "demand_percent", "--values", "50,100"]
    alone, shared = io.StringIO(), io.StringIO()

    assert main(arguments, alone) == 0
    assert main(arguments + ["--workers", "2"], shared) == 0

    def rows(printed: str) -> list[list[str]]:
        return [line.split()[:5] for line in printed.splitlines()[3:5]]

    assert rows(shared.getvalue()) == rows(alone.getvalue())
    assert "2 worker(s)" in shared.getvalue()


def test_sweep_command_rejects_unknown_setting(tmp_path):
    output = io.StringIO()

    code = main(
        [
            "sweep",
            str(write_sweep_week(tmp_path)),
            "--setting",
            "coffee_breaks",
            "--values",
            "1",
        ],
        output,
    )

    assert code == 2
    assert "unknown sweep setting 'coffee_breaks'" in output.getvalue()


def test_sweep_command_names_missing_forecast(tmp_path):
    output = io.StringIO()

    code = main(
        [
            "sweep",
            str(tmp_path / "nowhere.csv"),
            "--setting",
            "max_weekly_minutes",
            "--values",
            "2400",
        ],
        output,
    )

    assert code == 2
    assert "forecast file not found" in output.getvalue()


@pytest.mark.parametrize(
    ("option", "value"),
    [("--values", "2400,x"), ("--values", ","), ("--workers", "0")],
)
def test_sweep_command_rejects_bad_options(tmp_path, option, value, capsys):
    arguments = ["sweep", str(tmp_path / "week.csv"), "--setting", "max_weekly_minutes"]
    if option != "--values":
        arguments += ["--values", "2400"]

    with pytest.raises(SystemExit) as raised:
        main(arguments + [option, value], io.StringIO())

    assert raised.value.code == 2
    assert option in capsys.readouterr().err
