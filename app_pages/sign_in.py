"""Sign-in: tenant, user name and password, then the TOTP code if the role needs it."""

from __future__ import annotations

import streamlit as st

from app_pages._session import remember_session
from core.auth import TotpRequired, sign_in
from core.errors import SolvereignError

DEFAULT_TENANT_SLUG = "demo"
# Set once sign_in has raised TotpRequired, so the form shows the code field.
# It only shapes the form: the server checks the code on every sign-in.
TOTP_STEP_KEY = "sign_in_asks_totp"

st.title("Sign in to SOLVEREIGN")
asks_totp = st.session_state.get(TOTP_STEP_KEY, False)

with st.form("sign_in"):
    tenant_slug = st.text_input("Tenant", value=DEFAULT_TENANT_SLUG)
    username = st.text_input("User name", autocomplete="username")
    password = st.text_input(
        "Password", type="password", autocomplete="current-password"
    )
    totp_code = None
    if asks_totp:
        totp_code = st.text_input(
            "Authenticator code",
            max_chars=6,
            autocomplete="one-time-code",
            help="The 6-digit code that your authenticator app shows now",
        )
    submitted = st.form_submit_button("Sign in", type="primary")

if asks_totp:
    st.info(
        "Your role needs multi-factor sign-in. Enter the code from your"
        " authenticator app and sign in again."
    )

if submitted:
    try:
        signed_in = sign_in(
            tenant_slug.strip(),
            username.strip(),
            password,
            totp_code=totp_code.strip() if totp_code else None,
            client_address=st.context.ip_address or "",
        )
    except TotpRequired:
        st.session_state[TOTP_STEP_KEY] = True
        st.rerun()
    except SolvereignError as error:
        # SignInFailed carries one message for every wrong value.
        st.error(str(error))
        st.stop()

    st.session_state.pop(TOTP_STEP_KEY, None)
    remember_session(signed_in.session_token)
    st.rerun()
