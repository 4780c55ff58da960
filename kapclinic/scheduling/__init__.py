"""Clinicians, consultation types, availability, slots and bookings."""
