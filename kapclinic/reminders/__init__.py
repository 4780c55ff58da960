"""Reminder emails before a consultation, and a nudge to finish the intake."""
