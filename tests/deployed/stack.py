"""kapclinic as production runs it, here: nginx (TLS) -> gunicorn -> PostgreSQL and Redis, `flask worker` -> SMTP.

Why this exists: the rest of the suite talks plain HTTP to one process, so it cannot see
what HTTPS, a reverse proxy and several processes change. Every web form was once refused
behind TLS (Flask-WTF's strict CSRF check wants a same-origin Referer on HTTPS, and every
page sent `Referrer-Policy: no-referrer`) while all tests passed. Here the browser speaks
HTTPS to nginx, nginx forwards to gunicorn in the production config, emails go through the
outbox to `flask worker` and a real SMTP server, and the browser journeys in
`tests/deployed/` run through all of it.

One piece serves the tests (a module fixture) and people (`make stack`, which runs
`python -m tests.deployed.stack`: it prints the address, the logins and where the emails go,
and stops everything on Ctrl-C). Each run has its own ports, PostgreSQL database (dropped
at the end), Redis server (in memory, on a free port), secret key, data key and throwaway
self-signed certificate, so stacks never meet: two pytest-xdist workers may each start one
(`--dist loadgroup` would keep the tests on one worker, but pytest 9.2's node ids broke it:
pytest-xdist issue #1386), and `make stack` can run beside a test run.

nginx reaches gunicorn from its own loopback address (PROXY_ADDRESS, not the browser's
127.0.0.1), so a test can tell whether the app sees the browser's address or the proxy's.
"""

import contextlib
import grp
import ipaddress
import os
import pwd
import secrets
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import create_engine, text

from kapclinic import create_app
from kapclinic.accounts import services as accounts
from kapclinic.accounts.models import Role
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.scheduling.models import Clinician
from tests.helpers import POSTGRES_URL, STAFF_PASSWORD, Mailbox, free_port, running_smtp, seed_offering

NGINX = Path("/usr/sbin/nginx")
REDIS_SERVER = Path("/usr/bin/redis-server")
PROJECT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The browser connects from 127.0.0.1; nginx connects to gunicorn from here.
CLIENT_ADDRESS = "127.0.0.1"
PROXY_ADDRESS = "127.0.0.2"

CONSULTATION_SLUG = "first-consultation"
CONSULTATION_NAME = CONSULTATION_SLUG.title()  # as seed_offering names it
FRONT_DESK_EMAIL = "desk@clinic.example.org"
CLINICIAN_EMAIL = "dr@clinic.example.org"
STAFF = (
    # email, name, role; the clinician acts for the seeded consultation's clinician
    ("admin@clinic.example.org", "Ada Admin", Role.ADMIN),
    (FRONT_DESK_EMAIL, "Dee Desk", Role.FRONT_DESK),
    (CLINICIAN_EMAIL, "Dr Lee", Role.CLINICIAN),
)

NGINX_CONF = """\
{user}
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    # Off, as gunicorn's: paths carry patients' private link tokens.
    access_log off;
    # The temp folders are made by the root master; bodies and answers stay in memory (the app
    # takes at most 256 KiB), so workers running as another user never need to write files.
    client_body_temp_path {folder}/nginx-temp/body;
    proxy_temp_path {folder}/nginx-temp/proxy;
    fastcgi_temp_path {folder}/nginx-temp/fastcgi;
    uwsgi_temp_path {folder}/nginx-temp/uwsgi;
    scgi_temp_path {folder}/nginx-temp/scgi;
    client_body_buffer_size 512k;
    # The app's own MAX_CONTENT_LENGTH: larger bodies get nginx's 413 and never reach a temp file.
    client_max_body_size 256k;
    proxy_max_temp_file_size 0;
    server {{
        listen {client_address}:{port} ssl;
        ssl_certificate {folder}/tls.crt;
        ssl_certificate_key {folder}/tls.key;
        location / {{
            proxy_pass http://127.0.0.1:{app_port};
            proxy_bind {proxy_address};
            # $http_host keeps the port: Flask-WTF compares the Referer with https://<Host>/ on HTTPS.
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            # nginx passes on headers it does not set: a browser's own must not reach the app.
            proxy_set_header X-Forwarded-Host "";
            proxy_set_header Forwarded "";
        }}
    }}
}}
"""


class StackFailed(RuntimeError):
    """A part of the stack did not start; the message carries the end of every log."""


class SavingMailbox(Mailbox):
    """The test suite's loopback mailbox, which also keeps every message as an .eml file to open by hand."""

    def __init__(self, folder):
        super().__init__()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        if answer.startswith("250"):
            (self.folder / f"{len(self.messages):03d}.eml").write_bytes(envelope.content)
        return answer


