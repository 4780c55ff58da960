"""The audit trail: who saw or changed which intake, when and from where.

Append-only, and chained with a keyed hash (HMAC under AUDIT_KEY, which the database does not hold).
"""
