"""Drivers in a real browser: import them, mark one sick, plan, export.

The tenant admin imports two drivers from CSV, one of them inactive, marks
the active one SICK on Monday in the Availability page, imports a week of
one Monday and one Tuesday tour and solves it. The sick driver must not be
planned on Monday: the Monday tour stays open with its reason, and the
exported assignments give the Tuesday tour to that driver. The launcher,
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

from solver.generate import format_tidy_csv
from solver.tours import Forecast, TourTemplate
from tests.e2e.test_browser import (
    CHROMIUM_FLAGS,
    PAGE_TIMEOUT_MS,
    SOLVE_TIMEOUT_MS,
    chromium,  # noqa: F401 (fixture)
    launcher,  # noqa: F401 (fixture)
    open_page,
    sign_in,
)

DRIVERS_CSV = (
    "external_ref,display_name,home_depot,max_weekly_hours,is_active,skills\n"
    "K01,Karin Huber,,55,true,\n"
    "K02,Lukas Berger,,55,false,\n"
)
MONDAY_AND_TUESDAY = Forecast.from_templates(
    [
        TourTemplate(day=1, start_minute=6 * 60, end_minute=10 * 60 + 30, count=1),
        TourTemplate(day=2, start_minute=6 * 60, end_minute=10 * 60 + 30, count=1),
    ]
)


def choose(page: Page, label: str, option: str | re.Pattern[str]) -> None:
    """Pick an option of the Streamlit selectbox with this label."""
    box = page.get_by_test_id("stSelectbox").filter(
        has=page.get_by_text(label, exact=True)
    )
    box.locator("input").click()
    page.get_by_role("option", name=option).first.click()


def upload(page: Page, label: str, path: Path) -> None:
    """Put a file into the uploader with this label and wait until it lists it."""
    uploader = page.get_by_test_id("stFileUploader").filter(
        has=page.get_by_text(label, exact=True)
    )
    uploader.locator("input[type=file]").set_input_files(path)
    expect(page.get_by_text(path.name)).to_be_visible()


def exported_assignments(page: Page) -> list[dict[str, str]]:
    """Download the plan's CSV zip on the Exports page and read assignments.csv."""
    open_page(page, "Exports")
    page.get_by_role("button", name="Prepare CSV files (zip)").click()
    with page.expect_download() as download_info:
        page.get_by_role("button", name=re.compile(r"^Download plan-")).click()
    archive = Path(download_info.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(archive)) as files:
        text = files.read("assignments.csv").decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_sick_driver_unplanned_in_browser(chromium, launcher, tmp_path):  # noqa: F811
    drivers_file = tmp_path / "drivers.csv"
    drivers_file.write_text(DRIVERS_CSV, encoding="utf-8")
    forecast_file = tmp_path / "week.csv"
    forecast_file.write_text(format_tidy_csv(MONDAY_AND_TUESDAY), encoding="utf-8")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_FLAGS
        )
        page = None
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.goto(launcher.url)
            sign_in(
                page,
                "admin",
                launcher.passwords["admin"],
                launcher.totp_secrets["admin"],
            )

            # The list shows active drivers only by default, so Lukas, imported
            # as inactive, is left out of the count.
            open_page(page, "Drivers")
            expect(page.get_by_text("0 drivers.", exact=True)).to_be_visible()
            page.get_by_role("tab", name="Import").click()
            upload(page, "Driver file", drivers_file)
            page.get_by_role("button", name="Import drivers").click()
            expect(page.get_by_text("1 driver.", exact=True)).to_be_visible()
            # The driver list offers no CSV download of its own, which would
            # pass names by the audited export.
            page.get_by_test_id("stDataFrame").first.hover()
            expect(page.get_by_test_id("stElementToolbar").first).to_be_attached()
            expect(page.get_by_role("button", name="Download as CSV")).to_have_count(0)

            # Karin is sick on Monday of the week the forecast pages default to.
            open_page(page, "Availability")
            expect(
                page.get_by_text(re.compile(r"1 active driver, as read"))
            ).to_be_visible()
            choose(page, "Driver", re.compile(r"^K01"))
            choose(page, "Status", "SICK")
            page.get_by_label("Note", exact=True).fill("called in sick")
            page.get_by_role("button", name="Apply to the grid").click()
            expect(
                page.get_by_text(re.compile(r"Unsaved: 1 change of 1 driver"))
            ).to_be_visible()
            page.get_by_role("button", name="Save changes").click()
            expect(page.get_by_text("Saved 1 change of 1 driver.")).to_be_visible()
            page.screenshot(path=tmp_path / "availability.png", full_page=True)

            open_page(page, "Forecast")
            page.locator("input[type=file]").set_input_files(forecast_file)
            expect(page.get_by_text(forecast_file.name)).to_be_visible()
            page.get_by_role("button", name="Import").click()
            expect(page.get_by_text("Imported as version 1")).to_be_visible()

            open_page(page, "Plan")
            page.get_by_role("button", name="Start solve").click()
            expect(
                page.get_by_text(
                    "1 tour stays open: the driver pool cannot cover them."
                )
            ).to_be_visible(timeout=SOLVE_TIMEOUT_MS)
            expect(page.get_by_text("What would close the gap")).to_be_visible()
            page.screenshot(path=tmp_path / "plan.png", full_page=True)

            rows = exported_assignments(page)
        except Exception:
            if page is not None:
                page.screenshot(path=tmp_path / "failure.png", full_page=True)
                print(f"screenshot of the failure: {tmp_path / 'failure.png'}")
            raise
        finally:
            browser.close()

    drivers_by_weekday = {row["weekday"]: row["driver"] for row in rows}
    assert drivers_by_weekday == {"1": "", "2": "K01"}, rows
