"""Encryption at rest for patient answers: Fernet (AES-128-CBC + HMAC), keys rotated with MultiFernet.

The newest key encrypts; every listed key decrypts, so an operator adds a new key
in front, runs `flask intake reencrypt`, then drops the old one.
"""

import json
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

DEVELOPMENT_KEY_FILE = "data.key"


def ensure_data_keys(app):
    """Give development a key kept in the instance folder, and testing a fresh one per app."""
    if app.config.get("DATA_KEYS"):
        return
    if app.config.get("TESTING"):
        app.config["DATA_KEYS"] = [Fernet.generate_key().decode("ascii")]
        return
    key_file = Path(app.instance_path) / DEVELOPMENT_KEY_FILE
    if not key_file.exists():
        key_file.write_bytes(Fernet.generate_key())
        key_file.chmod(0o600)
    app.config["DATA_KEYS"] = [key_file.read_text().strip()]


def _cipher():
    keys = current_app.config["DATA_KEYS"]
    return MultiFernet([Fernet(key) for key in keys])


class EncryptedText(TypeDecorator):
    """A string stored as a Fernet token (email bodies that name patients and carry their links)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return _cipher().encrypt(value.encode("utf-8")).decode("ascii")

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            return _cipher().decrypt(value.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise RuntimeError("stored text cannot be decrypted with the configured KAPCLINIC_DATA_KEY") from None


class EncryptedJSON(TypeDecorator):
    """A JSON value stored as a Fernet token: nothing of it is readable in the database file."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        plaintext = json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")
        return _cipher().encrypt(plaintext).decode("ascii")

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            return json.loads(_cipher().decrypt(value.encode("ascii")))
        except InvalidToken:
            raise RuntimeError("intake data cannot be decrypted with the configured KAPCLINIC_DATA_KEY") from None
