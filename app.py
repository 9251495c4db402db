"""SOLVEREIGN workbench: the Streamlit entry script and page router.

Signed-out visitors get the sign-in page only. A signed-in user gets the pages
that the role's permissions allow, grouped by section. Hiding a page is only a
courtesy: every core service checks the permission again.
"""

from __future__ import annotations

import os

import streamlit as st
from sqlalchemy import Engine

from app_pages._session import forget_session, session_token, signed_in_actor
from core.auth import sign_out
from core.context import open_workbench
from core.permissions import Actor, Permission, has_permission
from core.session_revocations import revocation_list
from core.session_settings import session_limits

# The page scripts live in app_pages/ because Streamlit 1.67 runs the files of
# a folder named pages/ as legacy pages, without this router, until a session
# has called st.navigation. AppTest even resets that state before every run.
SIGN_IN_PAGE = ("app_pages/sign_in.py", "Sign in")

# Sections in menu order: each page's script, title and the permission that
# makes it useful. Pages carry no icon, because Streamlit 1.67 fetches a
# page's Material icon from fonts.gstatic.com to use as the favicon, an
# outside request that the content security policy (security_headers.py) blocks.
SECTIONS: dict[str, list[tuple[str, str, Permission]]] = {
    "Planning": [
        ("app_pages/forecast.py", "Forecast", Permission.FORECAST_READ),
        ("app_pages/plan.py", "Plan", Permission.PLAN_READ),
        ("app_pages/trends.py", "Trends", Permission.PLAN_READ),
        ("app_pages/scenarios.py", "Scenarios", Permission.PLAN_READ),
        ("app_pages/compare.py", "Compare", Permission.PLAN_READ),
        ("app_pages/drivers.py", "Drivers", Permission.DRIVER_READ),
        ("app_pages/availability.py", "Availability", Permission.DRIVER_READ),
    ],
    "Approval": [
        ("app_pages/approve.py", "Approve", Permission.PLAN_APPROVE),
    ],
    "Exports": [
        ("app_pages/exports.py", "Exports", Permission.PLAN_READ),
    ],
    "Admin": [
        ("app_pages/audit.py", "Audit", Permission.AUDIT_READ),
    ],
}
# Pages of every signed-in user, whatever the role, listed after the others.
ACCOUNT_SECTION = "Account"
ACCOUNT_PAGES = [("app_pages/security.py", "Security")]


@st.cache_resource
def workbench_engine(database_url: str) -> Engine:
    """Migrate and configure the database once per server process and URL."""
    return open_workbench(database_url or None)


def pages_for(actor: Actor) -> dict[str, list[st.Page]]:
    """Build the pages the actor's permissions allow, by section."""
    sections: dict[str, list[st.Page]] = {}
    for section, entries in SECTIONS.items():
        pages = [
            st.Page(script, title=title)
            for script, title, permission in entries
            if has_permission(actor, permission)
        ]
        if pages:
            sections[section] = pages
    sections[ACCOUNT_SECTION] = [
        st.Page(script, title=title) for script, title in ACCOUNT_PAGES
    ]
    return sections


def show_account(actor: Actor) -> None:
    """Show who is signed in, with the sign-out button, in the sidebar."""
    with st.sidebar:
        st.caption(f"Signed in as **{actor.username}** ({actor.role.value})")
        if st.button("Sign out", icon=":material/logout:"):
            sign_out(session_token())
            forget_session()
            st.rerun()


st.set_page_config(page_title="SOLVEREIGN", layout="wide")
workbench_engine(os.environ.get("DATABASE_URL", ""))
try:
    # A wrong session setting or Redis URL stops every page with its message.
    session_limits()
    revocation_list()
except ValueError as error:
    st.error(f"The workbench cannot start: {error}")
    st.stop()

actor = signed_in_actor()
if actor is None:
    script, title = SIGN_IN_PAGE
    navigation = st.navigation([st.Page(script, title=title)])
else:
    show_account(actor)
    navigation = st.navigation(pages_for(actor))
navigation.run()
