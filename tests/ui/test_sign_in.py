"""Sign-in page and router: which pages a user gets before and after signing in."""

from __future__ import annotations

import pytest

from app_pages._session import SESSION_TOKEN_KEY
from tests.ui.conftest import (
    button,
    has_text_input,
    open_app,
    sign_in_as,
    submit_sign_in,
    text_input,
)


def test_signed_out_visitor_sees_only_sign_in(demo_users):
    app = open_app()

    assert [title.value for title in app.title] == ["Sign in to SOLVEREIGN"]
    assert text_input(app, "Tenant").value == "demo"
    assert has_text_input(app, "Authenticator code")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page("app_pages/forecast.py")


def test_wrong_password_shows_generic_error(demo_users):
    app = open_app()
    submit_sign_in(app, "dispatcher", demo_users["dispatcher"].password + "x")
    wrong_password_errors = [error.value for error in app.error]

    submit_sign_in(app, "nobody", "whatever-password")
    unknown_user_errors = [error.value for error in app.error]

    assert len(wrong_password_errors) == 1
    assert wrong_password_errors == unknown_user_errors
    assert SESSION_TOKEN_KEY not in app.session_state
    assert [title.value for title in app.title] == ["Sign in to SOLVEREIGN"]


def test_dispatcher_signs_in_to_forecast_page(demo_users):
    app = sign_in_as(open_app(), demo_users["dispatcher"])

    assert SESSION_TOKEN_KEY in app.session_state
    assert [title.value for title in app.title] == ["Forecast"]
    assert "dispatcher" in app.sidebar.caption[0].value


def test_approver_without_code_gets_generic_error(demo_users):
    approver = demo_users["approver"]
    app = open_app()

    submit_sign_in(app, approver.username, approver.password)
    right_password_errors = [error.value for error in app.error]
    submit_sign_in(app, approver.username, approver.password + "x")
    wrong_password_errors = [error.value for error in app.error]

    assert SESSION_TOKEN_KEY not in app.session_state
    assert len(right_password_errors) == 1
    assert right_password_errors == wrong_password_errors


def test_approver_with_totp_code_signs_in(demo_users):
    app = sign_in_as(open_app(), demo_users["approver"])

    assert SESSION_TOKEN_KEY in app.session_state
    assert [title.value for title in app.title] == ["Forecast"]


def test_sign_out_returns_to_sign_in(demo_users):
    app = sign_in_as(open_app(), demo_users["viewer"])

    button(app.sidebar, "Sign out").click().run()

    assert SESSION_TOKEN_KEY not in app.session_state
    assert [title.value for title in app.title] == ["Sign in to SOLVEREIGN"]
