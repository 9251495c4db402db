"""The signed-in session of this browser tab.

st.session_state holds only the server-side session token. The actor, with
its role, is looked up from the token on every run, so a session that expired
or was revoked on the server ends in the browser at the next run.
"""

from __future__ import annotations

import streamlit as st

from core.auth import SessionExpired, actor_for_session
from core.permissions import Actor

SESSION_TOKEN_KEY = "session_token"


def session_token() -> str | None:
    return st.session_state.get(SESSION_TOKEN_KEY)


def remember_session(session_token: str) -> None:
    st.session_state[SESSION_TOKEN_KEY] = session_token


def forget_session() -> None:
    st.session_state.pop(SESSION_TOKEN_KEY, None)


def signed_in_actor() -> Actor | None:
    """Return the actor of this tab's session, or None when signed out.

    An expired or revoked session is forgotten, with a notice to sign in again.
    """
    token = session_token()
    if token is None:
        return None
    try:
        return actor_for_session(token)
    except SessionExpired:
        forget_session()
        st.warning("Your session has ended. Sign in again to continue.")
        return None


def require_actor() -> Actor:
    """Return the signed-in actor, or rerun the app so it shows the sign-in page."""
    actor = signed_in_actor()
    if actor is None:
        st.rerun()
    return actor
