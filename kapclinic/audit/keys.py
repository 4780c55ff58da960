"""The audit chain's key (AUDIT_KEY): kept out of the database, so its owner cannot re-sign a changed trail.

Production requires it from the environment (config.ProductionConfig.check);
development keeps one in the instance folder, as the data key is kept; each test app
makes its own.
"""

import secrets

from flask import current_app

from kapclinic.core.crypto import key_outside_production

DEVELOPMENT_KEY_FILE = "audit.key"


def ensure_audit_key(app):
    """Give development a key kept in the instance folder, and testing a fresh one per app."""
    if not app.config.get("AUDIT_KEY"):
        app.config["AUDIT_KEY"] = key_outside_production(app, DEVELOPMENT_KEY_FILE, lambda: secrets.token_hex(32))


def audit_key():
    """The key as bytes, for kapclinic.audit.chain."""
    return current_app.config["AUDIT_KEY"].encode("utf-8")
