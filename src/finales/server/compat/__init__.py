"""The FINALES 2 (release 1.1.0) door: the same paths and payloads, on the same domain core.

Existing FINALES 2 tenants run unchanged against it, and get finales' fixes: multi-method
requests work, result data are validated, a tenant acts only as itself, reserving a request
that is not pending answers 409, resolved requests never reopen, unknown ids answer 404 and
bad input answers 4xx, never 500. See ``finales2-wire.md`` in the design notes.
"""

from finales.server.compat.routes import router

__all__ = ["router"]
