"""Email: an outbox written in the booking's transaction, delivered after commit."""
