"""Broker operations on a Session. They flush, never commit: routes own the transaction."""
