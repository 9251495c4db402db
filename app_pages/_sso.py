"""Single sign-on on the sign-in page, through Streamlit's st.login.

Flow. The "Sign in with <provider>" button calls st.login. Streamlit 1.67
runs the authorization code flow with Authlib (state, nonce, and PKCE when
the provider offers S256), checks the ID token against the keys that the
provider's discovery document names, and stores the token's claims and the
raw tokens in signed, HttpOnly, SameSite=Lax cookies (`_streamlit_user` and
`_streamlit_user_tokens`, 30 days). With `expose_tokens = ["id"]`, the page
reads the ID token from st.user.tokens on the next page load and passes it to
core.oidc_sign_in.sign_in_with_token, which validates it again against the
`[oidc]` settings alone and opens a workbench session, stored in
st.session_state as after a password sign-in.

One session. The workbench session is the only session. The identity cookie
never opens one by itself: each ID token signs in at most once
(app_pages._sso_tokens). After that, the cookie only finds the session that
its token opened, so a reload of the page continues that session for as long
as it lives. Once the session has ended (sign-out, timeout, revocation), or
when the token is found used or expired, the page calls st.logout. Streamlit
then deletes its cookies and, if the provider's discovery document names an
end_session_endpoint, sends the browser there to end the provider's session
too. A reload after signing out therefore shows the sign-in page.

A rejected token shows the one generic failure message of TokenRejected.
When Streamlit's own callback fails (the provider reports an error, the code
exchange fails, or Authlib rejects the ID token), Streamlit 1.67 sends the
browser back to the sign-in page without a message and logs a warning.
"""

from __future__ import annotations

import functools
import logging
import time

import jwt
import streamlit as st

from app_pages._session import remember_session
from app_pages._sso_setup import SsoConfigError, SsoSetup, sso_setup_from_secrets
from app_pages._sso_tokens import SignInTokens
from core.auth import SessionExpired, actor_for_session
from core.errors import SolvereignError
from core.oidc import MAX_LEEWAY_SECONDS
from core.oidc_sign_in import sign_in_with_token

logger = logging.getLogger(__name__)

# The session state key of an ID token that was rejected in this browser tab.
# That tab keeps the identity cookie, so that the error message stays on
# screen. The next page load ends the cookie.
REJECTED_TOKEN_KEY = "sso_rejected_token"


def sso_setup() -> SsoSetup | None:
    """Return the single sign-on setup, or None when it is off or invalid.

    Invalid settings show a warning, and the server log names the key at
    fault, once per distinct error.
    """
    if not st.secrets.load_if_toml_exists():
        return None
    try:
        return sso_setup_from_secrets(st.secrets.to_dict())
    except SsoConfigError as error:
        _log_config_error(str(error))
        st.warning(
            "Single sign-on is unavailable because its settings in"
            " .streamlit/secrets.toml are invalid. The server log names the key"
            " at fault."
        )
        return None


@functools.cache
def _log_config_error(message: str) -> None:
    logger.error("single sign-on is off: invalid secrets.toml: %s", message)


@st.cache_resource
def sign_in_tokens() -> SignInTokens:
    """Return the record of used ID tokens, which all browser sessions share."""
    return SignInTokens()


def show_sign_in_button(setup: SsoSetup) -> None:
    if st.button(f"Sign in with {setup.provider_label}", icon=":material/key:"):
        st.login(setup.provider)


def continue_single_sign_on(setup: SsoSetup) -> None:
    """Sign in with, or end, the identity cookie that this browser sent.

    Does nothing without an identity cookie. Otherwise it signs in with a
    token never used before, continues the live workbench session that the
    token opened, or calls st.logout for a token whose session has ended.
    """
    if not st.user.get("is_logged_in"):
        return
    id_token = st.user.tokens.get("id")
    if not id_token:
        logger.warning("identity cookie without an ID token; ending it")
        _end_identity_cookie()
        return
    if st.session_state.get(REJECTED_TOKEN_KEY) == id_token:
        return
    use = sign_in_tokens().lookup(id_token)
    if use is None:
        _sign_in_with_new_token(id_token, setup)
    elif use.session_token is not None and _is_live(use.session_token):
        remember_session(use.session_token)
        st.rerun()
    else:
        sign_in_tokens().detach(id_token)
        _end_identity_cookie()


def _sign_in_with_new_token(id_token: str, setup: SsoSetup) -> None:
    expires_at = _expiry(id_token)
    if expires_at < time.time():
        # Left over from an earlier sign-in that this process does not know,
        # such as one before a restart. Validation would reject it anyway.
        _end_identity_cookie()
        return
    if not sign_in_tokens().claim(id_token, expires_at):
        # Another tab of this browser used the token a moment ago.
        return
    try:
        signed_in = sign_in_with_token(
            id_token, setup.oidc, st.context.ip_address or ""
        )
    except SolvereignError as error:
        # TokenRejected has one generic message for every reason. The reason
        # itself goes to the audit trail and the server log.
        st.session_state[REJECTED_TOKEN_KEY] = id_token
        st.error(str(error))
        return
    sign_in_tokens().attach(id_token, signed_in.session_token)
    remember_session(signed_in.session_token)
    st.rerun()


def _expiry(id_token: str) -> float:
    """Return when the token stops being valid: its `exp` plus the maximum leeway.

    The token is decoded without checking its signature, because the time
    only decides how long it stays recorded. sign_in_with_token validates
    it. A token without a numeric `exp` gets 0, and validation rejects it.
    """
    try:
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return 0.0
    expiry = claims.get("exp")
    if isinstance(expiry, bool) or not isinstance(expiry, int | float):
        return 0.0
    return float(expiry) + MAX_LEEWAY_SECONDS


def _is_live(session_token: str) -> bool:
    try:
        actor_for_session(session_token)
    except SessionExpired:
        return False
    return True


def _end_identity_cookie() -> None:
    """Delete Streamlit's identity cookie through st.logout, and stop this run."""
    st.logout()
    st.info("Signing out of single sign-on…")
    st.stop()
