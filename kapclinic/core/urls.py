"""Absolute links for emails, built from PUBLIC_BASE_URL rather than the request's Host header.

Works inside and outside requests (CLI commands queue emails too).
"""

from urllib.parse import urlsplit

from flask import current_app


def public_url(endpoint, **values):
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    adapter = current_app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    return adapter.build(endpoint, values, force_external=True)
