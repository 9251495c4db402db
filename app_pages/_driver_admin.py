"""The tenant admin's parts of the Drivers page: forms, import, data protection.

Each action is one core service call, which checks the permission again.
A success is kept as a notice and the page reruns, so the list above the
forms shows the change. A failure is shown below its form, the rest of the
page stays, and the form keeps what the user typed, because its widgets
keep their values in st.session_state under keys of their own.
"""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

from app_pages._display import run_service
from app_pages._driver_display import (
    count_of,
    import_report_table,
    keep_notice,
    show_error,
)
from core.driver_changes import DriverInput
from core.driver_checks import KNOWN_QUALIFICATIONS, MAX_WEEKLY_MINUTES
from core.driver_csv import COLUMNS, REQUIRED_COLUMNS, SKILL_SEPARATOR
from core.driver_import import import_drivers
from core.driver_records import DriverDetails
from core.drivers import create_driver, deactivate_driver, edit_driver, record_consent
from core.errors import InvalidInput, SolvereignError
from core.gdpr import erase_driver, export_driver_data, set_legal_hold
from core.permissions import Actor, Permission, has_permission
from core.retention import (
    MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
    get_retention_days,
    set_retention_days,
)

CONTRACT_KINDS = ["full_time", "part_time"]
MINUTES_PER_HOUR = 60
MAX_WEEKLY_HOURS = MAX_WEEKLY_MINUTES / MINUTES_PER_HOUR
_CODE_SEPARATORS = re.compile(r"[\s,|;]+")

# Form labels by the field names that core errors carry.
FIELD_LABELS = {
    "external_ref": "External reference",
    "display_name": "Name",
    "phone": "Phone",
    "email": "E-mail",
    "licence_number": "Licence number",
    "address": "Address",
    "home_depot": "Home depot",
    "qualifications": "Qualifications",
    "contract_kind": "Contract",
    "min_weekly_minutes": "Min hours a week",
    "max_weekly_minutes": "Max hours a week",
    "is_active": "Active",
    "purpose": "Purpose",
    "text_version": "Version of the consent text",
    "granted": "The driver agrees",
    "retention_days": "Keep inactive drivers for (days)",
}
# How many drivers and consent decisions the forms saved in this session. The
# count is part of the forms' widget keys, so a new count gives an empty form.
NEW_DRIVER_FORM_KEY = "new_driver_form_count"
CONSENT_FORM_KEY = "consent_form_count"
IMPORT_REPORT_KEY = "driver_import_report"
IMPORT_CAPTION = (
    f"CSV with the header {','.join(COLUMNS)}. Required columns:"
    f" {' and '.join(REQUIRED_COLUMNS)}; the others may be left out."
    f" max_weekly_hours is hours a week, above 0 and at most"
    f" {MAX_WEEKLY_HOURS:g}; is_active is true or false; skills lists codes"
    f" separated by {SKILL_SEPARATOR}, such as ADR{SKILL_SEPARATOR}KUEHL."
    " A line with the external_ref of an existing driver updates that driver,"
    " and a column left out keeps the driver's value. The whole file applies,"
    " or nothing does."
)


def new_driver_form(actor: Actor) -> None:
    form_count = st.session_state.setdefault(NEW_DRIVER_FORM_KEY, 0)
    with st.form("new_driver", clear_on_submit=False):
        fields = driver_fields(None, f"new_driver_{form_count}")
        submitted = st.form_submit_button("Create driver", type="primary")
    if not submitted:
        return
    try:
        view = create_driver(actor, DriverInput(**checked_form_values(fields)))
    except SolvereignError as error:
        show_error(error, FIELD_LABELS)
        return
    st.session_state[NEW_DRIVER_FORM_KEY] = form_count + 1
    keep_notice(f"Driver {view.external_ref} created.")
    st.rerun()


