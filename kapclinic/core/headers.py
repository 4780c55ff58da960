"""Headers every response carries: the content security policy, framing, referrer, HSTS and caching."""

from flask import current_app, request

# Pages that hold nothing about a patient; every other response is sent with no-store.
CACHEABLE_ENDPOINTS = frozenset(
    {
        "static",
        "scheduling.index",
        "scheduling.choose_type",
        "scheduling.choose_slot",
        "api.consultation_types",
        "api.clinicians",
        "api.slots",
        "api.availability",
        "api.times",
        "api.openapi",
        "brand.stylesheet",
        "brand.logo",
        "brand.clinician_photo",
    }
)


def security_headers(response):
    """Headers for every response; pages with patient data are never cached."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    # same-origin: a link followed to another site carries no Referer at all, so no other site
    # learns which page of a mental-health clinic (or which private link) it came from. Our own
    # form posts keep theirs, which Flask-WTF's CSRF check demands on HTTPS (WTF_CSRF_SSL_STRICT):
    # with no-referrer every form was refused behind TLS.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if current_app.config["HSTS_SECONDS"]:
        response.headers.setdefault("Strict-Transport-Security", f"max-age={current_app.config['HSTS_SECONDS']}")
    if request.endpoint not in CACHEABLE_ENDPOINTS:
        response.headers["Cache-Control"] = "no-store"
    return response
