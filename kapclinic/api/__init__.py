"""The public JSON API v1 for the clinic's website and integrations."""
