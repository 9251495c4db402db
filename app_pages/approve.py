"""Approve: review a plan version's checks and changes, then approve and lock it."""

from __future__ import annotations

import streamlit as st

from app_pages._display import (
    checks_table,
    kpi_cards,
    plan_diff_summary,
    plan_version_label,
    run_service,
)
from app_pages._session import require_actor, signed_in_actor
from core.approvals import MAX_REASON_LENGTH, approve_plan, diff_to_approved
from core.errors import Conflict, PlanLocked, SolvereignError
from core.plans import get_plan_version, list_plan_versions

REASON_KEY = "approval_reason"


def approve_shown_version(plan_version_id: int, shown_row_version: int) -> None:
    """Approve the plan version as the page showed it.

    Streamlit calls this before it reruns the page, and messages written here
    appear at the top of that run.
    """
    actor = signed_in_actor()
    if actor is None:
        return
    try:
        approved = approve_plan(
            actor,
            plan_version_id,
            st.session_state[REASON_KEY],
            expected_row_version=shown_row_version,
        )
    except Conflict as error:
        st.error(
            f"Not approved: {error}. Review the plan version again before you"
            " approve it.",
            icon=":material/sync_problem:",
        )
    except PlanLocked as error:
        st.error(f"Not approved: {error}.", icon=":material/lock:")
    except SolvereignError as error:
        st.error(f"Not approved: {error}", icon=":material/error:")
    else:
        st.success(
            f"Plan version {approved.version_number} is now approved and locked.",
            icon=":material/lock:",
        )


actor = require_actor()
st.title("Approve")

plans = run_service(list_plan_versions, actor)
if not plans:
    st.info("No plan version to approve yet.")
    st.stop()

chosen = st.selectbox("Plan version", plans, format_func=plan_version_label)
plan = run_service(get_plan_version, actor, chosen.plan_version_id)
if plan.approved_at is not None:
    st.success("This plan version is approved and locked.", icon=":material/lock:")
    st.caption(
        f"Approved on {plan.approved_at:%d.%m.%Y %H:%M} UTC."
        f" Reason: {plan.approval_reason}"
    )
kpi_cards(plan)

st.subheader("Checks")
checks_table(plan.checks)

st.subheader("Changes against the approved plan")
plan_diff_summary(run_service(diff_to_approved, actor, plan.plan_version_id))

if plan.approved_at is not None:
    st.stop()

with st.form("approve"):
    st.text_area(
        "Reason",
        key=REASON_KEY,
        max_chars=MAX_REASON_LENGTH,
        help="Why this plan version is fit to publish; it is stored with the version",
    )
    # The callback gets the row version of the plan shown here, so an approval
    # fails with Conflict if the version changed before the click.
    st.form_submit_button(
        "Approve and lock",
        type="primary",
        on_click=approve_shown_version,
        args=(plan.plan_version_id, plan.row_version),
    )