def edit_driver_form(actor: Actor, details: DriverDetails) -> None:
    view = details.driver
    # The row version in the keys refills the form from a saved change.
    with st.form("edit_driver"):
        fields = driver_fields(
            details, f"edit_driver_{view.driver_id}_{view.row_version}"
        )
        submitted = st.form_submit_button("Save changes", type="primary")
    if submitted:
        try:
            values = checked_form_values(fields)
            edit_driver(actor, view.driver_id, view.row_version, values)
        except SolvereignError as error:
            show_error(error, FIELD_LABELS)
        else:
            keep_notice(f"Driver {values['external_ref']} saved.")
            st.rerun()
    if view.is_active and st.button("Deactivate driver"):
        try:
            deactivate_driver(actor, view.driver_id, view.row_version)
        except SolvereignError as error:
            show_error(error, FIELD_LABELS)
        else:
            keep_notice(f"Driver {view.external_ref} deactivated.")
            st.rerun()


def driver_fields(details: DriverDetails | None, key_prefix: str) -> dict[str, Any]:
    """Show the driver's fields as inputs, filled from `details` when editing.

    Returns the values by input name, with the weekly limits as hours under
    min_weekly_hours and max_weekly_hours; checked_form_values converts them.
    """
    view = details.driver if details else None
    left, right = st.columns(2)

    def key(name: str) -> str:
        return f"{key_prefix}_{name}"

    values: dict[str, Any] = {
        "external_ref": left.text_input(
            "External reference",
            view.external_ref if view else "",
            key=key("external_ref"),
        ),
        "display_name": left.text_input(
            "Name", (view.display_name or "") if view else "", key=key("name")
        ),
        "phone": left.text_input("Phone", _text(details, "phone"), key=key("phone")),
        "email": left.text_input("E-mail", _text(details, "email"), key=key("email")),
        "licence_number": left.text_input(
            "Licence number",
            _text(details, "licence_number"),
            key=key("licence_number"),
        ),
        "address": right.text_area(
            "Address", _text(details, "address"), height=80, key=key("address")
        ),
        "home_depot": right.text_input(
            "Home depot", view.home_depot if view else "", key=key("home_depot")
        ),
    }
    codes = right.text_input(
        "Qualifications",
        " ".join(view.qualifications) if view else "",
        help=f"Codes separated by spaces, such as {' '.join(KNOWN_QUALIFICATIONS)}",
        key=key("qualifications"),
    )
    values["qualifications"] = [code for code in _CODE_SEPARATORS.split(codes) if code]
    values["contract_kind"] = right.selectbox(
        "Contract",
        CONTRACT_KINDS,
        index=CONTRACT_KINDS.index(view.contract_kind) if view else 0,
        format_func=lambda kind: kind.replace("_", "-"),
        key=key("contract_kind"),
    )
    # No min_value or max_value: the browser would silently reject a value out
    # of range, and checked_form_values names the range instead.
    hours_help = f"Hours a week, from 0 to {MAX_WEEKLY_HOURS:g}"
    values["min_weekly_hours"] = right.number_input(
        "Min hours a week",
        value=view.min_weekly_minutes / MINUTES_PER_HOUR if view else 40.0,
        step=0.5,
        help=hours_help,
        key=key("min_hours"),
    )
    values["max_weekly_hours"] = right.number_input(
        "Max hours a week",
        value=(
            view.max_weekly_minutes / MINUTES_PER_HOUR if view else MAX_WEEKLY_HOURS
        ),
        step=0.5,
        help=hours_help,
        key=key("max_hours"),
    )
    values["is_active"] = right.checkbox(
        "Active", view.is_active if view else True, key=key("is_active")
    )
    return values


def checked_form_values(fields: dict[str, Any]) -> dict[str, Any]:
    """Return the form's values by input name, weekly limits in minutes.

    Raises InvalidInput naming min_weekly_minutes or max_weekly_minutes for
    hours outside 0 to MAX_WEEKLY_HOURS; the service checks everything else.
    """
    values = dict(fields)
    for input_name, hours_name in (
        ("min_weekly_minutes", "min_weekly_hours"),
        ("max_weekly_minutes", "max_weekly_hours"),
    ):
        hours = values.pop(hours_name)
        if not 0 <= hours <= MAX_WEEKLY_HOURS:
            raise InvalidInput(
                input_name,
                f"{hours:g} h is outside the allowed range; enter 0 to"
                f" {MAX_WEEKLY_HOURS:g} hours a week",
            )
        values[input_name] = round(hours * MINUTES_PER_HOUR)
    return values


