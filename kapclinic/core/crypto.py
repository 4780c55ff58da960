"""Encryption at rest for patient answers: Fernet (AES-128-CBC + HMAC), keys rotated with MultiFernet.

The newest key encrypts; every listed key decrypts, so an operator adds a new key
in front, runs `flask intake reencrypt` (every column of an `Encrypted` type, found
by `encrypted_columns`), then drops the old one.
"""

import hashlib
import hmac
import json
import os
import secrets
import unicodedata
from datetime import date
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

DEVELOPMENT_KEY_FILE = "data.key"


def key_outside_production(app, file_name, make_key):
    """A key production did not give: a fresh one per test app, or in development one kept in the instance folder.

    The file is created readable by its owner only before the key is written into it.
    """
    if app.config.get("TESTING"):
        return make_key()
    key_file = Path(app.instance_path) / file_name
    if not key_file.exists():
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(make_key())
    return key_file.read_text().strip()


def ensure_data_keys(app):
    """Give development a key kept in the instance folder, and testing a fresh one per app."""
    if not app.config.get("DATA_KEYS"):
        app.config["DATA_KEYS"] = [
            key_outside_production(app, DEVELOPMENT_KEY_FILE, lambda: Fernet.generate_key().decode("ascii"))
        ]


INDEX_KEY_FILE = "index.key"


def ensure_index_key(app):
    """Give development an index key kept in the instance folder, and testing a fresh one per app."""
    if not app.config.get("INDEX_KEY"):
        app.config["INDEX_KEY"] = key_outside_production(app, INDEX_KEY_FILE, lambda: secrets.token_hex(32))


def folded(text):
    """Text as a search compares it: NFKC, case-folded, accents dropped ("José" and "jose" are one)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return unicodedata.normalize("NFKC", "".join(char for char in decomposed if not unicodedata.combining(char)))


def blind_index(purpose, value):
    """A keyed digest of a contact detail, so an encrypted column can still be found by its exact value.

    HMAC-SHA256 under INDEX_KEY (kept out of the database, apart from the data keys, which
    rotate), with the purpose in the message so an email's digest never equals a name's.
    128 bits: a copy of the database cannot test guesses without the key.
    """
    message = f"{purpose}\x1f{folded(value.strip())}".encode()
    return hmac.new(current_app.config["INDEX_KEY"].encode("utf-8"), message, hashlib.sha256).hexdigest()[:32]


def _cipher():
    keys = current_app.config["DATA_KEYS"]
    return MultiFernet([Fernet(key) for key in keys])


class UnreadableData(RuntimeError):
    """Stored ciphertext that none of the configured keys opens.

    Its key was dropped from KAPCLINIC_DATA_KEY before `flask intake reencrypt` moved it.
    """

    def __init__(self):
        super().__init__("stored data cannot be decrypted with the configured KAPCLINIC_DATA_KEY")


def rotate(token):
    """Return a stored token re-encrypted with the newest key; raise UnreadableData if no key opens it."""
    try:
        return _cipher().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise UnreadableData() from None


def seal(text):
    """Encrypt a short text for a URL, so a search that names a patient travels only as an opaque token."""
    return _cipher().encrypt(text.encode("utf-8")).decode("ascii")


def unseal(token):
    """The text `seal` encrypted; ValueError when no configured key opens the token (altered, or the key retired)."""
    try:
        return _cipher().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise ValueError("not a sealed text") from None


class Encrypted(TypeDecorator):
    """A value stored as a Fernet token. Subclasses say how the value becomes bytes and back."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return _cipher().encrypt(self.to_bytes(value)).decode("ascii")

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            plaintext = _cipher().decrypt(value.encode("ascii"))
        except InvalidToken:
            raise UnreadableData() from None
        return self.from_bytes(plaintext)


class EncryptedText(Encrypted):
    """A string stored as a Fernet token (email bodies that name patients and carry their links)."""

    cache_ok = True

    def to_bytes(self, value):
        return value.encode("utf-8")

    def from_bytes(self, plaintext):
        return plaintext.decode("utf-8")


class EncryptedJSON(Encrypted):
    """A JSON value stored as a Fernet token: nothing of it is readable in the database file."""

    cache_ok = True

    def to_bytes(self, value):
        return json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8")

    def from_bytes(self, plaintext):
        return json.loads(plaintext)


class EncryptedDate(Encrypted):
    """A date stored as a Fernet token (a patient's date of birth)."""

    cache_ok = True

    def to_bytes(self, value):
        return value.isoformat().encode("ascii")

    def from_bytes(self, plaintext):
        return date.fromisoformat(plaintext.decode("ascii"))


def encrypted_columns(metadata):
    """Yield (table, its encrypted columns) for every table that has any, found by column type.

    So key rotation covers a column the day it is declared encrypted, with no list to keep.
    """
    for table in metadata.sorted_tables:
        columns = [column for column in table.columns if isinstance(column.type, Encrypted)]
        if columns:
            yield table, columns
