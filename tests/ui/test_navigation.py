"""Navigation: each role gets the sections its permissions allow."""

from __future__ import annotations

import pytest

from tests.ui.conftest import open_app, sign_in_as

NOT_IN_NAVIGATION = "Could not find a navigation page"


def test_viewer_does_not_get_approve_page(demo_users):
    app = sign_in_as(open_app(), demo_users["viewer"])

    with pytest.raises(ValueError, match=NOT_IN_NAVIGATION):
        app.switch_page("app_pages/approve.py")
    with pytest.raises(ValueError, match=NOT_IN_NAVIGATION):
        app.switch_page("app_pages/audit.py")


def test_viewer_gets_planning_pages(demo_users):
    app = sign_in_as(open_app(), demo_users["viewer"])

    app.switch_page("app_pages/plan.py").run()

    assert [title.value for title in app.title] == ["Plan"]
    assert not [button for button in app.button if button.label == "Start solve"]


def test_dispatcher_does_not_get_approve_page(demo_users):
    app = sign_in_as(open_app(), demo_users["dispatcher"])

    with pytest.raises(ValueError, match=NOT_IN_NAVIGATION):
        app.switch_page("app_pages/approve.py")


def test_approver_gets_approve_page(demo_users):
    app = sign_in_as(open_app(), demo_users["approver"])

    app.switch_page("app_pages/approve.py").run()

    assert [title.value for title in app.title] == ["Approve"]
    with pytest.raises(ValueError, match=NOT_IN_NAVIGATION):
        app.switch_page("app_pages/audit.py")


def test_admin_gets_audit_page(demo_users):
    app = sign_in_as(open_app(), demo_users["admin"])

    app.switch_page("app_pages/audit.py").run()

    assert [title.value for title in app.title] == ["Audit"]
    assert not app.exception
