"""Cross-cutting pieces: database helpers, time, the landing page, error pages."""
