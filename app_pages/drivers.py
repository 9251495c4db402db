"""Drivers: the tenant's driver list with filters, one driver's data, and for
tenant admins the forms, the CSV import and the data protection requests."""

from __future__ import annotations

import streamlit as st

from app_pages._display import run_service
from app_pages._driver_admin import (
    consent_form,
    data_protection,
    edit_driver_form,
    import_section,
    new_driver_form,
    retention_setting,
)
from app_pages._driver_display import (
    count_of,
    driver_details,
    driver_label,
    driver_table,
    show_notice,
)
from app_pages._session import require_actor
from core.driver_export import export_drivers
from core.driver_records import may_read_personal_fields
from core.drivers import get_driver, list_drivers
from core.permissions import Permission, has_permission

actor = require_actor()
st.title("Drivers")
show_notice()

active_column, depot_column, qualification_column, text_column = st.columns(4)
active_only = active_column.checkbox("Active only", value=True)
depot = depot_column.text_input("Depot", placeholder="all depots")
qualification = qualification_column.text_input(
    "Qualification", placeholder="any", help="One code, such as ADR"
)
text = text_column.text_input(
    "Search", placeholder="reference or name", help="Part of a reference or name"
)
views = run_service(
    list_drivers,
    actor,
    active_only=active_only,
    home_depot=depot.strip() or None,
    qualification=qualification.strip() or None,
    text=text.strip() or None,
)
st.caption(f"{count_of(len(views), 'driver')}.")
driver_table(views, may_read_personal_fields(actor))

export_options = [("Prepare driver list (CSV)", False)]
if has_permission(actor, Permission.EXPORT_PII):
    export_options.append(("Prepare driver list with personal data", True))
for column, (label, personal) in zip(st.columns(2), export_options):
    if column.button(label, key=f"export_{personal}"):
        filename, content = run_service(export_drivers, actor, personal)
        column.download_button(
            f"Download {filename}",
            data=content,
            file_name=filename,
            mime="text/csv",
            on_click="ignore",
            icon=":material/download:",
        )

chosen = st.selectbox(
    "Driver", views, index=None, format_func=driver_label, placeholder="choose one"
)
details = None
if chosen is not None:
    details = run_service(get_driver, actor, chosen.driver_id)
    driver_details(details)

if has_permission(actor, Permission.DRIVER_WRITE):
    st.header("Manage drivers")
    new_tab, edit_tab, consent_tab, import_tab, protection_tab = st.tabs(
        ["New driver", "Edit", "Consent", "Import", "Data protection"]
    )
    with new_tab:
        new_driver_form(actor)
    with import_tab:
        import_section(actor)
    for tab, show in (
        (edit_tab, edit_driver_form),
        (consent_tab, consent_form),
        (protection_tab, data_protection),
    ):
        with tab:
            if details is None:
                st.info("Choose a driver above first.")
            elif details.driver.erased_at is not None and show is not data_protection:
                st.info("This driver's personal data was erased.")
            else:
                show(actor, details)

if has_permission(actor, Permission.TENANT_CONFIGURE):
    st.header("Retention")
    retention_setting(actor)
