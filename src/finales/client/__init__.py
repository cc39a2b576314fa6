"""The finales SDK: a typed client of the clean API.

    from finales.client import FinalesClient

    with FinalesClient("http://127.0.0.1:8000", api_key=key) as client:
        results = client.submit_and_wait(
            "conductivity", ["two_electrode"],
            {"two_electrode": {"temperature": 298.15, "lipf6_molality": 1.0}},
        )

Errors are the classes of ``finales.errors`` (mapped from the server's ``code``), plus the
client-side ones below.
"""

from finales.client.client import FinalesClient
from finales.client.errors import (
    RequestRetracted,
    ServerError,
    ServerUnreachable,
    WaitTimeout,
    error_from_response,
)
from finales.client.retry import NO_RETRY, RetryPolicy

__all__ = [
    "NO_RETRY",
    "FinalesClient",
    "RequestRetracted",
    "RetryPolicy",
    "ServerError",
    "ServerUnreachable",
    "WaitTimeout",
    "error_from_response",
]
