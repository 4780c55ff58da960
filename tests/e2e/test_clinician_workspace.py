"""A clinician in a browser: weekly hours with "Copy to weekdays", and a calendar feed that survives a refresh."""

from kapclinic.accounts.models import Role
from tests.e2e.conftest import DESKTOP, PHONE
from tests.helpers import seed_offering

EMAIL = "dr.hours@clinic.example.org"


def _clinician(live_server, slug):
    offering = seed_offering(live_server.app, slug, zone="America/New_York")
    live_server.add_staff(Role.CLINICIAN, EMAIL, "Dr Hours", clinician_id=offering.clinician_id)
    return f"{live_server.url}/staff/clinicians/{offering.clinician_id}"


def test_a_clinician_copies_mondays_hours_to_the_weekdays_and_the_preview_shows_them(live_server, open_browser):
    own = _clinician(live_server, "hours-consultation")
    clinician = open_browser(label="clinician")
    page = clinician.page
    clinician.sign_in(live_server, EMAIL)
    page.goto(f"{own}/hours")
    clinician.check("weekly-hours")

    page.fill("#d0_r0_start", "10:00")
    page.fill("#d0_r0_end", "12:00")
    page.get_by_role("button", name="Add a range on Monday").click()  # in the page: no round trip
    assert page.locator("#d0_r1_start").is_visible() and page.locator("#d0_r1_start").evaluate(
        "input => input === document.activeElement"
    )
    page.fill("#d0_r1_start", "11:00")
    page.fill("#d0_r1_end", "13:00")
    for weekday in (5, 6):  # the weekend off
        page.get_by_role("button", name=f"Remove {('Saturday', 'Sunday')[weekday - 5]} range 1").click()
    page.get_by_role("button", name="Copy to weekdays").click()
    assert "copied to Tuesday to Friday" in page.locator("[data-hours-status]").inner_text()
    assert page.input_value("#d4_r1_start") == "11:00" and page.locator("#d4_r1_start").is_visible()
    clinician.check("hours-copied")

    page.get_by_role("button", name="Save weekly hours").last.click()
    page.wait_for_load_state("load")
    errors = page.locator(".error-summary").inner_text()
    assert "Monday: 10:00 AM\u201312:00 PM overlaps 11:00 AM\u20131:00 PM" in errors, errors
    assert "Friday: 10:00 AM\u201312:00 PM overlaps" in page.locator("#d4-error").inner_text()
    clinician.check("hours-overlap-named")

    for weekday in range(5):
        page.fill(f"#d{weekday}_r1_start", "14:00")
        page.fill(f"#d{weekday}_r1_end", "16:00")
    page.get_by_role("button", name="Save weekly hours").last.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/availability"), page.url
    preview = page.locator("#preview-heading").locator("..").inner_text()
    clinician.check("availability-preview")
    assert "10:00 AM" in preview and "2:00 PM" in preview
    assert "8:00 AM" not in preview and "12:00 PM" not in preview and "Sat " not in preview and "Sun " not in preview

    phone = open_browser(device=PHONE, label="phone")
    phone.sign_in(live_server, EMAIL)
    phone.page.goto(f"{own}/hours")
    phone.check("weekly-hours-phone")
    phone.page.goto(f"{own}/availability")
    phone.check("availability-phone")
    phone.page.goto(f"{own}/schedule?view=day")
    phone.check("schedule-day-phone")


def test_the_feed_page_survives_a_refresh_and_replacing_asks_first(live_server, open_browser):
    own = _clinician(live_server, "feed-consultation")
    for label, device in (("desktop", DESKTOP), ("phone", PHONE)):
        clinician = open_browser(device=device, label=label)
        clinician.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        page = clinician.page
        clinician.sign_in(live_server, EMAIL)
        page.goto(f"{own}/feed")
        clinician.check("feed-none" if label == "desktop" else "feed-existing")
        if label == "desktop":
            page.get_by_role("button", name="Make a feed address").click()
        else:
            page.get_by_label("I understand").check()
            page.get_by_role("button", name="Replace the address").click()
        page.wait_for_load_state("load")
        address = page.input_value("#feed-url")
        assert "/feeds/" in address and "/feeds/" not in page.url
        assert page.get_by_role("link", name="Open in your calendar app").get_attribute("href").startswith("webcal://")
        page.get_by_role("button", name="Copy the address").click()
        page.wait_for_function("() => document.getElementById('copy-status').textContent === 'Copied'")
        assert page.evaluate("navigator.clipboard.readText()") == address
        clinician.check("feed-address")

        page.reload()  # a GET: nothing is posted again, and the address is the same
        assert page.input_value("#feed-url") == address
        assert page.request.get(address).status == 200
        clinician.check("feed-after-refresh")

        page.get_by_role("button", name="Replace the address").click()  # the box is not ticked
        page.wait_for_load_state("load")
        assert "Tick the box" in page.locator("#confirm-error").inner_text()
        assert "stop updating" in page.locator("main").inner_text()
        assert page.request.get(address).status == 200
        clinician.check("feed-replace-asks")
    assert page.request.get(address).status == 200


def test_a_time_typed_only_in_part_stops_the_save_and_says_where(live_server, open_browser):
    """A time box the browser cannot read posts nothing: saving then would drop that range without a word."""
    own = _clinician(live_server, "half-typed")
    clinician = open_browser(label="clinician")
    page = clinician.page
    clinician.sign_in(live_server, EMAIL)
    page.goto(f"{own}/hours")
    page.fill("#d5_r0_start", "")
    page.locator("#d5_r0_start").click()
    page.keyboard.type("9")  # the hour, without its minutes or AM/PM
    page.get_by_role("button", name="Save weekly hours").last.click()
    status = page.locator("[data-hours-status]")
    assert "not finished (Saturday)" in status.inner_text() and "Nothing was saved" in status.inner_text()
    assert page.url.endswith("/hours") and page.locator("#d5_r0_start").get_attribute("aria-invalid") == "true"
    clinician.check("half-typed-time")
    page.get_by_role("button", name="Copy to weekdays").click()  # Monday is whole: copying still works
    assert "copied to Tuesday to Friday" in status.inner_text()
