"""Forecast import through the service: idempotency, versions, diffs, rejection."""

from __future__ import annotations

from datetime import date

import pytest

from core.errors import InvalidInput
from core.forecasts import (
    FORECAST_IMPORT_REJECTED,
    FORECAST_IMPORT_REPEATED,
    FORECAST_IMPORTED,
    MAX_FORECAST_LINES,
    MAX_STORED_LINE_CHARACTERS,
    MAX_UPLOAD_BYTES,
    get_forecast_version,
    import_forecast,
    list_forecast_versions,
)
from core.permissions import Role
from core.plans import request_solve
from db.models import ForecastStatus
from db.repositories import audit_log, forecasts
from solver.tours import Forecast, TourTemplate
from tests.integration.databases import SMALL_FORECAST, WEEK_ANCHOR
from tests.integration.services.helpers import forecast_file

NEXT_WEEK = date(2025, 12, 8)
# SMALL_FORECAST with one more Monday tour, the night tour removed and a
# Tuesday template moved from ADR to KUEHL.
CHANGED_FORECAST = Forecast.from_templates(
    [
        TourTemplate(day=1, start_minute=6 * 60, end_minute=10 * 60 + 30, count=3),
        TourTemplate(day=1, start_minute=11 * 60 + 30, end_minute=16 * 60, count=1),
        TourTemplate(
            day=2,
            start_minute=6 * 60,
            end_minute=10 * 60 + 30,
            count=2,
            qualification="KUEHL",
        ),
    ]
)
# The demand of SMALL_FORECAST written as template lines instead of tidy CSV.
SMALL_FORECAST_AS_LINES = (
    b"Mi 22:00-01:30 1\nMo 06:00-10:30 2\nMo 11:30-16:00 1\nDi 06:00-10:30 2 ADR\n"
)
FAILING_FILE = b"day,start,end,count,depot,qualification\n1,06:00,10:30,x,,\n"


@pytest.fixture
def dispatcher(workbench, make_tenant):
    return make_tenant().actor(Role.DISPATCHER)


def audit_actions(workbench, tenant_id: int) -> list[str]:
    with workbench.session_factory() as session:
        return [entry.action for entry in audit_log.list_entries(session, tenant_id)]


