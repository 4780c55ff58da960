"""The front desk's work on intakes: the triage queue, the intake record, notes and contact log."""
