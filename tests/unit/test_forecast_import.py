import datetime
from pathlib import Path

import openpyxl
import pytest

from core.forecast_fields import MAX_FORECAST_TOURS
from core.forecast_import import (
    FORMATS,
    ImportReport,
    InvalidForecast,
    LineReport,
    LineStatus,
    main,
    parse_forecast,
    read_forecast_file,
)
from core.forecast_workbook import cell_text
from solver.tours import Forecast, TourTemplate, expand
from tests.conftest import SHARED_DATA

REAL_FORECAST = SHARED_DATA / "forecasts" / "week_1385_tours.csv"


def parse_text(text: str, **options: str) -> ImportReport:
    return parse_forecast(text.encode("utf-8"), **options)


def line_report(report: ImportReport, number: int) -> LineReport:
    return next(line for line in report.lines if line.line_number == number)


def write_workbook(path: Path, rows: list[list[object]], title: str = "Plan") -> Path:
    """Save rows on the first sheet of a new workbook; None leaves a cell empty."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def template(
    day: int, start: str, end: str, count: int, depot: str = "", qualification: str = ""
) -> TourTemplate:
    """Build a template from HH:MM times; 24:00 as end is stored as 0."""
    start_minute = int(start[:2]) * 60 + int(start[3:])
    end_minute = (int(end[:2]) * 60 + int(end[3:])) % 1440
    return TourTemplate(day, start_minute, end_minute, count, depot, qualification)


SECTIONED_WEEK = (
    "Montag;Anzahl\n05:30-10:00;12\n22:00-06:00;2\nDienstag;Anzahl\n06:00-14:00;3\n"
)
WIDE_WEEK = (
    "Montag;Anzahl;Dienstag;Anzahl\n05:30-10:00;12;06:00-14:00;3\n22:00-06:00;2;;\n"
)
LINES_WEEK = "Mo 05:30-10:00 12\nMo 22:00-06:00 2\nDi 06:00-14:00 3 Fahrer\n"
TIDY_WEEK = (
    "day,start,end,count,depot,qualification\n"
    "1,05:30,10:00,12,,\n"
    "1,22:00,06:00,2,,\n"
    "2,06:00,14:00,3,,\n"
)
WEEK_TEMPLATES = [
    template(1, "05:30", "10:00", 12),
    template(1, "22:00", "06:00", 2),
    template(2, "06:00", "14:00", 3),
]


class TestSectionedFormat:
    def test_day_sections_give_templates(self):
        report = parse_text(SECTIONED_WEEK)

        assert report.source_format == "sectioned"
        assert report.ok
        assert report.forecast == Forecast.from_templates(WEEK_TEMPLATES)

    def test_pass_reason_names_added_tours(self):
        report = parse_text(SECTIONED_WEEK)

        assert [line.status for line in report.lines] == [LineStatus.PASS] * 5
        assert line_report(report, 1).reason == "line 1: 'Montag;Anzahl' opens Monday"
        assert line_report(report, 2).reason == (
            "line 2: '05:30-10:00;12' adds 12 tours on Monday 05:30-10:00"
        )

    def test_day_name_variants_open_sections(self):
        text = (
            "MO;Anzahl\n06:00-10:00;1\n"
            "Freitag ;Anzahl\n06:00-10:00;2\n"
            "sa\n06:00-10:00;3\n"
        )

        report = parse_text(text)

        assert report.ok
        assert [t.day for t in report.forecast.templates] == [1, 5, 6]

    def test_holiday_section_takes_the_next_weekday(self):
        text = (
            "Montag;Anzahl\n06:00-10:00;1\nFeiertag;0\nMittwoch;Anzahl\n06:00-10:00;2\n"
        )

        report = parse_text(text)

        assert report.ok
        assert report.forecast.holidays == (2,)
        assert line_report(report, 3).reason == (
            "line 3: 'Feiertag;0' marks Tuesday as a public holiday with no tours"
        )

    def test_first_holiday_section_is_monday(self):
        report = parse_text("Feiertag;0\nDienstag;Anzahl\n06:00-10:00;2\n")

        assert report.forecast.holidays == (1,)

    def test_range_under_holiday_section_fails(self):
        report = parse_text("Montag;Anzahl\nFeiertag;0\n06:00-10:00;2\n")

        assert report.forecast is None
        failure = line_report(report, 3)
        assert failure.status is LineStatus.FAILURE
        assert failure.reason == (
            "line 3: '06:00-10:00;2' is in the holiday section at line 2;"
            " a holiday has no tours"
        )

    def test_holiday_after_sunday_fails(self):
        report = parse_text("Sonntag;Anzahl\n06:00-10:00;1\nFeiertag;0\n")

        assert line_report(report, 3).reason == (
            "line 3: 'Feiertag;0' follows Sunday (heading at line 1),"
            " so no weekday is left"
        )

    def test_holiday_with_tour_count_fails(self):
        report = parse_text("Feiertag;4\n")

        assert line_report(report, 1).status is LineStatus.FAILURE
        assert "gives a count for a holiday" in line_report(report, 1).reason

    def test_range_without_day_section_fails(self):
        report = parse_text("\n05:30-10:00;12\nMontag;Anzahl\n06:00-10:00;1\n")

        assert report.forecast is None
        assert [line.line_number for line in report.failures] == [2]
        assert report.failures[0].reason == (
            "line 2: '05:30-10:00;12' has no day heading above it; expected a line"
            " such as 'Montag;Anzahl' before the first time range"
        )

    def test_duplicate_day_section_fails(self):
        text = "Montag;Anzahl\n06:00-10:00;1\nMontag;Anzahl\n07:00-11:00;1\n"

        report = parse_text(text)

        assert [line.line_number for line in report.failures] == [3, 4]
        assert report.failures[0].reason == (
            "line 3: 'Montag;Anzahl' opens Monday a second time;"
            " its section already starts at line 1"
        )
        assert report.failures[1].reason == (
            "line 4: '07:00-11:00;1' is in the section at line 3,"
            " whose heading was rejected"
        )

    def test_hour_25_fails(self):
        report = parse_text("Montag;Anzahl\n05:30-25:00;3\n")

        assert line_report(report, 2).reason == (
            "line 2: '05:30-25:00;3' has the invalid time '25:00'; hours run from"
            " 00 to 23, and 24:00 is allowed only as an end time"
        )

    def test_minute_60_fails(self):
        report = parse_text("Montag;Anzahl\n05:60-10:00;3\n")

        assert line_report(report, 2).reason == (
            "line 2: '05:60-10:00;3' has the invalid time '05:60';"
            " minutes run from 00 to 59"
        )

    def test_text_count_fails(self):
        text = "Montag;Anzahl\n" + "06:00-10:00;1\n" * 12 + "05:30-10:00;x\n"

        report = parse_text(text)

        assert line_report(report, 14).reason == (
            "line 14: '05:30-10:00;x' has no tour count;"
            " expected a whole number after the semicolon"
        )

    def test_missing_count_fails(self):
        report = parse_text("Montag;Anzahl\n05:30-10:00\n")

        assert line_report(report, 2).reason == (
            "line 2: '05:30-10:00' has no tour count;"
            " expected a whole number after the semicolon"
        )

    def test_fractional_count_fails(self):
        report = parse_text("Montag;Anzahl\n05:30-10:00;3.5\n")

        assert line_report(report, 2).reason == (
            "line 2: '05:30-10:00;3.5' has the tour count '3.5', which is not a whole"
            " number; expected a whole number after the semicolon"
        )

    def test_negative_count_fails(self):
        report = parse_text("Montag;Anzahl\n05:30-10:00;-2\n")

        assert line_report(report, 2).reason == (
            "line 2: '05:30-10:00;-2' has the negative tour count '-2';"
            " expected a whole number after the semicolon"
        )

    @pytest.mark.parametrize("range_text", ["05:30", "05:30-", "05:30-10:00-12:00"])
    def test_malformed_range_fails(self, range_text):
        report = parse_text(f"Montag;Anzahl\n{range_text};3\n")

        assert line_report(report, 2).reason == (
            f"line 2: '{range_text};3' has the malformed time range '{range_text}';"
            " expected start-end such as 05:30-10:00"
        )

    def test_time_that_is_not_a_clock_fails(self):
        report = parse_text("Montag;Anzahl\n5h-10:00;3\n")

        assert line_report(report, 2).reason == (
            "line 2: '5h-10:00;3' has '5h' where a time is expected;"
            " write times as HH:MM, such as 05:30"
        )

    def test_start_equal_to_end_fails(self):
        report = parse_text("Montag;Anzahl\n06:00-06:00;3\n")

        assert line_report(report, 2).reason == (
            "line 2: '06:00-06:00;3' starts and ends at 06:00;"
            " a tour needs an end time different from its start"
        )

    def test_unknown_heading_rejects_its_ranges(self):
        text = "Montag;Anzahl\n06:00-10:00;1\nDienstagg;Anzahl\n06:00-10:00;2\n"

        report = parse_text(text)

        assert [line.line_number for line in report.failures] == [3, 4]
        assert "starts with 'Dienstagg', which is neither a weekday" in (
            report.failures[0].reason
        )
        assert "whose heading was rejected" in report.failures[1].reason

    def test_extra_cell_after_count_fails(self):
        report = parse_text("Montag;Anzahl\n06:00-10:00;3;Nord\n")

        assert "has the extra cell 'Nord' after the count" in (
            line_report(report, 2).reason
        )

    def test_all_problems_of_a_line_named(self):
        report = parse_text("Montag;Anzahl\n06:00-25:00;x\n")

        reason = line_report(report, 2).reason
        assert "invalid time '25:00'" in reason
        assert "has no tour count" in reason


class TestWideFormat:
    def test_column_pairs_give_templates(self):
        report = parse_text(WIDE_WEEK)

        assert report.source_format == "wide"
        assert report.ok
        assert report.forecast == Forecast.from_templates(WEEK_TEMPLATES)

    def test_row_reports_every_pair_it_adds(self):
        report = parse_text(WIDE_WEEK)

        assert line_report(report, 2).reason == (
            "line 2: Montag '05:30-10:00;12' adds 12 tours on Monday 05:30-10:00."
            " Dienstag '06:00-14:00;3' adds 3 tours on Tuesday 06:00-14:00"
        )

    def test_empty_pair_is_allowed(self):
        text = (
            "Montag;Anzahl;Dienstag;Anzahl\n"
            "05:30-10:00;1;06:00-10:00;2\n"
            ";;07:00-11:00;4\n"
        )

        report = parse_text(text)

        assert report.ok
        assert report.forecast.tour_count == 7

    def test_holiday_column_takes_the_next_weekday(self):
        text = (
            "Montag;Anzahl;Feiertag;0;Mittwoch;Anzahl\n05:30-10:00;1;;;06:00-10:00;2\n"
        )

        report = parse_text(text)

        assert report.ok
        assert report.forecast.holidays == (2,)
        assert [t.day for t in report.forecast.templates] == [1, 3]

    def test_range_in_holiday_column_fails(self):
        text = "Montag;Anzahl;Feiertag;0\n05:30-10:00;1;06:00-10:00;2\n"

        report = parse_text(text)

        assert line_report(report, 2).reason == (
            "line 2: Feiertag '06:00-10:00;2' is in the holiday column 3;"
            " a holiday has no tours"
        )

    def test_bad_count_names_the_weekday_column(self):
        text = "Montag;Anzahl;Dienstag;Anzahl\n05:30-10:00;1;06:00-10:00;x\n"

        report = parse_text(text)

        assert line_report(report, 2).reason == (
            "line 2: Dienstag '06:00-10:00;x' has no tour count; expected a whole"
            " number in the count column next to the range"
        )

    def test_count_without_range_fails(self):
        report = parse_text("Montag;Anzahl;Dienstag;Anzahl\n05:30-10:00;1;;4\n")

        assert "Dienstag ';4' has a count but no time range" in (
            line_report(report, 2).reason
        )

    def test_value_outside_day_columns_fails(self):
        report = parse_text("Montag;Anzahl;Dienstag;Anzahl\n05:30-10:00;1;;;Nord\n")

        assert line_report(report, 2).reason == (
            "line 2: '05:30-10:00;1;;;Nord' has 'Nord' in column 5,"
            " which has no weekday heading"
        )

    def test_duplicate_day_column_fails(self):
        report = parse_text("Montag;Anzahl;Montag;Anzahl\n05:30-10:00;1;;\n")

        assert line_report(report, 1).reason == (
            "line 1: 'Montag;Anzahl;Montag;Anzahl' column 3 'Montag'"
            " repeats Monday from column 1"
        )

    def test_second_heading_row_fails(self):
        text = (
            "Montag;Anzahl;Dienstag;Anzahl\n"
            "05:30-10:00;1;;\n"
            "Montag;Anzahl;Dienstag;Anzahl\n"
        )

        report = parse_text(text)

        assert [line.line_number for line in report.failures] == [3]
        assert "is a second heading row" in report.failures[0].reason


class TestTemplateLines:
    def test_count_driver_word_and_depot(self):
        report = parse_text("Mo 06:00-14:00 3 Fahrer Depot Nord\n")

        assert report.source_format == "lines"
        assert report.forecast.templates == (
            template(1, "06:00", "14:00", 3, depot="Nord"),
        )

    def test_count_defaults_to_one(self):
        report = parse_text("Fr 06:00-14:00\n")

        assert report.forecast.templates == (template(5, "06:00", "14:00", 1),)

    def test_split_template_gives_two_templates(self):
        report = parse_text("Mi 06:00-10:00 + 15:00-19:00 2 Depot Ost ADR\n")

        assert report.forecast.templates == (
            template(3, "06:00", "10:00", 2, "Ost", "ADR"),
            template(3, "15:00", "19:00", 2, "Ost", "ADR"),
        )

    def test_split_template_without_spaces_around_plus(self):
        report = parse_text("Mi 06:00-10:00+15:00-19:00\n")

        assert report.forecast.tour_count == 2

    def test_night_template_crosses_midnight(self):
        report = parse_text("Do 22:00-06:00\n")

        (night,) = report.forecast.templates
        assert night.crosses_midnight
        assert night.duration_minutes == 8 * 60

    def test_bare_and_named_qualifications(self):
        text = (
            "Mo 06:00-14:00 ADR\n"
            "Di 06:00-14:00 Qualifikation kühl\n"
            "Mi 06:00-14:00 SCHWER\n"
        )

        report = parse_text(text)

        assert [t.qualification for t in report.forecast.templates] == [
            "ADR",
            "KUEHL",
            "SCHWER",
        ]

    def test_depot_name_ends_at_qualification(self):
        report = parse_text("Mo 06:00-14:00 2 Depot Nord West KUEHL\n")

        assert report.forecast.templates == (
            template(1, "06:00", "14:00", 2, "Nord West", "KUEHL"),
        )

    def test_spaces_around_range_dash_are_allowed(self):
        report = parse_text("Mo 06:00 - 14:00 2\n")

        assert report.forecast.templates == (template(1, "06:00", "14:00", 2),)

    def test_full_weekday_name_is_accepted(self):
        report = parse_text("Samstag 06:00-14:00 2\n")

        assert report.forecast.templates == (template(6, "06:00", "14:00", 2),)

    def test_two_qualifications_fail(self):
        report = parse_text("Mo 06:00-14:00 ADR KUEHL\n")

        assert line_report(report, 1).reason == (
            "line 1: 'Mo 06:00-14:00 ADR KUEHL' names the two qualifications ADR and"
            " KUEHL; a template requires at most one"
        )

    def test_unknown_word_fails(self):
        report = parse_text("Mo 06:00-14:00 3 Fahrer Nord\n")

        assert line_report(report, 1).reason == (
            "line 1: 'Mo 06:00-14:00 3 Fahrer Nord' has 'Nord', which is not"
            " understood; expected a count, 'Fahrer', 'Depot <name>' or a"
            " qualification such as ADR, KUEHL or SCHWER"
        )

    def test_depot_word_without_name_fails(self):
        report = parse_text("Mo 06:00-14:00 Depot\n")

        assert "has 'Depot' without a depot name after it" in (
            line_report(report, 1).reason
        )

    def test_fractional_count_fails(self):
        report = parse_text("Mo 06:00-14:00 2.5\n")

        assert line_report(report, 1).reason == (
            "line 1: 'Mo 06:00-14:00 2.5' has the tour count '2.5', which is not a"
            " whole number; expected a whole number after the time range"
        )

    def test_overlapping_split_parts_fail(self):
        report = parse_text("Mi 06:00-12:00 + 11:00-15:00\n")

        assert line_report(report, 1).reason == (
            "line 1: 'Mi 06:00-12:00 + 11:00-15:00' has a part starting at 11:00,"
            " before the previous part ends at 12:00; the parts of a split template"
            " must follow each other"
        )

    def test_split_after_midnight_crossing_fails(self):
        report = parse_text("Do 22:00-02:00 + 03:00-06:00\n")

        assert "which already crosses midnight" in line_report(report, 1).reason

    def test_plus_without_second_range_fails(self):
        report = parse_text("Mi 06:00-10:00 +\n")

        assert "ends with '+' but has no time range after it" in (
            line_report(report, 1).reason
        )

    def test_missing_range_fails(self):
        report = parse_text("Mo Depot Nord\n")

        assert "has no time range after the weekday" in line_report(report, 1).reason

    def test_line_without_weekday_fails(self):
        report = parse_text("Mo 06:00-14:00\nXy 06:00-14:00\n")

        assert line_report(report, 2).reason == (
            "line 2: 'Xy 06:00-14:00' starts with 'Xy', which is not a weekday;"
            " expected a line such as 'Mo 06:00-14:00 3 Fahrer Depot Nord'"
        )

    def test_holiday_line_marks_the_day(self):
        report = parse_text("Mo 06:00-14:00\nMi Feiertag\n")

        assert report.ok
        assert report.forecast.holidays == (3,)

    def test_template_on_a_holiday_fails(self):
        report = parse_text("Mi 06:00-14:00\nMi Feiertag\n")

        assert line_report(report, 1).reason == (
            "line 1: 'Mi 06:00-14:00' gives tours on Wednesday,"
            " which line 2 marks as a public holiday"
        )

    def test_comment_lines_pass(self):
        report = parse_text("# Woche 12\nMo 06:00-14:00\n")

        assert line_report(report, 1).status is LineStatus.PASS
        assert report.forecast.tour_count == 1


class TestTidyFormat:
    def test_comma_header_and_rows_give_templates(self):
        report = parse_text(TIDY_WEEK)

        assert report.source_format == "tidy"
        assert report.forecast == Forecast.from_templates(WEEK_TEMPLATES)

    def test_semicolon_delimiter_is_detected(self):
        report = parse_text(TIDY_WEEK.replace(",", ";"))

        assert report.source_format == "tidy"
        assert report.forecast == Forecast.from_templates(WEEK_TEMPLATES)

    def test_tab_delimiter_is_detected(self):
        report = parse_text(TIDY_WEEK.replace(",", "\t"))

        assert report.forecast == Forecast.from_templates(WEEK_TEMPLATES)

    @pytest.mark.parametrize(
        "day_text", ["3", "Mittwoch", "mi", "Wednesday", "wed", "MITTWOCH "]
    )
    def test_day_number_or_name(self, day_text):
        report = parse_text(f"day,start,end,count\n{day_text},06:00,14:00,1\n")

        assert report.forecast.templates == (template(3, "06:00", "14:00", 1),)

    def test_depot_and_qualification_columns(self):
        text = "day,start,end,count,depot,qualification\n1,06:00,14:00,2,Süd,adr\n"

        report = parse_text(text)

        assert report.forecast.templates == (
            template(1, "06:00", "14:00", 2, "Süd", "ADR"),
        )

    def test_reordered_german_headings(self):
        report = parse_text("Anzahl;Tag;Ende;Beginn\n2;Di;14:00;06:00\n")

        assert report.forecast.templates == (template(2, "06:00", "14:00", 2),)

    def test_quoted_cells_are_read(self):
        text = 'day,start,end,count,depot\n1,06:00,14:00,2,"Nord, Halle 2"\n'

        report = parse_text(text)

        assert report.forecast.templates[0].depot == "Nord, Halle 2"

    def test_missing_count_column_fails(self):
        report = parse_text("day,start,end\n1,06:00,14:00\n")

        assert [line.line_number for line in report.failures] == [1, 2]
        assert report.failures[0].reason == (
            "line 1: 'day,start,end' is not a complete tidy header; it lacks the"
            " column(s) count; expected a header such as"
            " 'day,start,end,count,depot,qualification'"
        )
        assert report.failures[1].reason == (
            "line 2: '1,06:00,14:00' cannot be read, because the header at line 1"
            " was rejected"
        )

    def test_invalid_day_fails(self):
        report = parse_text("day,start,end,count\n8,06:00,14:00,1\n")

        assert line_report(report, 2).reason == (
            "line 2: '8,06:00,14:00,1' has the day '8', which is not a weekday;"
            " expected 1 to 7, Montag to Sonntag, Mo to So or Monday to Sunday"
        )

    def test_start_at_24_fails(self):
        report = parse_text("day,start,end,count\n1,24:00,06:00,1\n")

        assert line_report(report, 2).reason == (
            "line 2: '1,24:00,06:00,1' starts at 24:00, which is only valid as an end"
            " time; write 00:00 on the next day instead"
        )

    def test_empty_count_fails(self):
        report = parse_text("day,start,end,count\n1,06:00,14:00,\n")

        assert line_report(report, 2).reason == (
            "line 2: '1,06:00,14:00,' has no count value;"
            " expected a whole number of tours"
        )

    def test_day_fraction_in_text_is_rejected(self):
        report = parse_text("day,start,end,count\n1,0.25,14:00,1\n")

        assert "has '0.25' where a time is expected" in line_report(report, 2).reason

    def test_value_beyond_header_fails(self):
        report = parse_text("day,start,end,count\n1,06:00,14:00,1,Nord\n")

        assert "has the extra value 'Nord' beyond the last column" in (
            line_report(report, 2).reason
        )

    def test_empty_header_cell_is_ignored(self):
        report = parse_text("day,,start,end,count\n1,,06:00,14:00,1\n")

        assert line_report(report, 1).status is LineStatus.PASS
        assert report.forecast.tour_count == 1

    def test_unknown_column_gives_a_warning(self):
        report = parse_text("day,start,end,count,bemerkung\n1,06:00,14:00,1,neu\n")

        assert report.ok
        assert line_report(report, 1).status is LineStatus.WARNING
        assert "has the column 'bemerkung', which is not used" in (
            line_report(report, 1).reason
        )

    def test_repeated_header_warns(self):
        text = "day,start,end,count\n1,06:00,14:00,1\nday,start,end,count\n"

        report = parse_text(text)

        assert report.ok
        assert line_report(report, 3).status is LineStatus.WARNING


class TestHygiene:
    def test_utf8_byte_order_mark_is_ignored(self):
        content = "\ufeffMontag;Anzahl\n06:00-10:00;1\n".encode("utf-8")

        report = parse_forecast(content)

        assert report.ok
        assert line_report(report, 1).raw == "Montag;Anzahl"

    def test_windows_1252_umlaut_in_depot_name(self):
        content = "Mo 06:00-14:00 2 Depot Süd\n".encode("cp1252")

        report = parse_forecast(content)

        assert report.forecast.templates[0].depot == "Süd"

    def test_utf8_umlaut_in_depot_name(self):
        report = parse_forecast("Mo 06:00-14:00 2 Depot Süd\n".encode("utf-8"))

        assert report.forecast.templates[0].depot == "Süd"

    def test_utf16_with_byte_order_mark(self):
        content = "day\tstart\tend\tcount\n1\t06:00\t14:00\t2\n".encode("utf-16")

        report = parse_forecast(content)

        assert report.forecast.templates == (template(1, "06:00", "14:00", 2),)

    def test_crlf_line_ends_keep_line_numbers(self):
        content = b"Montag;Anzahl\r\n06:00-10:00;1\r\n\r\n06:00-10:00;x\r\n"

        report = parse_forecast(content)

        assert len(report.lines) == 4
        assert report.failures[0].line_number == 4
        assert report.failures[0].raw == "06:00-10:00;x"

    @pytest.mark.parametrize("dash", ["\u2013", "\u2014"])
    def test_en_dash_and_em_dash_ranges(self, dash):
        report = parse_text(f"Montag;Anzahl\n06:00{dash}14:00;2\n")

        assert report.forecast.templates == (template(1, "06:00", "14:00", 2),)

    def test_en_dash_in_template_line(self):
        report = parse_text("Mo 06:00–14:00 1\n")

        assert report.forecast.templates == (template(1, "06:00", "14:00", 1),)

    def test_end_24_stored_as_midnight(self):
        report = parse_text("Montag;Anzahl\n18:00-24:00;2\n")

        (evening,) = report.forecast.templates
        assert evening.end_minute == 0
        assert evening.duration_minutes == 6 * 60

    def test_start_at_24_fails(self):
        report = parse_text("Montag;Anzahl\n24:00-06:00;2\n")

        assert "starts at 24:00, which is only valid as an end time" in (
            line_report(report, 2).reason
        )

    def test_single_digit_hour_is_accepted(self):
        report = parse_text("Montag;Anzahl\n6:00-9:30;2\n")

        assert report.forecast.templates == (template(1, "06:00", "09:30", 2),)

    def test_only_zero_seconds_accepted(self):
        report = parse_text("Montag;Anzahl\n06:00:00-09:30:00;2\n06:00:30-09:30;1\n")

        assert line_report(report, 2).status is LineStatus.PASS
        assert "with seconds; tour times are whole minutes" in (
            line_report(report, 3).reason
        )

    def test_empty_lines_and_trailing_spaces_pass(self):
        text = "\nMontag;Anzahl   \n  \n06:00-10:00;1  \n06:00-11:00 ; 2;;\n\n"

        report = parse_text(text)

        assert report.ok
        assert all(line.status is LineStatus.PASS for line in report.lines)
        assert line_report(report, 1).reason == "line 1: the line is empty"
        assert report.forecast.tour_count == 3

    def test_cells_with_only_delimiters_pass(self):
        report = parse_text("Montag;Anzahl\n;;\n06:00-10:00;1\n")

        assert report.ok
        assert line_report(report, 2).status is LineStatus.PASS


class TestWarnings:
    def test_zero_count_warns(self):
        report = parse_text("Montag;Anzahl\n06:00-10:00;0\n07:00-11:00;1\n")

        assert report.ok
        warning = line_report(report, 2)
        assert warning.status is LineStatus.WARNING
        assert warning.reason == (
            "line 2: '06:00-10:00;0' has tour count 0,"
            " so Monday 06:00-10:00 adds no tours"
        )
        assert report.forecast.templates == (template(1, "07:00", "11:00", 1),)

    def test_repeated_range_warns_and_adds_counts(self):
        text = "Montag;Anzahl\n06:00-10:00;2\n07:00-11:00;1\n06:00-10:00;3\n"

        report = parse_text(text)

        assert report.ok
        assert [line.line_number for line in report.warnings] == [4]
        assert report.warnings[0].reason == (
            "line 4: '06:00-10:00;3' adds 3 tours on Monday 06:00-10:00."
            " '06:00-10:00;3' repeats Monday 06:00-10:00 from line 2;"
            " the counts are added"
        )
        assert report.forecast.templates[0] == template(1, "06:00", "10:00", 5)


class TestReport:
    def test_every_line_gets_a_report(self):
        report = parse_text(SECTIONED_WEEK + "\n\n")

        assert [line.line_number for line in report.lines] == [1, 2, 3, 4, 5, 6, 7]

    def test_any_failure_leaves_no_forecast(self):
        report = parse_text(SECTIONED_WEEK + "06:00-10:00;x\n")

        assert not report.ok
        assert report.forecast is None
        assert len(report.failures) == 1

    def test_format_text_lists_lines_and_result(self):
        report = parse_text(SECTIONED_WEEK)

        text = report.format_text()

        assert text.splitlines()[0] == (
            "forecast import, format sectioned: 5 lines, 5 passed, 0 with warnings,"
            " 0 failed"
        )
        assert "PASS  line 1: 'Montag;Anzahl' opens Monday" in text
        assert text.splitlines()[-1] == (
            "result: 17 tours from 3 templates on 2 weekday(s);"
            f" sha256 {report.forecast.sha256}"
        )

    def test_format_text_shows_rejection(self):
        report = parse_text("Montag;Anzahl\n06:00-10:00;x\n")

        text = report.format_text()

        assert "FAIL  line 2: '06:00-10:00;x' has no tour count" in text
        assert text.splitlines()[-1].startswith("result: rejected, because 1 line(s)")

    def test_require_forecast_raises_with_failing_lines(self):
        report = parse_text("Montag;Anzahl\n06:00-10:00;x\n06:00-25:00;1\n")

        with pytest.raises(InvalidForecast) as raised:
            report.require_forecast()

        assert raised.value.report is report
        message = str(raised.value)
        assert message.startswith("the forecast has 2 failing line(s)")
        assert "line 2: '06:00-10:00;x' has no tour count" in message
        assert "line 3: '06:00-25:00;1' has the invalid time '25:00'" in message

    def test_require_forecast_without_failures(self):
        report = parse_text(SECTIONED_WEEK)

        assert report.require_forecast() is report.forecast

    def test_empty_file_fails(self):
        report = parse_forecast(b"")

        assert report.forecast is None
        assert report.failures[0].reason.startswith(
            "line 1: the file is empty; expected a day heading"
        )

    def test_file_of_empty_lines_fails_on_line_1(self):
        report = parse_forecast(b"\n  \n\n")

        assert report.forecast is None
        assert [line.status for line in report.lines] == [
            LineStatus.FAILURE,
            LineStatus.PASS,
            LineStatus.PASS,
        ]
        assert report.failures[0].reason.startswith(
            "line 1: the file contains only empty lines; expected a day heading"
        )

    def test_count_above_line_limit_fails(self):
        report = parse_text("Montag;Anzahl\n05:30-10:00;1000000000\n")

        assert report.forecast is None
        assert line_report(report, 2).reason.startswith(
            "line 2: '05:30-10:00;1000000000' has the tour count '1000000000',"
            " more than the 999 tours one line may give"
        )

    def test_count_in_other_digits_fails(self):
        report = parse_text("Montag;Anzahl\n05:30-10:00;\u0663\n")

        assert report.forecast is None
        assert line_report(report, 2).status is LineStatus.FAILURE

    def test_control_characters_and_long_lines_are_not_echoed(self):
        report = parse_text("Montag;Anzahl\n05:30-10:00;\x07" + "x" * 500 + "\n")

        reason = line_report(report, 2).reason
        assert "\x07" not in reason
        assert "'05:30-10:00;?xxx" in reason
        assert len(reason) < 250

    def test_file_without_any_tour_fails(self):
        report = parse_text("Montag;Anzahl\n05:30-10:00;0\n")

        assert report.forecast is None
        assert len(report.failures) == 1
        assert report.failures[0].line_number == 2
        assert report.failures[0].reason == (
            "line 2: the file ends without a single tour; expected at least one"
            " time range with a count above 0"
        )

    def test_unknown_format_fails_content_lines(self):
        report = parse_text("Kalenderwoche 12\n\nirgendwas\n")

        assert report.source_format == "unknown"
        assert "'Kalenderwoche 12' does not start any known forecast format" in (
            line_report(report, 1).reason
        )
        assert line_report(report, 2).status is LineStatus.PASS
        assert line_report(report, 3).reason == (
            "line 3: 'irgendwas' was not read, because the format is unknown"
            " (see line 1)"
        )

    def test_read_forecast_file_from_disk(self, tmp_path):
        path = tmp_path / "woche.csv"
        path.write_bytes(SECTIONED_WEEK.encode("cp1252"))

        report = read_forecast_file(path)

        assert report.forecast == Forecast.from_templates(WEEK_TEMPLATES)


class TestCommandLine:
    def test_valid_file_prints_report_and_exits_0(self, tmp_path, capsys):
        path = tmp_path / "woche.csv"
        path.write_text(SECTIONED_WEEK, encoding="utf-8")

        exit_code = main([str(path)])

        output = capsys.readouterr().out
        assert exit_code == 0
        assert "PASS  line 2: '05:30-10:00;12' adds 12 tours" in output

    def test_failing_file_exits_1(self, tmp_path, capsys):
        path = tmp_path / "woche.csv"
        path.write_text("Montag;Anzahl\n05:30-10:00;x\n", encoding="utf-8")

        exit_code = main([str(path), "--format", "sectioned"])

        output = capsys.readouterr().out
        assert exit_code == 1
        assert "FAIL  line 2" in output


class TestForcedFormat:
    def test_forced_format_skips_detection(self):
        report = parse_text("Montag;Anzahl\n06:00-10:00;1\n", source_format="wide")

        assert report.source_format == "wide"
        assert report.forecast.templates == (template(1, "06:00", "10:00", 1),)

    def test_forced_lines_on_sectioned_fails(self):
        report = parse_text(SECTIONED_WEEK, source_format="lines")

        assert report.source_format == "lines"
        assert report.forecast is None
        assert len(report.failures) == 5

    @pytest.mark.parametrize("forced", FORMATS)
    @pytest.mark.parametrize(
        "content", [SECTIONED_WEEK, WIDE_WEEK, LINES_WEEK, TIDY_WEEK, ";;\n-\n+\n"]
    )
    def test_forced_format_never_raises(self, forced, content):
        report = parse_text(content, source_format=forced)

        assert report.source_format == forced
        assert len(report.lines) == content.count("\n")

    @pytest.mark.parametrize(
        ("forced", "content"),
        [
            ("sectioned", LINES_WEEK),
            ("sectioned", TIDY_WEEK),
            ("wide", LINES_WEEK),
            ("wide", SECTIONED_WEEK),
            ("lines", WIDE_WEEK),
            ("tidy", SECTIONED_WEEK),
            ("tidy", LINES_WEEK),
        ],
    )
    def test_unfitting_forced_format_fails(self, forced, content):
        report = parse_text(content, source_format=forced)

        assert report.forecast is None
        assert report.failures

    def test_unknown_format_name_raises(self):
        with pytest.raises(ValueError, match="unknown forecast format 'csv'"):
            parse_text(SECTIONED_WEEK, source_format="csv")

    def test_forced_workbook_on_text_fails(self):
        report = parse_text(SECTIONED_WEEK, source_format="xlsx")

        assert report.forecast is None
        assert "the file is not a readable .xlsx workbook" in (
            report.failures[0].reason
        )


class TestWorkbook:
    def test_sectioned_workbook_reports_sheet_and_row(self, tmp_path):
        path = write_workbook(
            tmp_path / "woche.xlsx",
            [["Montag", "Anzahl"], ["05:30-10:00", 12], [None], ["06:00-10:00", "x"]],
        )

        report = read_forecast_file(path)

        assert report.source_format == "xlsx:sectioned"
        failure = line_report(report, 4)
        assert failure.sheet == "Plan"
        assert failure.raw == "06:00-10:00;x"
        assert failure.reason == (
            "sheet 'Plan' row 4: '06:00-10:00;x' has no tour count;"
            " expected a whole number in the cell after the time range"
        )

    def test_first_non_empty_sheet_is_read(self, tmp_path):
        workbook = openpyxl.Workbook()
        workbook.active.title = "Deckblatt"
        data_sheet = workbook.create_sheet("Prognose")
        data_sheet.append(["Mo 06:00-14:00 2"])
        path = tmp_path / "prognose.xlsx"
        workbook.save(path)

        report = read_forecast_file(path)

        assert report.source_format == "xlsx:lines"
        assert report.lines[0].sheet == "Prognose"
        assert report.forecast.tour_count == 2

    def test_tidy_workbook_with_excel_time_cells(self, tmp_path):
        path = write_workbook(
            tmp_path / "tidy.xlsx",
            [
                ["day", "start", "end", "count", "depot", "qualification"],
                [1, datetime.time(4, 30), 0.4375, 12.0, "Süd", None],
                ["Di", datetime.datetime(2024, 3, 5, 18, 0), 1.0, 2, None, "ADR"],
                ["Mittwoch", 0.1875, datetime.time(22, 0), 1, None, None],
            ],
        )

        report = read_forecast_file(path)

        assert report.source_format == "xlsx:tidy"
        assert report.forecast.templates == (
            template(1, "04:30", "10:30", 12, depot="Süd"),
            template(2, "18:00", "24:00", 2, qualification="ADR"),
            template(3, "04:30", "22:00", 1),
        )

    def test_fractional_count_cell_fails(self, tmp_path):
        path = write_workbook(
            tmp_path / "tidy.xlsx",
            [["day", "start", "end", "count"], [1, "06:00", "14:00", 12.5]],
        )

        report = read_forecast_file(path)

        assert line_report(report, 2).reason == (
            "sheet 'Plan' row 2: '1;06:00;14:00;12.5' has the tour count '12.5',"
            " which is not a whole number; expected a whole number in column count"
        )

    def test_time_cell_with_seconds_fails(self, tmp_path):
        path = write_workbook(
            tmp_path / "tidy.xlsx",
            [["day", "start", "end", "count"], [1, datetime.time(6, 0, 30), 0.5, 1]],
        )

        report = read_forecast_file(path)

        assert "'06:00:30' with seconds" in line_report(report, 2).reason

    def test_wide_workbook_with_empty_cells(self, tmp_path):
        path = write_workbook(
            tmp_path / "breit.xlsx",
            [
                ["Montag", "Anzahl", "Dienstag", "Anzahl"],
                ["05:30-10:00", 12, "06:00-14:00", 3],
                ["22:00-06:00", 2, None, None],
            ],
        )

        report = read_forecast_file(path)

        assert report.source_format == "xlsx:wide"
        assert report.forecast == Forecast.from_templates(WEEK_TEMPLATES)

    def test_template_line_split_over_cells(self, tmp_path):
        path = write_workbook(
            tmp_path / "zeilen.xlsx", [["Mo", "06:00-14:00", 3, "Depot Nord"]]
        )

        report = read_forecast_file(path)

        assert report.forecast.templates == (
            template(1, "06:00", "14:00", 3, depot="Nord"),
        )

    def test_workbook_detected_by_content(self, tmp_path):
        path = write_workbook(tmp_path / "upload", [["Mo 06:00-14:00 2"]])

        report = parse_forecast(path.read_bytes())

        assert report.source_format == "xlsx:lines"

    def test_forced_inner_format_on_workbook(self, tmp_path):
        path = write_workbook(
            tmp_path / "woche.xlsx", [["Montag", "Anzahl"], ["06:00-10:00", 1]]
        )

        report = parse_forecast(path.read_bytes(), source_format="lines")

        assert report.source_format == "xlsx:lines"
        assert report.forecast is None

    def test_empty_workbook_fails(self, tmp_path):
        path = write_workbook(tmp_path / "leer.xlsx", [])

        report = read_forecast_file(path)

        assert report.failures[0].reason == (
            "sheet 'Plan' row 1: the workbook has no values on any sheet"
        )

    def test_corrupt_workbook_fails(self):
        report = parse_forecast(b"PK\x03\x04 not really a zip", filename="woche.xlsx")

        assert report.forecast is None
        assert "the file is not a readable .xlsx workbook" in report.failures[0].reason

    def test_old_xls_workbook_fails_with_advice(self):
        content = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64

        report = parse_forecast(content, filename="woche.xls")

        assert report.failures[0].reason == (
            "line 1: the file is an Excel 97-2003 .xls workbook, which cannot be"
            " read; save it as .xlsx or as CSV and import it again"
        )

    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (None, ""),
            (12, "12"),
            (12.0, "12"),
            (12.5, "12.5"),
            (0.1875, "0.1875"),
            (datetime.time(4, 30), "04:30"),
            (datetime.time(8, 29, 59, 999999), "08:30"),
            (datetime.datetime(2024, 3, 4, 6, 15), "06:15"),
            (datetime.datetime(1900, 1, 1, 0, 0), "24:00"),
            (datetime.timedelta(hours=24), "24:00"),
            ("  Depot   Nord ", "Depot Nord"),
        ],
    )
    def test_cell_values_become_text(self, value, text):
        assert cell_text(value) == text


class TestCanonicalForecast:
    def test_five_formats_give_equal_hash(self, tmp_path):
        workbook_path = write_workbook(
            tmp_path / "woche.xlsx",
            [
                ["day", "start", "end", "count"],
                [2, datetime.time(6, 0), datetime.time(14, 0), 3],
                ["Montag", 22 / 24, 0.25, 2.0],
                ["Mo", "05:30", "10:00", 12],
            ],
        )
        expected = Forecast.from_templates(WEEK_TEMPLATES).sha256

        reports = [
            parse_text(SECTIONED_WEEK),
            parse_text(WIDE_WEEK),
            parse_text(LINES_WEEK),
            parse_text(TIDY_WEEK),
            read_forecast_file(workbook_path),
        ]

        assert [report.source_format for report in reports] == [
            "sectioned",
            "wide",
            "lines",
            "tidy",
            "xlsx:tidy",
        ]
        for report in reports:
            assert report.forecast.sha256 == expected

    def test_depot_and_qualification_hash_equally(self, tmp_path):
        lines_text = (
            "Mo 06:00-14:00 3 Fahrer Depot Süd ADR\nDi 22:00-06:00 Depot Nord\n"
        )
        tidy_text = (
            "qualification;depot;count;end;start;day\n"
            ";Nord;1;06:00;22:00;Dienstag\n"
            "ADR;Süd;3;14:00;06:00;Monday\n"
        )
        workbook_path = write_workbook(
            tmp_path / "zeilen.xlsx",
            [
                ["Di 22:00-06:00 Depot Nord"],
                ["Mo 06:00-14:00 3 Depot Süd Qualifikation adr"],
            ],
        )

        hashes = {
            parse_text(lines_text).forecast.sha256,
            parse_forecast(tidy_text.encode("cp1252")).forecast.sha256,
            read_forecast_file(workbook_path).forecast.sha256,
        }

        assert len(hashes) == 1

    def test_line_order_keeps_hash(self):
        reordered = (
            "Dienstag;Anzahl\n06:00-14:00;3\n"
            "Montag;Anzahl\n22:00-06:00;2\n05:30-10:00;12\n"
        )

        assert parse_text(reordered).forecast.sha256 == (
            parse_text(SECTIONED_WEEK).forecast.sha256
        )

    def test_repeated_ranges_hash_like_one_line(self):
        split = (
            "Montag;Anzahl\n05:30-10:00;5\n22:00-06:00;2\n05:30-10:00;7\n"
            "Di;\n06:00-14:00;3\n"
        )

        assert parse_text(split).forecast.sha256 == (
            parse_text(SECTIONED_WEEK).forecast.sha256
        )

    def test_holidays_do_not_change_the_hash(self):
        with_holiday = SECTIONED_WEEK + "Feiertag;0\n"

        report = parse_text(with_holiday)

        assert report.forecast.holidays == (3,)
        assert report.forecast.sha256 == parse_text(SECTIONED_WEEK).forecast.sha256

    def test_expanded_tour_ids_are_stable(self):
        sectioned_tours = expand(parse_text(SECTIONED_WEEK).forecast)
        reversed_lines = "".join(reversed(LINES_WEEK.splitlines(keepends=True)))
        lines_tours = expand(parse_text(reversed_lines).forecast)

        assert [tour.tour_id for tour in sectioned_tours] == [
            tour.tour_id for tour in lines_tours
        ]
        assert [tour.tour_id for tour in sectioned_tours][:3] == [
            "Mo-0530-1000-01",
            "Mo-0530-1000-02",
            "Mo-0530-1000-03",
        ]
        assert sectioned_tours[-1].tour_id == "Di-0600-1400-03"


class TestRealForecast:
    @pytest.fixture
    def real_report(self) -> ImportReport:
        if not REAL_FORECAST.exists():
            pytest.skip(f"the real forecast {REAL_FORECAST} is not present")
        return read_forecast_file(REAL_FORECAST)

    def test_real_week_parses_without_failure(self, real_report):
        assert real_report.source_format == "sectioned"
        assert real_report.failures == ()

    def test_real_week_has_1385_tours(self, real_report):
        forecast = real_report.forecast

        assert forecast.tour_count == 1385
        assert {t.day for t in forecast.templates} == {1, 2, 3, 4, 5, 6}
        assert len(expand(forecast)) == 1385


def test_partial_tidy_header_names_the_missing_column():
    report = parse_forecast(b"day,start,count\n1,06:00,2\n")

    assert report.source_format == "tidy"
    assert "lacks the column(s) end" in report.failures[0].reason


def test_repeated_lines_over_the_weekly_total_fail():
    lines = ["day,start,end,count"]
    lines += [f"{1 + number % 5},06:00,10:30,999" for number in range(25)]

    report = parse_forecast("\n".join(lines).encode("utf-8"), "week.csv")

    assert not report.ok
    assert report.forecast is None
    assert "24975 tours" in report.failures[-1].reason
    assert str(MAX_FORECAST_TOURS) in report.failures[-1].reason