@dataclass
class Stack:
    """A running stack: its public HTTPS address, the mail it sent, and an app on its database to read it."""

    url: str
    folder: Path
    mailbox: SavingMailbox
    app: object  # the testing config on the stack's database and data key, for seeding and reading rows
    processes: dict = field(default_factory=dict)

    def email_to(self, address, subject_containing, seconds=30):
        """The message to `address` whose subject contains the words, once the worker has sent it."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for message in self.mailbox.messages:
                if message["To"] == address and subject_containing.lower() in message["Subject"].lower():
                    return message
            self.assert_running()
            time.sleep(0.2)
        raise AssertionError(
            f"no email to {address} about {subject_containing!r} within {seconds}s; received "
            f"{[(message['To'], message['Subject']) for message in self.mailbox.messages]}\n{self.log_tails()}"
        )

    def assert_running(self):
        stopped = {name: process.returncode for name, process in self.processes.items() if process.poll() is not None}
        if stopped:
            raise StackFailed(f"stopped: {stopped}\n{self.log_tails()}")

    def log_tails(self, characters=3000):
        return "\n".join(
            f"--- {path.name} ---\n{path.read_text(errors='replace')[-characters:]}"
            for path in sorted(self.folder.glob("*.log"))
        )


def write_self_signed_certificate(folder, days=2):
    """A throwaway certificate for 127.0.0.1 and localhost (its own issuer); return its path."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kapclinic throwaway test stack")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(CLIENT_ADDRESS)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path = folder / "tls.key"
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    certificate_path = folder / "tls.crt"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return certificate_path


def _nginx_user_line():
    # Only a root master switches its workers to another user (and warns about the directive otherwise).
    if os.geteuid() != 0:
        return ""
    nobody = pwd.getpwnam("nobody")
    return f"user {nobody.pw_name} {grp.getgrgid(nobody.pw_gid).gr_name};"


