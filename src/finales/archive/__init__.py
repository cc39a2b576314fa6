"""The archiver: a tenant that publishes the broker's data to an archive, version by version.

``finales archive run --config archive.yaml [--every 6h] [--dry-run]`` reads one consistent
snapshot of the broker (role archiver), cuts it into files that do not change once their
period is over (:mod:`.dataset`), describes them as an RO-Crate (:mod:`.rocrate`), and
deposits them in an InvenioRDM instance (:mod:`.invenio`: a new record on the first run, a new
version uploading only changed and new files after that) or in an RO-Crate folder
(:mod:`.folder`). Each deposit is recorded in the broker as an ``archive / deposit`` result.
:mod:`.invenio_double` is an InvenioRDM test double to try it without an archive. The
configuration is described in ``docs/archive.md``. Needs the archive extra
(``pip install 'finales[archive]'``: PyYAML).
"""

from finales.archive.config import ArchiveConfig, ConfigError, load
from finales.archive.invenio import ArchiveError
from finales.archive.runner import RunReport, build_dataset, make_target, run_once

__all__ = [
    "ArchiveConfig",
    "ArchiveError",
    "ConfigError",
    "RunReport",
    "build_dataset",
    "load",
    "make_target",
    "run_once",
]
