"""Security page: enrolment with QR code, recovery codes, and ending sessions."""

from __future__ import annotations

from collections.abc import Iterator

import pyotp
import pytest

from app_pages._session import SESSION_TOKEN_KEY
from core.auth import SessionExpired, actor_for_session, hash_password, sign_in
from core.context import unit_of_work
from core.demo import DEMO_TENANT_SLUG
from core.mfa import confirm_enrolment, start_enrolment
from core.session_revocations import MemoryRevocationList, configure_revocation_list
from core.session_settings import IDLE_MINUTES_VARIABLE, configure_session_limits
from db.repositories import tenants, users
from tests.ui.conftest import (
    DemoUser,
    button,
    open_app,
    sign_in_as,
    submit_sign_in,
    text_input,
)

SECURITY_PAGE = "app_pages/security.py"
SIGN_IN_TITLE = ["Sign in to SOLVEREIGN"]
NEW_APPROVER = DemoUser("paula", "paula's long pass phrase", None)


@pytest.fixture(autouse=True)
def fresh_revocation_list() -> Iterator[None]:
    """Give each test an empty revocation list and the limits of its environment.

    User ids repeat across the databases of different tests, so a mark left
    by one test would end the sessions of another.
    """
    configure_revocation_list(MemoryRevocationList())
    configure_session_limits(None)
    yield
    configure_revocation_list(None)
    configure_session_limits(None)


@pytest.fixture
def new_approver(demo_users) -> DemoUser:
    """Add a plan approver without an authenticator to the demo tenant."""
    with unit_of_work() as session:
        demo = tenants.find_by_slug(session, DEMO_TENANT_SLUG)
        users.add(
            session,
            demo.id,
            NEW_APPROVER.username,
            hash_password(NEW_APPROVER.password),
            "PLAN_APPROVER",
        )
    return NEW_APPROVER


@pytest.fixture
def recovery_codes(new_approver) -> tuple[str, ...]:
    """Enrol the new approver through the services; return the recovery codes."""
    signed_in = sign_in(DEMO_TENANT_SLUG, new_approver.username, new_approver.password)
    actor = actor_for_session(signed_in.session_token)
    pending = start_enrolment(actor)
    return confirm_enrolment(actor, pyotp.TOTP(pending.secret).now())


def open_security_page(user: DemoUser):
    app = sign_in_as(open_app(), user)
    return app.switch_page(SECURITY_PAGE).run()


def titles(app) -> list[str]:
    return [title.value for title in app.title]


def shown_uri(app) -> str:
    uris = [code.value for code in app.code if code.value.startswith("otpauth://")]
    assert len(uris) == 1, f"expected one otpauth URI, found {uris}"
    return uris[0]


class TestEnrolmentPage:
    def test_unenrolled_approver_sets_up_authenticator(self, new_approver):
        app = open_security_page(new_approver)
        button(app, "Set up authenticator app").click().run()
        secret = pyotp.parse_uri(shown_uri(app)).secret
        qr_images = app.get("image")

        text_input(app, "Code from the app").set_value(pyotp.TOTP(secret).now())
        button(app, "Confirm").click().run()

        assert len(qr_images) == 1
        assert not app.exception
        shown_codes = [code.value for code in app.code]
        assert len(shown_codes) == 1
        assert len(shown_codes[0].splitlines()) == 10
        assert any("shown only this once" in warning.value for warning in app.warning)

    def test_saved_codes_are_not_shown_again(self, new_approver):
        app = open_security_page(new_approver)
        button(app, "Set up authenticator app").click().run()
        secret = pyotp.parse_uri(shown_uri(app)).secret
        text_input(app, "Code from the app").set_value(pyotp.TOTP(secret).now())
        button(app, "Confirm").click().run()

        button(app, "I have saved the codes").click().run()

        assert [code.value for code in app.code] == []
        assert any("set up" in success.value for success in app.success)
        assert "10 unused recovery codes left." in [
            caption.value for caption in app.caption
        ]

    def test_codes_hidden_from_next_user_of_tab(self, new_approver, demo_users):
        app = open_security_page(new_approver)
        button(app, "Set up authenticator app").click().run()
        secret = pyotp.parse_uri(shown_uri(app)).secret
        text_input(app, "Code from the app").set_value(pyotp.TOTP(secret).now())
        button(app, "Confirm").click().run()
        codes_shown = [code.value for code in app.code]

        button(app.sidebar, "Sign out").click().run()
        sign_in_as(app, demo_users["viewer"])
        app.switch_page(SECURITY_PAGE).run()

        assert len(codes_shown) == 1
        assert [code.value for code in app.code] == []
        assert "viewer" in app.sidebar.caption[0].value

    def test_wrong_code_keeps_enrolment_open(self, new_approver):
        app = open_security_page(new_approver)
        button(app, "Set up authenticator app").click().run()
        secret = pyotp.parse_uri(shown_uri(app)).secret
        right = pyotp.TOTP(secret).now()
        wrong = f"{(int(right) + 500_000) % 1_000_000:06d}"

        text_input(app, "Code from the app").set_value(wrong)
        button(app, "Confirm").click().run()

        assert len(app.error) == 1
        assert "does not match the new authenticator" in app.error[0].value
        assert shown_uri(app).startswith("otpauth://totp/SOLVEREIGN")

    def test_viewer_needs_no_authenticator(self, demo_users):
        app = open_security_page(demo_users["viewer"])

        assert titles(app) == ["Security"]
        assert not [widget for widget in app.button if "authenticator" in widget.label]
        assert not [header for header in app.header if "Users" in header.value]