def _start(folder, name, command, env=None):
    """Start one process in its own session (Ctrl-C at the terminal is ours to pass on), stderr to <name>.log."""
    with open(folder / f"{name}.log", "wb") as log:
        return subprocess.Popen(
            command,
            cwd=PROJECT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(processes, seconds=20):
    """Stop the processes last-started first (nginx before the app, the app before Redis): SIGTERM, then kill.

    On SIGTERM gunicorn finishes the requests it holds and the worker its round.
    """
    for process in reversed(processes):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(stack, certificate, seconds=60):
    """Wait until /readyz answers 200 over HTTPS through nginx (database up and migrated, app serving)."""
    context = ssl.create_default_context(cafile=str(certificate))
    deadline = time.monotonic() + seconds
    last = "no answer"
    while time.monotonic() < deadline:
        stack.assert_running()
        try:
            with urllib.request.urlopen(stack.url + "/readyz", context=context, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:
            last = f"{error.code} {error.read()[:200]!r}"
        except (OSError, ssl.SSLError) as error:
            last = repr(error)
        time.sleep(0.2)
    raise StackFailed(f"{stack.url}/readyz never answered 200 (last: {last})\n{stack.log_tails()}")


def seed(app):
    """A consultation type with one clinician, and a staff login for each role (password STAFF_PASSWORD)."""
    # 26 hours' notice: every time booked can still be cancelled online (CANCELLATION_WINDOW_HOURS 24).
    offering = seed_offering(app, CONSULTATION_SLUG, zone="America/New_York", min_notice_minutes=26 * 60)
    with app.app_context():
        clinician = db.session.get(Clinician, offering.clinician_id)
        for email, name, role in STAFF:
            accounts.create_user(
                email, name, role, STAFF_PASSWORD, now_utc(), clinician if role is Role.CLINICIAN else None
            )
        db.session.commit()


@contextlib.contextmanager
def _database(admin_url):
    """A new, empty PostgreSQL database for one run; dropped afterwards."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"kapclinic_stack_{uuid.uuid4().hex[:12]}"
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@contextlib.contextmanager
def _smtp_server(folder):
    mailbox = SavingMailbox(folder)
    with running_smtp(mailbox) as controller:
        yield controller.port, mailbox


def production_environment(database_url, redis_url, public_url, mail_port, app_port):
    """Every app process's environment: the production config with fresh secrets, as README's 'Running it for real'."""
    return {
        **os.environ,
        "KAPCLINIC_CONFIG": "production",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "KAPCLINIC_DATA_KEY": Fernet.generate_key().decode(),
        "AUDIT_KEY": secrets.token_hex(32),
        "INDEX_KEY": secrets.token_hex(32),
        "PUBLIC_BASE_URL": public_url,
        "REDIS_URL": redis_url,
        "OUTBOX_SEND_AFTER_REQUEST": "false",
        "PROXY_FIX_X_FOR": "1",
        "FORWARDED_ALLOW_IPS": PROXY_ADDRESS,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(mail_port),
        "CLINIC_TIMEZONE": "America/New_York",
        "HOST": "127.0.0.1",
        "PORT": str(app_port),
        "WEB_CONCURRENCY": "2",
    }


@contextlib.contextmanager
def running_stack(folder, postgres_admin_url=POSTGRES_URL):
    """Start the whole stack with its logs, certificate and mail in `folder`; yield a Stack; stop it all."""
    folder.mkdir(parents=True, exist_ok=True)
    port, app_port, redis_port = free_port(), free_port(), free_port()
    url = f"https://{CLIENT_ADDRESS}:{port}"
    with _database(postgres_admin_url) as database_url, _smtp_server(folder / "mail") as (mail_port, mailbox):
        env = production_environment(database_url, f"redis://127.0.0.1:{redis_port}/0", url, mail_port, app_port)
        migration = subprocess.run(
            [str(BIN / "flask"), "--app", "kapclinic", "db", "upgrade"],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
        )
        if migration.returncode != 0:
            raise StackFailed(f"flask db upgrade failed:\n{migration.stdout[-3000:]}{migration.stderr[-3000:]}")
        # The same keys as the app processes, so what this app writes and reads matches theirs.
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": database_url,
                "DATA_KEYS": [env["KAPCLINIC_DATA_KEY"]],
                "AUDIT_KEY": env["AUDIT_KEY"],
                "INDEX_KEY": env["INDEX_KEY"],
            }
        )
        stack = Stack(url, folder, mailbox, app)
        try:
            seed(app)
            certificate = write_self_signed_certificate(folder)
            (folder / "nginx-temp").mkdir(exist_ok=True)
            (folder / "nginx.conf").write_text(
                NGINX_CONF.format(
                    user=_nginx_user_line(),
                    folder=folder,
                    client_address=CLIENT_ADDRESS,
                    port=port,
                    app_port=app_port,
                    proxy_address=PROXY_ADDRESS,
                )
            )
            stack.processes["redis"] = _start(
                folder,
                "redis",
                [
                    str(REDIS_SERVER),
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(redis_port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(folder),
                ],
            )
            stack.processes["gunicorn"] = _start(
                folder, "gunicorn", [str(BIN / "gunicorn"), "-c", "python:kapclinic.ops.gunicorn_conf", "wsgi:app"], env
            )
            # Rounds every half second (production: WORKER_INTERVAL_SECONDS, 1, when idle), so no test waits long
            # for its email.
            stack.processes["worker"] = _start(
                folder, "worker", [str(BIN / "flask"), "--app", "kapclinic", "worker", "--interval", "0.5"], env
            )
            stack.processes["nginx"] = _start(
                folder,
                "nginx",
                [
                    str(NGINX),
                    "-p",
                    str(folder),
                    "-c",
                    str(folder / "nginx.conf"),
                    "-e",
                    str(folder / "nginx-error.log"),
                ],
            )
            _wait_ready(stack, certificate)
            yield stack
        finally:
            _stop(list(stack.processes.values()))
            with app.app_context():
                db.engine.dispose()


def main():
    """`make stack`: run the stack until Ctrl-C, with the address, logins and mail folder printed."""
    # Ctrl-C, and `kill`, stop it cleanly (also when started in the background, where SIGINT comes ignored).
    for name in (signal.SIGINT, signal.SIGTERM):
        signal.signal(name, signal.default_int_handler)
    # The app this process seeds through takes the test settings, as under pytest (tests/conftest.py
    # sets them); the app processes get the production config from production_environment.
    os.environ["KAPCLINIC_CONFIG"] = "testing"
    with tempfile.TemporaryDirectory(prefix="kapclinic-stack-") as folder:
        try:
            with running_stack(Path(folder)) as stack:
                logins = ", ".join(email for email, _, _ in STAFF)
                print(
                    f"kapclinic (production config, nginx TLS -> gunicorn x2, flask worker) at {stack.url}\n"
                    f"  the certificate is self-signed for this run: let the browser proceed\n"
                    f"  staff logins (password {STAFF_PASSWORD!r}): {logins}\n"
                    f"  emails arrive as .eml files in {stack.mailbox.folder}\n"
                    f"  logs: {stack.folder}/*.log\n"
                    "Ctrl-C stops everything and drops the database.",
                    flush=True,
                )
                while True:
                    stack.assert_running()
                    time.sleep(1)
        except KeyboardInterrupt:
            print("stopped", flush=True)


if __name__ == "__main__":
    main()
