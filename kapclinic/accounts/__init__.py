"""Staff accounts: roles, passwords, server-side sessions that really end, password reset."""
