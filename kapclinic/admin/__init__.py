"""Clinic administration: staff users and consultation types, managed from the web."""
