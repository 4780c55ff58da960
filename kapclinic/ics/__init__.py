"""Calendar invites (iCalendar, RFC 5545) for patients and clinicians."""
