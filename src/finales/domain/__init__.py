"""Pure rules of the broker: statuses, transitions, leases, limitations, schema validation.

Nothing here does I/O; time is always passed in as ``now``.
"""
