"""gunicorn settings: `gunicorn -c python:kapclinic.ops.gunicorn_conf wsgi:app` (`make serve`).

Read from the environment so each deployment sets its own: PORT, WEB_CONCURRENCY
(worker processes), GUNICORN_THREADS, FORWARDED_ALLOW_IPS (the reverse proxy).
No access log: its lines carry full paths, and paths carry patients' tokens; the app
writes one JSON line per request with the route pattern instead (kapclinic.ops.logging).
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30
graceful_timeout = 20
keepalive = 5
# Drop and replace each worker now and then, so no slow leak grows for ever.
max_requests = 5000
max_requests_jitter = 500
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None
# No shared control socket in the home folder: several instances may run on one host.
control_socket_disable = True
errorlog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "kapclinic.ops.logging.JsonFormatter"}},
    # gunicorn names a failed request's path; paths can hold private links (ops.logging).
    "filters": {"without_private_paths": {"()": "kapclinic.ops.logging.WithoutPrivatePaths"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["without_private_paths"],
            "stream": "ext://sys.stderr",
        }
    },
    # The app's own logger has its handler (kapclinic.ops.logging); root stays quiet, so no line appears twice.
    "root": {"handlers": [], "level": "WARNING"},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
}
