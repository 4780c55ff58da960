"""The clinic's brand on patient pages: the admin sets a logo, an accent colour and a type's fee."""

import io
import re

import pytest

from kapclinic.accounts.models import Role
from tests.helpers import TYPE_FORM, sign_in

pytestmark = pytest.mark.both_databases

SETTINGS = {
    "name": "Harbour Mind Clinic",
    "address": "1 Quay Road",
    "phone": "+1 212 555 0199",
    "crisis_line": "988",
    "emergency_number": "911",
    "timezone": "America/Chicago",
    "cancellation_window_hours": "24",
}
# The smallest PNG there is: one transparent pixel.
PIXEL_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8ffff3f0005fe02fe0dc7e2d40000000049454e44ae426082"
)


@pytest.fixture
def admin_client(client, create_staff):
    admin = create_staff(Role.ADMIN, email="admin@clinic.example.org")
    sign_in(client, admin.email)
    return client


def _save(client, logo=None, **changes):
    data = {**SETTINGS, **changes}
    if logo is not None:
        data["logo"] = (io.BytesIO(logo[0]), logo[1])
    return client.post("/staff/admin/settings", data=data, content_type="multipart/form-data")


def test_the_logo_and_accent_colour_reach_every_patient_page(admin_client, client):
    assert _save(admin_client, accent_colour="#2d5a27", logo=(PIXEL_PNG, "logo.png")).status_code == 302
    landing = client.get("/").text
    stylesheet = re.search(r'<link rel="stylesheet" href="(/brand\.css\?v=\d+)">', landing).group(1)
    logo = re.search(r'<img src="(/brand/logo\?v=\d+)" alt="" height="40">', landing).group(1)
    css = client.get(stylesheet)
    assert css.mimetype == "text/css" and css.text == ":root { --accent: #2d5a27; }\n"
    assert css.headers["Cache-Control"] == "public, max-age=86400"  # its address changes with each save
    image = client.get(logo)
    assert image.data == PIXEL_PNG and image.mimetype == "image/png"
    assert "nosniff" in image.headers["X-Content-Type-Options"]
    # Saving again without a file keeps the logo; the addresses change, so browsers fetch anew.
    assert _save(admin_client, accent_colour="#2d5a27").status_code == 302
    assert client.get("/brand/logo").data == PIXEL_PNG
    # Removed: no logo on the pages, and its address answers 404.
    assert _save(admin_client, accent_colour="#2d5a27", remove_logo="y").status_code == 302
    assert "/brand/logo" not in client.get("/").text
    assert client.get("/brand/logo").status_code == 404


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"accent_colour": "#f0a500"}, "too light for white text on buttons: its contrast is 2.1:1"),
        ({"accent_colour": "orange"}, "Choose a colour, written like #1f5f8b."),
        ({"logo": (b"<svg onload='alert(1)'/>", "logo.svg")}, "Please use a PNG, JPEG or WebP image."),
        ({"logo": (PIXEL_PNG + b"\0" * 110_000, "big.png")}, "Please use an image under 100 KB."),
    ],
)
def test_a_colour_people_cannot_read_or_a_file_that_is_not_a_small_image_is_refused(
    admin_client, client, changes, message
):
    fields = {name: value for name, value in changes.items() if name != "logo"}
    response = _save(admin_client, logo=changes.get("logo"), **fields)
    assert response.status_code == 422
    assert message in response.text
    assert "Harbour Mind Clinic" not in client.get("/").text  # nothing saved
    assert client.get("/brand/logo").status_code == 404


def test_a_types_fee_shows_on_its_card_and_booking_page_in_the_clinics_currency(admin_client, client):
    assert admin_client.post("/staff/admin/types/new", data={**TYPE_FORM, "fee_cents": "$1,250"}).status_code == 302
    assert "30 minutes · Phone call · $1,250" in client.get("/").text
    assert "· $1,250</p>" in client.get(f"/book/{TYPE_FORM['slug']}").text
    edit = admin_client.get("/staff/admin/types").text
    edit_path = re.search(r'href="(/staff/admin/types/\d+)"', edit).group(1)
    assert 'value="1250.00"' in admin_client.get(edit_path).text
    refused = admin_client.post(edit_path, data={**TYPE_FORM, "fee_cents": "a lot"})
    assert refused.status_code == 422 and "Write the fee as a number" in refused.text
    assert admin_client.post(edit_path, data={**TYPE_FORM, "fee_cents": ""}).status_code == 302
    assert "$" not in client.get("/").text.split("<main", 1)[1]  # no fee, none shown
