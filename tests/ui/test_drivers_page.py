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
        "line 2: updates driver 'D001': skills",
        (
            "line 3: updates driver 'D002': max_weekly_hours; this also changes"
            " the contract kind and the min weekly hours"
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


def number_input(app, label: str):
    matches = [widget for widget in app.number_input if widget.label == label]
    assert matches, f"no number input labelled {label!r}"
    return matches[0]


def error_texts(app) -> list[str]:
    return [message.value for message in app.error]


def test_form_error_keeps_page_and_typed_values(drivers):
    app = open_drivers_page(drivers["admin"])

    text_input(app, "External reference").set_value("D003")
    text_input(app, "Home depot").set_value("Ost")
    app = button(app, "Create driver").click().run()

    assert not app.exception
    assert error_texts(app) == ["Name: is empty; enter the driver's name"]
    assert text_input(app, "External reference").value == "D003"
    assert text_input(app, "Home depot").value == "Ost"
    assert "Retention" in [header.value for header in app.header]
    assert driver_list(app)["external ref"].tolist() == ["D001", "D002"]


def test_form_corrected_after_error_creates_driver(drivers):
    app = open_drivers_page(drivers["admin"])
    text_input(app, "External reference").set_value("D003")
    app = button(app, "Create driver").click().run()

    text_input(app, "Name").set_value("Cem Demir")
    app = button(app, "Create driver").click().run()

    assert not app.error
    assert "Driver D003 created." in [message.value for message in app.success]
    assert text_input(app, "External reference").value == ""
    assert driver_list(app)["external ref"].tolist() == ["D001", "D002", "D003"]


@pytest.mark.parametrize(
    ("label", "hours"),
    [
        ("Max hours a week", -5.0),
        ("Max hours a week", 60.0),
        ("Min hours a week", -1.0),
    ],
)
def test_hours_out_of_range_name_range_and_unit(drivers, label, hours):
    app = open_drivers_page(drivers["admin"])

    text_input(app, "External reference").set_value("D003")
    text_input(app, "Name").set_value("Cem Demir")
    number_input(app, label).set_value(hours)
    app = button(app, "Create driver").click().run()

    assert not app.exception
    assert error_texts(app) == [
        f"{label}: {hours:g} h is outside the allowed range; enter 0 to 55 hours a week"
    ]
    assert number_input(app, label).value == hours


def test_service_errors_use_form_labels(drivers):
    app = open_drivers_page(drivers["admin"])

    text_input(app, "External reference").set_value("D003")
    text_input(app, "Name").set_value("Cem Demir")
    number_input(app, "Max hours a week").set_value(30.0)
    number_input(app, "Min hours a week").set_value(20.0)
    app = button(app, "Create driver").click().run()

    errors = error_texts(app)
    assert len(errors) == 1
    assert errors[0].startswith("Max hours a week: 1800 minutes (30 h) is under")
    assert "max_weekly_minutes" not in errors[0]


def test_invalid_email_error_names_label(drivers):
    app = open_drivers_page(drivers["admin"])

    text_input(app, "External reference").set_value("D003")
    text_input(app, "Name").set_value("Cem Demir")
    text_input(app, "E-mail").set_value("cem.example.com")
    app = button(app, "Create driver").click().run()

    assert error_texts(app) == [
        "E-mail: the e-mail address is not of the form name@example.com"
    ]


def test_edit_form_error_keeps_typed_values(drivers):
    app = open_drivers_page(drivers["admin"])
    app.selectbox[0].select_index(0).run()
    edit_name = [widget for widget in app.text_input if widget.label == "Name"][1]

    edit_name.set_value("")
    app = button(app, "Save changes").click().run()

    assert not app.exception
    assert error_texts(app) == ["Name: is empty; enter the driver's name"]
    names = [widget.value for widget in app.text_input if widget.label == "Name"]
    assert names[1] == ""
    assert "Retention" in [header.value for header in app.header]


def test_import_updates_list_at_once(drivers):
    app = open_drivers_page(drivers["admin"])
    new_driver_file = DRIVER_FILE + "D003,Cem Demir,Ost,40,true,\n"

    app.file_uploader[0].set_value(
        ("drivers.csv", new_driver_file.encode(), "text/csv")
    )
    app = button(app.run(), "Import drivers").click().run()

    assert not app.exception
    assert "3 drivers." in [caption.value for caption in app.caption]
    assert driver_list(app)["external ref"].tolist() == ["D001", "D002", "D003"]
    report = app.dataframe[-1].value
    assert report["line"].tolist() == [1, 2, 3, 4]


def test_counts_use_singular_for_one(drivers):
    app = open_drivers_page(drivers["admin"])
    one_driver_file = "external_ref,display_name,home_depot\nD003,Cem Demir,Ost\n"

    app.file_uploader[0].set_value(
        ("drivers.csv", one_driver_file.encode(), "text/csv")
    )
    app = button(app.run(), "Import drivers").click().run()
    text_input(app, "Search").set_value("D003").run()

    successes = " ".join(message.value for message in app.success)
    assert "2 lines, 0 failed, 0 with warnings." in successes
    assert "1 driver created, 0 updated, 0 unchanged." in successes
    assert "1 driver." in [caption.value for caption in app.caption]


def test_import_caption_names_columns_and_update_rule(drivers):
    app = open_drivers_page(drivers["admin"])

    captions = " ".join(caption.value for caption in app.caption)

    for column in (
        "external_ref",
        "display_name",
        "home_depot",
        "max_weekly_hours",
        "is_active",
        "skills",
    ):
        assert column in captions
    assert "separated by |" in captions
    assert "Required columns: external_ref and display_name" in captions
    assert (
        "A line with the external_ref of an existing driver updates that driver"
        in captions
    )


def test_home_depot_error_names_label(drivers):
    app = open_drivers_page(drivers["admin"])

    text_input(app, "External reference").set_value("D003")
    text_input(app, "Name").set_value("Cem Demir")
    text_input(app, "Home depot").set_value("N" * 101)
    app = button(app, "Create driver").click().run()

    assert error_texts(app) == [
        "Home depot: has 101 characters, more than the 100 allowed"
    ]
