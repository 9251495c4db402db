"""The tenant admin's parts of the Drivers page: forms, import, data protection.

Each action is one core service call, which checks the permission again.
A success is kept as a notice and the page reruns, so the list above the
forms shows the change.
"""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

from app_pages._display import run_service
from app_pages._driver_display import import_report_table, keep_notice
from core.driver_changes import DriverInput
from core.driver_checks import KNOWN_QUALIFICATIONS, MAX_WEEKLY_MINUTES
from core.driver_import import import_drivers
from core.driver_records import DriverDetails
from core.drivers import create_driver, deactivate_driver, edit_driver, record_consent
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
_CODE_SEPARATORS = re.compile(r"[\s,|;]+")


def new_driver_form(actor: Actor) -> None:
    with st.form("new_driver", clear_on_submit=True):
        values = driver_fields(None)
        submitted = st.form_submit_button("Create driver", type="primary")
    if submitted:
        view = run_service(create_driver, actor, DriverInput(**values))
        keep_notice(f"Driver {view.external_ref} created.")
        st.rerun()


def edit_driver_form(actor: Actor, details: DriverDetails) -> None:
    view = details.driver
    with st.form("edit_driver"):
        values = driver_fields(details)
        submitted = st.form_submit_button("Save changes", type="primary")
    if submitted:
        run_service(edit_driver, actor, view.driver_id, view.row_version, values)
        keep_notice(f"Driver {values['external_ref']} saved.")
        st.rerun()
    if view.is_active and st.button("Deactivate driver"):
        run_service(deactivate_driver, actor, view.driver_id, view.row_version)
        keep_notice(f"Driver {view.external_ref} deactivated.")
        st.rerun()


def driver_fields(details: DriverDetails | None) -> dict[str, Any]:
    """Show the driver's fields as inputs, filled from `details` when editing."""
    view = details.driver if details else None
    left, right = st.columns(2)
    values: dict[str, Any] = {
        "external_ref": left.text_input(
            "External reference", view.external_ref if view else ""
        ),
        "display_name": left.text_input(
            "Name", (view.display_name or "") if view else ""
        ),
        "phone": left.text_input("Phone", _text(details, "phone")),
        "email": left.text_input("E-mail", _text(details, "email")),
        "licence_number": left.text_input(
            "Licence number", _text(details, "licence_number")
        ),
        "address": right.text_area("Address", _text(details, "address"), height=80),
        "home_depot": right.text_input("Home depot", view.home_depot if view else ""),
    }
    codes = right.text_input(
        "Qualifications",
        " ".join(view.qualifications) if view else "",
        help=f"Codes separated by spaces, such as {' '.join(KNOWN_QUALIFICATIONS)}",
    )
    values["qualifications"] = [code for code in _CODE_SEPARATORS.split(codes) if code]
    kind = right.selectbox(
        "Contract",
        CONTRACT_KINDS,
        index=CONTRACT_KINDS.index(view.contract_kind) if view else 0,
    )
    limit = MAX_WEEKLY_MINUTES / MINUTES_PER_HOUR
    low = right.number_input(
        "Min hours a week",
        0.0,
        limit,
        view.min_weekly_minutes / MINUTES_PER_HOUR if view else 40.0,
        step=0.5,
    )
    high = right.number_input(
        "Max hours a week",
        0.0,
        limit,
        view.max_weekly_minutes / MINUTES_PER_HOUR if view else limit,
        step=0.5,
    )
    values.update(
        contract_kind=kind,
        min_weekly_minutes=round(low * MINUTES_PER_HOUR),
        max_weekly_minutes=round(high * MINUTES_PER_HOUR),
        is_active=right.checkbox("Active", view.is_active if view else True),
    )
    return values


def consent_form(actor: Actor, details: DriverDetails) -> None:
    with st.form("consent", clear_on_submit=True):
        purpose = st.text_input("Purpose", "sms_notifications")
        text_version = st.text_input(
            "Version of the consent text", help="Such as 2025-1"
        )
        granted = st.checkbox("The driver agrees")
        submitted = st.form_submit_button("Record decision")
    if submitted:
        view = details.driver
        run_service(
            record_consent, actor, view.driver_id, purpose, granted, text_version
        )
        keep_notice(f"Consent decision of {view.external_ref} recorded.")
        st.rerun()


def import_section(actor: Actor) -> None:
    st.caption(
        "CSV with the header external_ref,display_name,home_depot,"
        "max_weekly_hours,is_active,skills (skills separated by |). The whole"
        " file applies, or nothing does."
    )
    upload = st.file_uploader("Driver file", type=["csv", "txt"])
    if st.button("Import drivers", disabled=upload is None):
        report = run_service(import_drivers, actor, upload.getvalue())
        import_report_table(report)


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
        run_service(set_legal_hold, actor, view.driver_id, not view.legal_hold)
        keep_notice(f"Driver {view.external_ref}: {hold_label.lower()} done.")
        st.rerun()
    confirmed = st.checkbox(
        f"I confirm that the personal data of {view.external_ref} is erased for"
        " good; this cannot be undone"
    )
    if st.button("Erase personal data", type="primary", disabled=not confirmed):
        result = run_service(erase_driver, actor, view.driver_id)
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
    if submitted:
        saved = run_service(set_retention_days, actor, int(new_days))
        keep_notice(f"Inactive drivers are kept for {saved} days.")
        st.rerun()


def _text(details: DriverDetails | None, field: str) -> str:
    return (getattr(details, field) or "") if details else ""