class TestImportForecast:
    def test_first_import_creates_version_one(self, workbench, dispatcher):
        result = import_forecast(
            dispatcher, WEEK_ANCHOR, "week49.csv", forecast_file(SMALL_FORECAST)
        )

        assert result.created is True
        assert result.report.ok
        assert result.diff is None
        assert result.version.version_number == 1
        assert result.version.status == "accepted"
        assert result.version.sha256 == SMALL_FORECAST.sha256
        assert result.version.tour_count == SMALL_FORECAST.tour_count
        assert result.version.source_filename == "week49.csv"
        assert result.version.line_report[0]["status"] == "pass"
        assert audit_actions(workbench, dispatcher.tenant_id) == [FORECAST_IMPORTED]

    def test_same_file_returns_first_version(self, workbench, dispatcher):
        content = forecast_file(SMALL_FORECAST)
        first = import_forecast(dispatcher, WEEK_ANCHOR, "week49.csv", content)

        second = import_forecast(dispatcher, WEEK_ANCHOR, "week49.csv", content)

        assert second.created is False
        assert second.version.forecast_version_id == first.version.forecast_version_id
        assert len(list_forecast_versions(dispatcher, WEEK_ANCHOR)) == 1
        assert audit_actions(workbench, dispatcher.tenant_id) == [
            FORECAST_IMPORTED,
            FORECAST_IMPORT_REPEATED,
        ]

    def test_other_format_same_version(self, workbench, dispatcher):
        first = import_forecast(
            dispatcher, WEEK_ANCHOR, "week49.csv", forecast_file(SMALL_FORECAST)
        )

        second = import_forecast(
            dispatcher, WEEK_ANCHOR, "week49.txt", SMALL_FORECAST_AS_LINES
        )

        assert second.report.source_format == "lines"
        assert second.created is False
        assert second.version.forecast_version_id == first.version.forecast_version_id

    def test_other_week_new_version(self, workbench, dispatcher):
        content = forecast_file(SMALL_FORECAST)
        first = import_forecast(dispatcher, WEEK_ANCHOR, "week49.csv", content)

        other_week = import_forecast(dispatcher, NEXT_WEEK, "week49.csv", content)

        assert other_week.created is True
        assert other_week.version.version_number == 1
        assert other_week.version.forecast_version_id != (
            first.version.forecast_version_id
        )

    def test_changed_file_gets_diff(self, workbench, dispatcher):
        first = import_forecast(
            dispatcher, WEEK_ANCHOR, "week49.csv", forecast_file(SMALL_FORECAST)
        )

        changed = import_forecast(
            dispatcher, WEEK_ANCHOR, "week49-v2.csv", forecast_file(CHANGED_FORECAST)
        )
        stored = get_forecast_version(dispatcher, changed.version.forecast_version_id)

        assert changed.created is True
        assert changed.version.version_number == 2
        assert changed.diff.summary == "0 added, 1 removed, 2 changed"
        assert [change.fields for change in changed.diff.changed] == [
            ("count",),
            ("qualification",),
        ]
        assert stored.diff["against_version_id"] == first.version.forecast_version_id
        assert stored.diff["summary"] == "0 added, 1 removed, 2 changed"
        assert stored.diff["removed"] == [
            {
                "day": 3,
                "start": "22:00",
                "end": "01:30",
                "count": 1,
                "depot": "",
                "qualification": "",
            }
        ]
        assert stored.diff["changed"][0]["before"]["count"] == 2
        assert stored.diff["changed"][0]["after"]["count"] == 3

    def test_failing_file_stores_nothing_usable(self, workbench, dispatcher):
        accepted = import_forecast(
            dispatcher, WEEK_ANCHOR, "week49.csv", forecast_file(SMALL_FORECAST)
        )

        failed = import_forecast(dispatcher, WEEK_ANCHOR, "broken.csv", FAILING_FILE)
        with workbench.session_factory() as session:
            newest_accepted = forecasts.latest(
                session, dispatcher.tenant_id, WEEK_ANCHOR, accepted_only=True
            )
            newest = forecasts.latest(session, dispatcher.tenant_id, WEEK_ANCHOR)
            rejected_tours = forecasts.list_tours(
                session, dispatcher.tenant_id, newest.id
            )

        assert failed.version is None
        assert failed.created is False
        assert not failed.report.ok
        assert [line.line_number for line in failed.report.failures] == [2]
        assert "tour count" in failed.report.failures[0].reason
        assert newest_accepted.id == accepted.version.forecast_version_id
        assert newest.status is ForecastStatus.REJECTED
        assert newest.line_report[1]["status"] == "failure"
        assert rejected_tours == []
        assert audit_actions(workbench, dispatcher.tenant_id)[-1] == (
            FORECAST_IMPORT_REJECTED
        )

    def test_failing_file_twice_is_stored_once(self, workbench, dispatcher):
        import_forecast(dispatcher, WEEK_ANCHOR, "broken.csv", FAILING_FILE)

        again = import_forecast(dispatcher, WEEK_ANCHOR, "broken.csv", FAILING_FILE)

        assert again.version is None
        assert not again.report.ok
        assert len(list_forecast_versions(dispatcher, WEEK_ANCHOR)) == 1

    def test_rejected_version_cannot_be_solved(self, workbench, dispatcher):
        import_forecast(dispatcher, WEEK_ANCHOR, "broken.csv", FAILING_FILE)
        rejected = list_forecast_versions(dispatcher, WEEK_ANCHOR)[0]

        with pytest.raises(InvalidInput, match="rejected at import"):
            request_solve(dispatcher, rejected.forecast_version_id)

    def test_week_anchor_must_be_a_monday(self, workbench, dispatcher):
        tuesday = date(2025, 12, 2)

        with pytest.raises(InvalidInput, match="is a Tuesday"):
            import_forecast(dispatcher, tuesday, "w.csv", forecast_file(SMALL_FORECAST))

        assert list_forecast_versions(dispatcher) == []

    def test_oversized_upload_is_rejected(self, workbench, dispatcher):
        content = forecast_file(SMALL_FORECAST)
        oversized = content + b"#" * (MAX_UPLOAD_BYTES + 1 - len(content))

        with pytest.raises(InvalidInput) as rejected:
            import_forecast(dispatcher, WEEK_ANCHOR, "big.csv", oversized)

        assert rejected.value.field == "content"
        assert str(MAX_UPLOAD_BYTES + 1) in str(rejected.value)
        assert list_forecast_versions(dispatcher) == []

    def test_upload_at_size_limit(self, workbench, dispatcher):
        content = forecast_file(SMALL_FORECAST)
        # One last line of spaces fills the file up to the limit.
        at_limit = content + b" " * (MAX_UPLOAD_BYTES - len(content))

        result = import_forecast(dispatcher, WEEK_ANCHOR, "big.csv", at_limit)

        assert len(at_limit) == MAX_UPLOAD_BYTES
        assert result.version is not None
        assert len(result.version.line_report[-1]["raw"]) == MAX_STORED_LINE_CHARACTERS

    def test_too_many_lines_rejected(self, workbench, dispatcher):
        content = forecast_file(SMALL_FORECAST) + b"\n" * MAX_FORECAST_LINES

        with pytest.raises(InvalidInput, match="lines, more than the limit"):
            import_forecast(dispatcher, WEEK_ANCHOR, "long.csv", content)

        assert list_forecast_versions(dispatcher) == []

    def test_folders_cut_from_filename(self, workbench, dispatcher):
        result = import_forecast(
            dispatcher,
            WEEK_ANCHOR,
            "C:\\Users\\dana\\Desktop\\week49.csv",
            forecast_file(SMALL_FORECAST),
        )

        assert result.version.source_filename == "week49.csv"


class TestListForecastVersions:
    def test_newest_week_and_version_come_first(self, workbench, dispatcher):
        import_forecast(dispatcher, WEEK_ANCHOR, "a.csv", forecast_file(SMALL_FORECAST))
        import_forecast(
            dispatcher, WEEK_ANCHOR, "b.csv", forecast_file(CHANGED_FORECAST)
        )
        import_forecast(dispatcher, NEXT_WEEK, "c.csv", forecast_file(SMALL_FORECAST))

        listed = list_forecast_versions(dispatcher)
        of_week = list_forecast_versions(dispatcher, WEEK_ANCHOR)

        assert [(view.week_anchor, view.version_number) for view in listed] == [
            (NEXT_WEEK, 1),
            (WEEK_ANCHOR, 2),
            (WEEK_ANCHOR, 1),
        ]
        assert [view.source_filename for view in of_week] == ["b.csv", "a.csv"]
