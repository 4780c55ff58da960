"""What the public booking path (web pages and the JSON API alike) applies to each visitor.

One booking budget per client address covers the web form, the API and reschedules
from the manage page together: a script cannot get three budgets by using three doors.
The key is the limiter's own (kapclinic.extensions), which counts an IPv6 /64 as one.
"""

from flask import current_app, request

from kapclinic.core.clinic import clinic
from kapclinic.core.networks import network_of
from kapclinic.core.tokens import hash_secret
from kapclinic.extensions import limiter
from kapclinic.scheduling.services import PublicVisitor

# Emails a manage page may ask for its questionnaire link, per booking.
QUESTIONNAIRE_LINK_EMAILS = "3 per hour"
BOOKING_SCOPE = "public-booking"


def _booking_budget_spent():
    return (
        "Too many bookings were made from your network in the last hour, so we cannot take another online just now. "
        f"Please try again later, or call us on {clinic().phone}."
    )


public_booking_limit = limiter.shared_limit(
    lambda: current_app.config["BOOKING_RATE_LIMIT"],
    scope=BOOKING_SCOPE,
    methods=["POST"],
    error_message=_booking_budget_spent,
)

# The slots API and the week pages (booking, rescheduling) ask the same engine: one budget.
slots_limit = limiter.shared_limit(
    lambda: current_app.config["SLOTS_RATE_LIMIT"],
    scope="slot-questions",
    error_message="Too many requests for free times from your network. Please wait a minute and try again.",
)

# Keyed by the booking's link (hashed: no secret in the limiter's storage), so one
# patient's button cannot become a way to flood their own inbox.
questionnaire_link_limit = limiter.limit(
    QUESTIONNAIRE_LINK_EMAILS,
    key_func=lambda: hash_secret(request.view_args.get("token", "")),
    methods=["POST"],
    error_message="We have sent this link several times in the last hour. Please check your inbox and spam folder.",
)


# "Send me my links again": per network, and per address asked about (hashed), so neither a
# script nor a stranger can turn it into a way to flood someone's inbox.
links_again_limit = limiter.shared_limit(
    lambda: current_app.config["LINKS_AGAIN_RATE_LIMIT"],
    scope="links-again",
    methods=["POST"],
    error_message="We have sent links several times in the last hour. Please check your inbox and spam folder.",
)
links_again_address_limit = limiter.limit(
    "3 per hour",
    key_func=lambda: hash_secret((request.form.get("email") or "").strip().lower()),
    methods=["POST"],
    error_message="We have sent links to this address several times in the last hour. Please check your inbox "
    "and spam folder.",
)


def visitor():
    """The visitor booking now, as the booking rules see them."""
    return PublicVisitor(client_network=network_of(request.remote_addr))


# "Wrong address?" per network: each correction sends a confirmation to an address typed in.
email_correction_limit = limiter.shared_limit(
    lambda: current_app.config["EMAIL_CORRECTION_RATE_LIMIT"],
    scope="email-correction",
    methods=["POST"],
    error_message="Addresses were corrected several times from your network in the last hour. Please try again "
    "later, or call us.",
)
