"""Patients: one record per person, found by blind indexes, merged and split by staff."""
