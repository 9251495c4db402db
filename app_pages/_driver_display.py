"""Display parts of the Drivers page: the list, one driver, the import report.

Everything here renders result objects and errors of core services and
calls no service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import streamlit as st

from app_pages._display import LINE_STATUS_COLORS, count_of
from core.driver_export import format_hours
from core.driver_import import DriverImportReport
from core.driver_records import DriverDetails, DriverView
from core.errors import InvalidInput, SolvereignError

NOTICE_KEY = "drivers_notice"

__all__ = ["count_of"]


def show_error(error: SolvereignError, labels: Mapping[str, str]) -> None:
    """Show a service error in place, naming an invalid field by its label.

    `labels` maps the field names that InvalidInput carries, such as
    display_name, to the labels on the form, such as "Name". A field
    without a label keeps its name.
    """
    message = str(error)
    if isinstance(error, InvalidInput):
        message = f"{labels.get(error.field, error.field)}: {error.reason}"
    st.error(message, icon=":material/error:")


def keep_notice(message: str) -> None:
    """Keep a success message to show at the top of the next run."""
    st.session_state[NOTICE_KEY] = message


def show_notice() -> None:
    message = st.session_state.pop(NOTICE_KEY, None)
    if message:
        st.success(message)


def driver_label(view: DriverView) -> str:
    name = f" {view.display_name}" if view.display_name else ""
    state = "" if view.is_active else " (inactive)"
    return f"{view.external_ref}{name}{state}"


def driver_table(views: Sequence[DriverView], with_names: bool) -> None:
    """Show one row per driver; the name column only for roles that read names."""
    columns = {"external ref": [view.external_ref for view in views]}
    if with_names:
        columns["name"] = [view.display_name or "" for view in views]
    columns.update(
        {
            "home depot": [view.home_depot for view in views],
            "qualifications": [", ".join(view.qualifications) for view in views],
            "contract": [view.contract_kind.replace("_", "-") for view in views],
            "max hours": [format_hours(view.max_weekly_minutes) for view in views],
            "active": [view.is_active for view in views],
            "legal hold": [view.legal_hold for view in views],
        }
    )
    st.dataframe(pd.DataFrame(columns), hide_index=True, width="stretch")
    unreadable = [view.external_ref for view in views if view.unreadable_fields]
    if unreadable:
        st.error(
            f"The stored name of {', '.join(unreadable)} cannot be decrypted and is"
            " not shown. Ask an administrator to restore the key or to enter the"
            " name again.",
            icon=":material/error:",
        )


def driver_details(details: DriverDetails) -> None:
    """Show one driver's fields, personal ones only when the role reads them."""
    view = details.driver
    plain, personal = st.columns(2)
    with plain:
        st.write(f"**{view.external_ref}**, depot {view.home_depot or 'none'}")
        st.write(
            f"{view.contract_kind.replace('_', '-')} contract,"
            f" {format_hours(view.min_weekly_minutes)} to"
            f" {format_hours(view.max_weekly_minutes)} hours a week"
        )
        st.write(f"Qualifications: {', '.join(view.qualifications) or 'none'}")
        if view.legal_hold:
            st.warning("On legal hold: the personal data cannot be erased.")
    with personal:
        if view.erased_at is not None:
            st.info(f"Personal data erased on {view.erased_at:%d.%m.%Y}.")
        elif not details.personal_fields_shown:
            st.caption("Personal fields are shown from the dispatcher role upwards.")
        else:
            st.write(f"Name: {view.display_name or ''}")
            st.write(f"Phone: {details.phone or ''}")
            st.write(f"E-mail: {details.email or ''}")
            st.write(f"Address: {details.address or ''}")
            st.write(f"Licence number: {details.licence_number or ''}")
    if details.consents:
        st.caption("Consents, oldest first")
        st.dataframe(
            pd.DataFrame(
                {
                    "purpose": [consent.purpose for consent in details.consents],
                    "granted": [consent.granted for consent in details.consents],
                    "text version": [c.text_version for c in details.consents],
                    "recorded (UTC)": [c.recorded_at for c in details.consents],
                }
            ),
            hide_index=True,
            width="stretch",
        )


def import_report_table(report: DriverImportReport) -> None:
    """Show the import's summary and every line, failures and warnings shaded."""
    summary = (
        f"{count_of(len(report.lines), 'line')}, {len(report.failures)} failed,"
        f" {len(report.warnings)} with warnings."
    )
    if not report.ok:
        st.error(
            f"{summary} The file is rejected and nothing changed. Correct the"
            " shaded lines and import it again."
        )
    else:
        st.success(
            f"{summary} {count_of(report.created, 'driver')} created,"
            f" {report.updated} updated, {report.unchanged} unchanged."
        )
    frame = pd.DataFrame(
        {
            "line": [line.line_number for line in report.lines],
            "status": [line.status.value for line in report.lines],
            "reason": [line.reason for line in report.lines],
            "text": [line.raw for line in report.lines],
        }
    )
    st.dataframe(
        frame.style.apply(
            lambda row: [LINE_STATUS_COLORS.get(row["status"], "")] * len(row),
            axis=1,
        ),
        hide_index=True,
        width="stretch",
    )