class TestRecoveryCodeSignIn:
    def test_recovery_code_signs_in_with_approve_page(
        self, new_approver, recovery_codes
    ):
        app = open_app()
        text_input(app, "Authenticator code").set_value(recovery_codes[0])

        submit_sign_in(app, new_approver.username, new_approver.password)
        app.switch_page("app_pages/approve.py").run()

        assert SESSION_TOKEN_KEY in app.session_state
        assert titles(app) == ["Approve"]

    def test_recovery_code_is_refused_the_second_time(
        self, new_approver, recovery_codes
    ):
        first = open_app()
        text_input(first, "Authenticator code").set_value(recovery_codes[1])
        submit_sign_in(first, new_approver.username, new_approver.password)

        second = open_app()
        text_input(second, "Authenticator code").set_value(recovery_codes[1])
        submit_sign_in(second, new_approver.username, new_approver.password)

        assert SESSION_TOKEN_KEY in first.session_state
        assert SESSION_TOKEN_KEY not in second.session_state
        assert len(second.error) == 1
        assert titles(second) == SIGN_IN_TITLE


class TestEndingSessions:
    def test_sign_out_everywhere_ends_other_tab(self, demo_users):
        this_tab = open_security_page(demo_users["viewer"])
        other_tab = sign_in_as(open_app(), demo_users["viewer"])

        button(this_tab, "Sign out everywhere").click().run()
        other_tab.run()

        assert titles(this_tab) == SIGN_IN_TITLE
        assert titles(other_tab) == SIGN_IN_TITLE
        assert SESSION_TOKEN_KEY not in other_tab.session_state

    def test_admin_ends_all_sessions_of_a_user(self, demo_users):
        dispatcher_tab = sign_in_as(open_app(), demo_users["dispatcher"])
        dispatcher_token = dispatcher_tab.session_state[SESSION_TOKEN_KEY]
        dispatcher_id = actor_for_session(dispatcher_token).user_id
        admin = open_security_page(demo_users["admin"])

        end_buttons = [
            widget
            for widget in admin.button
            if widget.key == f"end-sessions-{dispatcher_id}"
        ]
        assert len(end_buttons) == 1, "no End all sessions button for the dispatcher"

        end_buttons[0].click().run()
        dispatcher_tab.run()

        messages = [message.value for message in admin.success]
        assert any("dispatcher: sessions ended" in message for message in messages)
        assert titles(dispatcher_tab) == SIGN_IN_TITLE
        with pytest.raises(SessionExpired):
            actor_for_session(dispatcher_token)
        assert titles(admin) == ["Security"]


def test_invalid_session_setting_stops_app(demo_users, monkeypatch):
    monkeypatch.setenv(IDLE_MINUTES_VARIABLE, "half an hour")
    configure_session_limits(None)

    app = open_app()

    assert len(app.error) == 1
    assert IDLE_MINUTES_VARIABLE in app.error[0].value
    assert "'half an hour'" in app.error[0].value
    assert titles(app) == []
