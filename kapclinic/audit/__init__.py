"""The audit trail: who saw or changed which intake, when and from where; append-only and hash-chained."""
