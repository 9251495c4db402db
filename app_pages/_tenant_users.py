"""The tenant admin's user list on the security page: end sessions, disable, enable."""

from __future__ import annotations

import streamlit as st

from app_pages._display import run_service
from app_pages._session import forget_session, signed_in_actor
from core.errors import SolvereignError
from core.permissions import Actor
from core.user_sessions import end_all_sessions, list_user_accounts, set_user_active


def show_tenant_users(actor: Actor) -> None:
    st.header("Users of this tenant")
    for account in run_service(list_user_accounts, actor):
        name, details, end_column, switch_column = st.columns([3, 4, 2, 2])
        name.write(f"**{account.username}**")
        state = "active" if account.is_active else "disabled"
        factor = "no authenticator"
        if account.mfa_enrolled:
            factor = "authenticator set up"
        elif account.needs_mfa:
            factor = "no authenticator yet, so dispatcher permissions only"
        details.write(f"{account.role}, {state}, {factor}")
        end_column.button(
            "End all sessions",
            key=f"end-sessions-{account.user_id}",
            on_click=change_user,
            args=(account.username, account.user_id, None),
        )
        switch_column.button(
            "Enable" if not account.is_active else "Disable",
            key=f"switch-{account.user_id}",
            on_click=change_user,
            args=(account.username, account.user_id, not account.is_active),
        )


def change_user(username: str, user_id: int, active: bool | None) -> None:
    """End a user's sessions (`active` None), or enable or disable the user.

    Streamlit calls this before it reruns the page, and messages written here
    appear at the top of that run.
    """
    actor = signed_in_actor()
    if actor is None:
        return
    try:
        if active is None:
            ended = end_all_sessions(actor, user_id)
        else:
            ended = set_user_active(actor, user_id, active)
    except SolvereignError as error:
        st.error(f"{username}: {error}", icon=":material/error:")
        return
    if user_id == actor.user_id and ended:
        forget_session()
    change = {None: "sessions ended", True: "enabled", False: "disabled"}[active]
    st.success(f"{username}: {change}; {ended} open sessions ended.")
