"""A what-if scenario in a real browser: 48 h weeks beside the base plan.

The dispatcher imports a generated week and solves it (the base plan),
creates the scenario "48 h week" with a weekly hour limit of 48 h, runs it
on the same worker, and compares the two on the Compare page. The test
downloads the comparison as CSV and as an HTML report and checks that both
name the two results, the KPI deltas and the 48 h limit. The launcher,
Chromium and the skip or failure without Chromium are those of
tests/e2e/test_browser.py.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from solver.generate import format_tidy_csv, generate_forecast
from tests.e2e.test_browser import (
    CHROMIUM_FLAGS,
    PAGE_TIMEOUT_MS,
    SOLVE_TIMEOUT_MS,
    chromium,  # noqa: F401 (fixture)
    launcher,  # noqa: F401 (fixture)
    open_page,
    sign_in,
)

SCENARIO_NAME = "48 h week"
WEEKLY_LIMIT_HOURS = 48
FORECAST_TOURS = 120
FORECAST_SEED = 11


def pick_results(page: Page, *patterns: re.Pattern[str]) -> None:
    """Choose one option per pattern in the "Results" multiselect."""
    box = page.get_by_test_id("stMultiSelect").filter(
        has=page.get_by_text("Results", exact=True)
    )
    for pattern in patterns:
        box.locator("input").click()
        page.get_by_role("option", name=pattern).first.click()
    # Close the open list, which covers the page below the widget.
    page.keyboard.press("Escape")


def download(page: Page, button: str) -> bytes:
    with page.expect_download() as download_info:
        page.get_by_role("button", name=button).click()
    return Path(download_info.value.path()).read_bytes()


def test_scenario_beside_base_in_browser(chromium, launcher, tmp_path):  # noqa: F811
    forecast_file = tmp_path / "week.csv"
    forecast = generate_forecast(FORECAST_TOURS, seed=FORECAST_SEED)
    forecast_file.write_text(format_tidy_csv(forecast), encoding="utf-8")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_FLAGS
        )
        page = None
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.goto(launcher.url)
            sign_in(page, "dispatcher", launcher.passwords["dispatcher"])

            open_page(page, "Forecast")
            page.locator("input[type=file]").set_input_files(forecast_file)
            expect(page.get_by_text(forecast_file.name)).to_be_visible()
            page.get_by_role("button", name="Import").click()
            expect(page.get_by_text("Imported as version 1")).to_be_visible()

            open_page(page, "Plan")
            page.get_by_role("button", name="Start solve").click()
            page.get_by_text(re.compile(r"All \d+ checks passed\.")).wait_for(
                timeout=SOLVE_TIMEOUT_MS
            )

            open_page(page, "Scenarios")
            page.get_by_label("Scenario name", exact=True).fill(SCENARIO_NAME)
            limit = page.get_by_label("Weekly hour limit (h)", exact=True)
            limit.fill(str(WEEKLY_LIMIT_HOURS))
            page.get_by_role("button", name="Create scenario").click()
            expect(
                page.get_by_text(f"Scenario {SCENARIO_NAME} created.")
            ).to_be_visible()
            page.get_by_role("button", name="Run scenario").click()
            page.get_by_text("Run to explain", exact=True).wait_for(
                timeout=SOLVE_TIMEOUT_MS
            )
            page.screenshot(path=tmp_path / "scenarios.png", full_page=True)

            open_page(page, "Compare")
            pick_results(
                page,
                re.compile(r"^Plan: "),
                re.compile(rf"^Scenario: {SCENARIO_NAME}, run "),
            )
            expect(page.get_by_role("heading", name="KPIs")).to_be_visible()
            expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible()
            page.screenshot(path=tmp_path / "compare.png", full_page=True)

            archive = download(page, "Download CSV")
            report = download(page, "Download HTML report").decode("utf-8")
        except Exception:
            if page is not None:
                page.screenshot(path=tmp_path / "failure.png", full_page=True)
                print(f"screenshot of the failure: {tmp_path / 'failure.png'}")
            raise
        finally:
            browser.close()

    with zipfile.ZipFile(io.BytesIO(archive)) as files:
        kpis = list(csv.reader(io.StringIO(files.read("kpis.csv").decode("utf-8"))))
    header, *rows = kpis
    assert len(header) == 5, header
    assert header[2].startswith("Plan")
    assert (
        header[3].startswith(f"Scenario: {SCENARIO_NAME}")
        or SCENARIO_NAME in (header[3])
    )
    assert header[4].startswith("delta ")
    by_kpi = {row[0]: row for row in rows}
    drivers = next(row for label, row in by_kpi.items() if label.lower() == "drivers")
    base_drivers, scenario_drivers, delta = (int(value) for value in drivers[2:5])
    assert scenario_drivers - base_drivers == delta
    assert scenario_drivers >= base_drivers
    # Both staff the same forecast, so both cover the same tour hours.
    total_hours = by_kpi["Total hours"]
    assert float(total_hours[2]) == float(total_hours[3]) > 0
    assert SCENARIO_NAME in report
    assert "<script src=" not in report