def consent_form(actor: Actor, details: DriverDetails) -> None:
    view = details.driver
    form_count = st.session_state.setdefault(CONSENT_FORM_KEY, 0)
    key_prefix = f"consent_{view.driver_id}_{form_count}"
    with st.form("consent"):
        purpose = st.text_input(
            "Purpose", "sms_notifications", key=f"{key_prefix}_purpose"
        )
        text_version = st.text_input(
            "Version of the consent text",
            help="Such as 2025-1",
            key=f"{key_prefix}_text_version",
        )
        granted = st.checkbox("The driver agrees", key=f"{key_prefix}_granted")
        submitted = st.form_submit_button("Record decision")
    if not submitted:
        return
    try:
        record_consent(actor, view.driver_id, purpose, granted, text_version)
    except SolvereignError as error:
        show_error(error, FIELD_LABELS)
        return
    st.session_state[CONSENT_FORM_KEY] = form_count + 1
    keep_notice(f"Consent decision of {view.external_ref} recorded.")
    st.rerun()


def import_section(actor: Actor) -> None:
    """Import a driver file and show its report below the upload.

    An import that changed drivers reruns the page, so the count and the
    list above show the imported drivers. The report is kept for as long as
    the same file stays in the upload field.
    """
    st.caption(IMPORT_CAPTION)
    upload = st.file_uploader("Driver file", type=["csv", "txt"])
    if st.button("Import drivers", disabled=upload is None):
        try:
            report = import_drivers(actor, upload.getvalue())
        except SolvereignError as error:
            show_error(error, {"content": upload.name})
            return
        st.session_state[IMPORT_REPORT_KEY] = (upload.file_id, report)
        if report.applied:
            st.rerun()
    kept = st.session_state.get(IMPORT_REPORT_KEY)
    if kept is not None and upload is not None and kept[0] == upload.file_id:
        import_report_table(kept[1])


def data_protection(actor: Actor, details: DriverDetails) -> None:
    """Offer the data export, the legal hold and erasure with a confirmation."""
    view = details.driver
    if has_permission(actor, Permission.EXPORT_PII) and st.button(
        "Prepare data export (JSON)"
    ):
        filename, content = run_service(export_driver_data, actor, view.driver_id)
        st.download_button(
            f"Download {filename}",
            data=content,
            file_name=filename,
            mime="application/json",
            on_click="ignore",
            icon=":material/download:",
        )
    if view.erased_at is not None:
        return
    hold_label = "Lift legal hold" if view.legal_hold else "Place on legal hold"
    if st.button(hold_label):
        try:
            set_legal_hold(actor, view.driver_id, not view.legal_hold)
        except SolvereignError as error:
            show_error(error, FIELD_LABELS)
        else:
            keep_notice(f"Driver {view.external_ref}: {hold_label.lower()} done.")
            st.rerun()
    confirmed = st.checkbox(
        f"I confirm that the personal data of {view.external_ref} is erased for"
        " good; this cannot be undone"
    )
    if st.button("Erase personal data", type="primary", disabled=not confirmed):
        try:
            result = erase_driver(actor, view.driver_id)
        except SolvereignError as error:
            show_error(error, FIELD_LABELS)
        else:
            keep_notice(result.message.capitalize() + ".")
            st.rerun()


def retention_setting(actor: Actor) -> None:
    days = run_service(get_retention_days, actor)
    with st.form("retention"):
        new_days = st.number_input(
            "Keep inactive drivers for (days)",
            MIN_RETENTION_DAYS,
            MAX_RETENTION_DAYS,
            days,
            help="After this many days without being active, a driver's personal"
            " data is erased by the retention job, unless on legal hold",
        )
        submitted = st.form_submit_button("Save retention")
    if not submitted:
        return
    try:
        saved = set_retention_days(actor, int(new_days))
    except SolvereignError as error:
        show_error(error, FIELD_LABELS)
        return
    keep_notice(f"Inactive drivers are kept for {count_of(saved, 'day')}.")
    st.rerun()


def _text(details: DriverDetails | None, field: str) -> str:
    return (getattr(details, field) or "") if details else ""
