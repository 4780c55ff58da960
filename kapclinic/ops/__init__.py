"""Running the app for real: structured logs with request ids, health checks, the background worker."""
