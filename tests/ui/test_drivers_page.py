"""Drivers page: the list by role, the admin's forms, import and erasure."""

from __future__ import annotations

import os

import pytest

from core.context import unit_of_work
from core.demo import DEMO_TENANT_SLUG
from core.driver_changes import DriverInput
from core.driver_records import configure_driver_keyring
from core.drivers import create_driver
from core.permissions import Actor, Role
from core.pii import Keyring, PiiKey
from db import cross_tenant
from db.repositories import users
from db.session import set_transaction_tenant
from tests.ui.conftest import button, open_app, sign_in_as, text_input

DRIVER_FILE = (
    "external_ref,display_name,home_depot,max_weekly_hours,is_active,skills\n"
    "D001,Anna Schmidt,Nord,55,true,ADR\n"
    "D002,Ben Öztürk,Süd,30,true,\n"
)


@pytest.fixture
def drivers(demo_users):
    """Configure a test keyring and add two drivers as the demo admin."""
    configure_driver_keyring(
        Keyring.from_keys([PiiKey("page-test", os.urandom(32))], "page-test")
    )
    admin = demo_admin()
    create_driver(admin, DriverInput("D001", "Anna Schmidt", home_depot="Nord"))
    create_driver(admin, DriverInput("D002", "Ben Öztürk", home_depot="Süd"))
    yield demo_users
    configure_driver_keyring(None)


def demo_admin() -> Actor:
    """Build the demo admin's actor without signing in.

    A sign-in here would use up the current TOTP code, which the page test
    then needs for its own sign-in.
    """
    with unit_of_work() as session:
        tenant_id = cross_tenant.tenant_id_for_slug(session, DEMO_TENANT_SLUG)
        set_transaction_tenant(session, tenant_id)
        user = users.find_by_username(session, tenant_id, "admin")
    return Actor(user.id, tenant_id, Role.TENANT_ADMIN, "admin", mfa_verified=True)


def open_drivers_page(user):
    app = sign_in_as(open_app(), user)
    return app.switch_page("app_pages/drivers.py").run()


def driver_list(app):
    return app.dataframe[0].value


def test_viewer_sees_list_without_names_or_forms(drivers):
    app = open_drivers_page(drivers["viewer"])

    assert not app.exception
    frame = driver_list(app)
    assert frame["external ref"].tolist() == ["D001", "D002"]
    assert "name" not in frame.columns
    assert not [tab for tab in app.tabs if tab.label == "New driver"]
    assert not [b for b in app.button if "personal data" in b.label]


def test_dispatcher_sees_names(drivers):
    app = open_drivers_page(drivers["dispatcher"])

    frame = driver_list(app)
    assert frame["name"].tolist() == ["Anna Schmidt", "Ben Öztürk"]
    assert not [tab for tab in app.tabs if tab.label == "New driver"]


def test_search_filters_the_list(drivers):
    app = open_drivers_page(drivers["dispatcher"])

    text_input(app, "Search").set_value("öztürk").run()

    assert driver_list(app)["external ref"].tolist() == ["D002"]


def test_admin_creates_driver_through_form(drivers):
    app = open_drivers_page(drivers["admin"])

    text_input(app, "External reference").set_value("D003")
    text_input(app, "Name").set_value("Cem Demir")
    text_input(app, "Home depot").set_value("Ost")
    app = button(app, "Create driver").click().run()

    assert not app.exception
    assert not app.error
    assert "Driver D003 created." in [message.value for message in app.success]
    frame = driver_list(app)
    assert frame["external ref"].tolist() == ["D001", "D002", "D003"]
    assert frame["name"].tolist()[2] == "Cem Demir"


def test_admin_form_error_names_the_field(drivers):
    app = open_drivers_page(drivers["admin"])

    text_input(app, "External reference").set_value("D001")
    text_input(app, "Name").set_value("Someone")
    app = button(app, "Create driver").click().run()

    assert "another driver has this external reference" in app.error[0].value


def test_admin_import_shows_report(drivers):
    app = open_drivers_page(drivers["admin"])

    app.file_uploader[0].set_value(("drivers.csv", DRIVER_FILE.encode(), "text/csv"))
    app = button(app.run(), "Import drivers").click().run()

    assert not app.exception
    report = app.dataframe[-1].value
    assert report["line"].tolist() == [1, 2, 3]
    assert report["status"].tolist() == ["pass", "pass", "pass"]
    assert report["reason"].tolist()[1:] == [
        "line 2: updates driver 'D001': qualifications",
        (
            "line 3: updates driver 'D002': contract_kind, max_weekly_minutes,"
            " min_weekly_minutes"
        ),
    ]
    successes = [message.value for message in app.success]
    assert "0 drivers created, 2 updated, 0 unchanged" in " ".join(successes)


def test_failing_import_line_is_reported(drivers):
    app = open_drivers_page(drivers["admin"])
    bad_file = DRIVER_FILE + "D003,,Ost,40,true,\n"

    app.file_uploader[0].set_value(("drivers.csv", bad_file.encode(), "text/csv"))
    app = button(app.run(), "Import drivers").click().run()

    report = app.dataframe[-1].value
    failures = report[report["status"] == "failure"]
    assert failures["line"].tolist() == [4]
    assert "nothing changed" in app.error[0].value


def test_admin_erases_driver_after_confirming(drivers):
    app = open_drivers_page(drivers["admin"])
    app.selectbox[0].select_index(1).run()

    erase = button(app, "Erase personal data")
    assert erase.disabled
    app.checkbox[-1].check().run()
    app = button(app, "Erase personal data").click().run()

    assert not app.exception
    assert any("erased; now named erased-" in m.value for m in app.success)
    assert driver_list(app)["external ref"].tolist() == ["D001"]


def test_admin_prepares_export_with_personal_data(drivers):
    app = open_drivers_page(drivers["admin"])

    app = button(app, "Prepare driver list with personal data").click().run()

    assert not app.exception
    assert not app.error
    downloads = app.get("download_button")
    assert len(downloads) == 1
    assert downloads[0].proto.label.startswith("Download drivers-")


def test_dispatcher_reads_one_driver(drivers):
    app = open_drivers_page(drivers["dispatcher"])

    app.selectbox[0].select_index(0).run()

    assert not app.exception
    texts = [element.value for element in app.markdown]
    assert "Name: Anna Schmidt" in texts
    assert not [b for b in app.button if b.label == "Erase personal data"]
