"""Sign-in: tenant, user name, password and, for approvers and admins, a TOTP code.

The code field also takes a recovery code, which core.auth distinguishes
from a TOTP code by its length. When single sign-on is set up in
.streamlit/secrets.toml, a button below the form signs in with the
provider instead (app_pages._sso).
"""

from __future__ import annotations

import streamlit as st

from app_pages._session import remember_session
from app_pages._sso import continue_single_sign_on, show_sign_in_button, sso_setup
from core.auth import sign_in
from core.errors import SolvereignError

DEFAULT_TENANT_SLUG = "demo"
# A recovery code is 16 characters, typed with up to three hyphens and some spaces.
MAX_CODE_CHARACTERS = 24

st.title("Sign in to SOLVEREIGN")

single_sign_on = sso_setup()
if single_sign_on is not None:
    continue_single_sign_on(single_sign_on)

with st.form("sign_in"):
    tenant_slug = st.text_input("Tenant", value=DEFAULT_TENANT_SLUG)
    username = st.text_input("User name", autocomplete="username")
    password = st.text_input(
        "Password", type="password", autocomplete="current-password"
    )
    # The field is always shown: asking for it only after a right password
    # would tell an attacker that the password was right.
    totp_code = st.text_input(
        "Authenticator code",
        max_chars=MAX_CODE_CHARACTERS,
        autocomplete="one-time-code",
        help=(
            "Plan approvers and admins: the 6-digit code that your authenticator"
            " app shows now or, without the phone, one of your recovery codes"
            " (such as 7K3M-Q9TX-2BWD-HN4R). Other roles leave it empty."
        ),
    )
    submitted = st.form_submit_button("Sign in", type="primary")

if single_sign_on is not None:
    show_sign_in_button(single_sign_on)

if submitted:
    try:
        signed_in = sign_in(
            tenant_slug.strip(),
            username.strip(),
            password,
            totp_code=totp_code.strip() if totp_code else None,
            client_address=st.context.ip_address or "",
        )
    except SolvereignError as error:
        # SignInFailed carries one message for every wrong value.
        st.error(str(error))
        st.stop()

    remember_session(signed_in.session_token)
    st.rerun()
