"""An admin onboards a clinician in a browser; the clinician sets a password and her hours; a patient books her.

Every page on the way is checked with axe-core and screenshotted on a desktop and on a phone (390x844).
"""

import re
import struct
import zlib

from kapclinic.accounts.models import Role
from tests.e2e.browser_steps import fill_details
from tests.e2e.conftest import PHONE
from tests.helpers import seed_offering

ADMIN_EMAIL = "admin@clinic.example.org"
NEW_EMAIL = "rosa.marquez@clinic.example.org"
NEW_PASSWORD = "a passphrase of my own"


def _portrait_png(size=96):
    """A small PNG made here (no imaging library needed): a warm disc on a teal ground, like a portrait's shape."""
    rows = []
    for y in range(size):
        row = bytearray([0])  # filter: none
        for x in range(size):
            inside = (x - size / 2) ** 2 + (y - size * 0.45) ** 2 < (size * 0.28) ** 2
            shoulders = y > size * 0.72 and abs(x - size / 2) < size * 0.38
            row += bytes((224, 172, 140) if inside else (70, 90, 160) if shoulders else (46, 125, 122))
        rows.append(bytes(row))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def _welcome_link(mailbox, server):
    message = next(message for message in reversed(mailbox.messages) if message["To"] == NEW_EMAIL)
    return re.search(rf"{re.escape(server.url)}/staff/reset/\S+", message.get_body(("plain",)).get_content()).group(0)


def _sign_in(visit, server, email, password):
    page = visit.page
    page.goto(server.url + "/staff/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert not page.url.startswith(server.url + "/staff/login"), page.inner_text("main")[:500]


def test_an_admin_onboards_a_clinician_who_sets_a_password_and_a_patient_books_them(
    live_server, open_browser, mailbox, tmp_path
):
    seed_offering(live_server.app, "first-consultation", zone="America/New_York")
    live_server.add_staff(Role.ADMIN, ADMIN_EMAIL, "Ada Admin")
    photo = tmp_path / "rosa.png"
    photo.write_bytes(_portrait_png())

    admin = open_browser(label="admin")
    page = admin.page
    admin.sign_in(live_server, ADMIN_EMAIL)
    page.goto(live_server.url + "/staff/admin/users/new")
    admin.check("add-a-staff-user")
    page.get_by_label("Full name").fill("Dr. Rosa Marquez")
    page.get_by_label("Email").fill(NEW_EMAIL)
    page.get_by_label("Role").select_option("clinician")
    page.get_by_label("Credentials").fill("MD")
    page.get_by_label("Bio").fill("Psychiatrist. I work with adults living with depression and PTSD.")
    page.get_by_label("Find the time zone by city or name").fill("Chicago")  # timezone.js narrows the list
    page.get_by_label("Time zone of their working hours").select_option("America/Chicago")
    page.get_by_label("First-Consultation").check()
    page.get_by_label("Photo").set_input_files(str(photo))
    admin.check("add-a-staff-user-filled")
    with page.expect_navigation():
        page.get_by_role("button", name="Add and send the link").click()
    assert "can now choose a password" in page.inner_text("main"), page.inner_text("main")[:800]
    admin.check("staff-users")

    page.get_by_role("link", name="Edit Dr. Rosa Marquez").click()
    admin.check("edit-staff-user")
    assert page.get_by_role("img", name="The current photo of Dr. Rosa Marquez").is_visible()

    clinician = open_browser(label="clinician")
    clinician.page.goto(_welcome_link(mailbox, live_server))
    clinician.page.locator("#password").fill(NEW_PASSWORD)
    clinician.page.locator("#confirm").fill(NEW_PASSWORD)
    with clinician.page.expect_navigation():
        clinician.page.get_by_role("button").last.click()
    _sign_in(clinician, live_server, NEW_EMAIL, NEW_PASSWORD)
    # Her hours: Monday typed once and copied to the weekdays, and a Saturday morning.
    hours = clinician.page
    hours.get_by_role("navigation", name="Staff sections").get_by_role("link", name="My hours").click()
    hours.get_by_role("link", name="Edit weekly hours").click()
    clinician.check("new-clinicians-hours")
    hours.fill("#d0_r0_start", "09:00")
    hours.fill("#d0_r0_end", "17:00")
    hours.get_by_role("button", name="Copy to weekdays").click()
    hours.fill("#d5_r0_start", "10:00")
    hours.fill("#d5_r0_end", "14:00")
    with hours.expect_navigation():
        hours.get_by_role("button", name="Save weekly hours").last.click()
    preview = hours.locator("#preview-heading").locator("..").inner_text()
    clinician.check("new-clinicians-preview")
    assert "9:00 AM" in preview and "Sun " not in preview, preview[:500]

    patient = open_browser(device=PHONE, label="patient-phone")
    patient.page.goto(live_server.url + "/book/first-consultation")
    card_photo = patient.page.get_by_role("img", name="Photo of Dr. Rosa Marquez")
    assert card_photo.is_visible()
    assert patient.page.evaluate("(image) => image.naturalWidth", card_photo.element_handle()) == 96
    patient.check("choose-a-time-with-photo")
    patient.page.get_by_role("link", name=re.compile("Dr. Rosa Marquez")).click()
    patient.page.wait_for_load_state("load")
    if not patient.page.locator("a.slot").count():  # the month's last free day has passed: the next month's first
        patient.page.get_by_role("link", name=re.compile("^Next available")).click()
    patient.page.locator("a.slot").first.wait_for()
    patient.check("rosa-chosen")
    patient.page.locator("a.slot").first.click()
    patient.page.locator("#name").wait_for()
    fill_details(patient.page, "Pat Doe", "pat@example.com")
    patient.page.check("#contact_consent")
    with patient.page.expect_navigation():
        patient.page.get_by_role("button", name="Book this time").click()
    booked = patient.page.inner_text("main")
    assert "Your consultation is booked" in booked and "Rosa Marquez" in booked, booked[:500]
    patient.check("booked")

    # On a phone, the admin deactivates her: asked first, then her upcoming consultation to hand on.
    phone_admin = open_browser(device=PHONE, label="admin-phone")
    phone_admin.sign_in(live_server, ADMIN_EMAIL)
    phone_admin.page.goto(live_server.url + "/staff/admin/users/new")
    phone_admin.check("add-a-staff-user")
    phone_admin.page.goto(live_server.url + "/staff/admin/users")
    phone_admin.check("staff-users")
    phone_admin.page.get_by_role("link", name="Edit Dr. Rosa Marquez").click()
    phone_admin.check("edit-staff-user")
    phone_admin.page.get_by_role("link", name="Deactivate Dr. Rosa Marquez…").click()
    phone_admin.check("deactivate-confirm")
    assert "Their 1 upcoming consultation stays booked" in phone_admin.page.inner_text("main")
    with phone_admin.page.expect_navigation():
        phone_admin.page.get_by_role("button", name="Deactivate Dr. Rosa Marquez").click()
    phone_admin.check("upcoming-consultations")
    with phone_admin.page.expect_navigation():
        phone_admin.page.get_by_role("link", name="Pat Doe").click()
    assert "/staff/intakes/" in phone_admin.page.url  # the front desk's record, to reassign, move or cancel

    patient.page.goto(live_server.url + "/book/first-consultation")
    assert patient.page.get_by_role("img", name="Photo of Dr. Rosa Marquez").count() == 0
