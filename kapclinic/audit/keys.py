"""The audit chain's key (AUDIT_KEY): kept out of the database, so its owner cannot re-sign a changed trail.

Production requires it from the environment (config.ProductionConfig.check);
development keeps one in the instance folder, as the data key is kept; each test app
makes its own.
"""

import os
import secrets
from pathlib import Path

from flask import current_app

DEVELOPMENT_KEY_FILE = "audit.key"


def ensure_audit_key(app):
    """Give development a key kept in the instance folder, and testing a fresh one per app."""
    if app.config.get("AUDIT_KEY"):
        return
    if app.config.get("TESTING"):
        app.config["AUDIT_KEY"] = secrets.token_hex(32)
        return
    key_file = Path(app.instance_path) / DEVELOPMENT_KEY_FILE
    if not key_file.exists():
        # Created readable by its owner only, before the key is written into it.
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    app.config["AUDIT_KEY"] = key_file.read_text().strip()


def audit_key():
    """The key as bytes, for kapclinic.audit.chain."""
    return current_app.config["AUDIT_KEY"].encode("utf-8")
