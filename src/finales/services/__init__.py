"""Broker operations on a database connection inside a transaction the caller owns (routes
and the CLI open it with Database.write or Database.read); services never commit."""
