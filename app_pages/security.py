"""Security: the user's authenticator app, recovery codes and sessions.

Tenant admins also get the tenant's users (app_pages/_tenant_users.py).
Every action is one core service call, which checks the permission again.
"""

from __future__ import annotations

import streamlit as st

from app_pages._display import run_service
from app_pages._session import forget_session, require_actor, session_token
from app_pages._tenant_users import show_tenant_users
from core.errors import SolvereignError
from core.mfa import (
    MfaStatus,
    confirm_enrolment,
    issue_new_recovery_codes,
    mfa_status,
    qr_code_png,
    start_enrolment,
)
from core.permissions import Actor, Permission, has_permission
from core.user_sessions import end_all_sessions

# The recovery codes just issued with the session token they belong to, shown
# until the user confirms saving them. A later session of this tab, perhaps of
# another user, does not get them.
NEW_CODES_KEY = "new_recovery_codes"
QR_CODE_WIDTH_PIXELS = 240


def show_new_recovery_codes(actor: Actor, codes: list[str]) -> None:
    st.success("Your recovery codes are ready.", icon=":material/key:")
    if not actor.mfa_verified:
        st.info(
            "This session was opened without an authenticator code. Sign out and"
            " sign in with a code from the app to get all permissions of your role."
        )
    st.warning(
        "Save these codes somewhere safe now: they are shown only this once."
        " Each one signs you in once, in place of the authenticator code."
    )
    st.code("\n".join(codes), language=None)
    if st.button("I have saved the codes"):
        st.session_state.pop(NEW_CODES_KEY, None)
        st.rerun()


def show_enrolment(actor: Actor, secret: str, uri: str) -> None:
    st.write("Scan the QR code with your authenticator app.")
    st.image(qr_code_png(uri), width=QR_CODE_WIDTH_PIXELS)
    st.code(uri, language=None, wrap_lines=True)
    st.write("Or type this key into the app, as a time-based key:")
    key_groups = [secret[start : start + 4] for start in range(0, len(secret), 4)]
    st.code(" ".join(key_groups), language=None)
    with st.form("confirm_enrolment"):
        code = st.text_input(
            "Code from the app",
            max_chars=6,
            autocomplete="one-time-code",
            help="The 6-digit code that the app shows now for SOLVEREIGN",
        )
        confirmed = st.form_submit_button("Confirm", type="primary")
    if not confirmed:
        return
    try:
        codes = confirm_enrolment(actor, code.strip())
    except SolvereignError as error:
        st.error(str(error), icon=":material/error:")
        return
    keep_new_codes(codes)
    st.rerun()


def keep_new_codes(codes: tuple[str, ...]) -> None:
    st.session_state[NEW_CODES_KEY] = (session_token(), list(codes))


def new_codes_of_this_session() -> list[str]:
    """Return the codes issued in this session, dropping those of an earlier one."""
    token, codes = st.session_state.get(NEW_CODES_KEY, (None, []))
    if token != session_token():
        st.session_state.pop(NEW_CODES_KEY, None)
        return []
    return codes


def show_authenticator(actor: Actor, status: MfaStatus) -> None:
    st.header("Authenticator app")
    if status.pending_secret is not None and status.pending_uri is not None:
        show_enrolment(actor, status.pending_secret, status.pending_uri)
        return
    if status.enrolled:
        st.success("An authenticator app is set up.", icon=":material/verified:")
        st.caption(f"{status.recovery_codes_left} unused recovery codes left.")
    elif status.required:
        st.warning(
            "Your role needs an authenticator app. Until you set one up and sign"
            " in with its code, you have the permissions of a dispatcher only."
        )
    else:
        st.info("Your role signs in with a password only.")
    if status.may_issue_recovery_codes and st.button("New recovery codes"):
        keep_new_codes(run_service(issue_new_recovery_codes, actor))
        st.rerun()
    label = (
        "Replace authenticator app" if status.enrolled else "Set up authenticator app"
    )
    if status.may_enrol and st.button(label):
        run_service(start_enrolment, actor)
        st.rerun()


def show_own_sessions(actor: Actor) -> None:
    st.header("Sessions")
    st.caption("Signs you out in every browser and tab, this one included.")
    if st.button("Sign out everywhere", icon=":material/logout:"):
        run_service(end_all_sessions, actor, actor.user_id)
        forget_session()
        st.rerun()


actor = require_actor()
st.title("Security")
new_codes = new_codes_of_this_session()
if new_codes:
    show_new_recovery_codes(actor, new_codes)
else:
    show_authenticator(actor, run_service(mfa_status, actor))
show_own_sessions(actor)
if has_permission(actor, Permission.USER_MANAGE):
    show_tenant_users(actor)
