"""The clinician workspace: availability (weekly hours, date overrides, time off) and its preview."""
