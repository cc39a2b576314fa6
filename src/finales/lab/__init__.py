"""The simulated laboratory: published physics of EC/EMC/LiPF6 electrolytes and simulated
tenants built on :mod:`finales.tenant` (ASAB, molecular dynamics, a low-fidelity model), and
the cell lab of the second demonstrator (AutoBASS, the cycler, the courier, and the
degradation model in :mod:`finales.lab.degradation`, not imported here because it needs
scikit-learn) over a synthetic cycle-life ground truth (:mod:`finales.lab.cycle_life`).

    from finales.lab import ASAB, LabClock

    clock = LabClock(scale=0.1 / 3600)  # one lab hour takes 0.1 s
    asab = ASAB(seed=1, clock=clock, server="http://127.0.0.1:8000", api_key=KEY)
    asab.run()

Or ``finales tenant run finales.lab.asab:tenant`` (also ``.molecular_dynamics:tenant``,
``.low_fidelity:tenant``, ``.autobass:tenant``, ``.cycler:tenant``, ``.transport:tenant``,
``.degradation:tenant``), seeded by ``FINALES_LAB_SEED``, scaled by
``FINALES_LAB_TIME_SCALE`` (real seconds per lab second).
"""

from finales.lab.asab import ASAB
from finales.lab.autobass import AutoBASS
from finales.lab.clock import LabClock
from finales.lab.composition import Composition
from finales.lab.cycler import Cycler
from finales.lab.low_fidelity import LowFidelityModel
from finales.lab.molecular_dynamics import MolecularDynamics
from finales.lab.transport import Courier

__all__ = [
    "ASAB",
    "AutoBASS",
    "Composition",
    "Courier",
    "Cycler",
    "LabClock",
    "LowFidelityModel",
    "MolecularDynamics",
]
