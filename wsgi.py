"""WSGI entry point: `gunicorn wsgi:app`."""

from kapclinic import create_app

app = create_app()
