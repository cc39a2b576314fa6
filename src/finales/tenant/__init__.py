"""The tenant runtime: a robot, simulation or model joins the lab in a few lines.

    from finales.tenant import Tenant

    lab = Tenant("robot", server="http://127.0.0.1:8000", api_key=KEY)

    @lab.serves("conductivity", "two_electrode")
    def measure(request, ctx):
        return {"conductivity": 0.91}

    lab.run()

Or run a module's tenant with ``finales tenant run MODULE:OBJECT``. This package talks to
the broker only through ``finales.client``: it never imports the server, services or db.
"""

from finales.tenant.job import (
    JobContext,
    Release,
    ResultInvalid,
    RunStats,
    Service,
    TenantSetupError,
)
from finales.tenant.lease import Lease
from finales.tenant.logs import JsonFormatter, KeyValueFormatter, configure_logging
from finales.tenant.runtime import Tenant

__all__ = [
    "JobContext",
    "JsonFormatter",
    "KeyValueFormatter",
    "Lease",
    "Release",
    "ResultInvalid",
    "RunStats",
    "Service",
    "Tenant",
    "TenantSetupError",
    "configure_logging",
]
