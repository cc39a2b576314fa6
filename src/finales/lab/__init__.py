"""The simulated laboratory: published physics of EC/EMC/LiPF6 electrolytes and simulated
tenants built on :mod:`finales.tenant` (ASAB, molecular dynamics, a low-fidelity model).

    from finales.lab import ASAB, LabClock

    clock = LabClock(scale=0.1 / 3600)  # one lab hour takes 0.1 s
    asab = ASAB(seed=1, clock=clock, server="http://127.0.0.1:8000", api_key=KEY)
    asab.run()

Or ``finales tenant run finales.lab.asab:tenant`` (also ``.molecular_dynamics:tenant``,
``.low_fidelity:tenant``), seeded by ``FINALES_LAB_SEED``, scaled by
``FINALES_LAB_TIME_SCALE`` (real seconds per lab second).
"""

from finales.lab.asab import ASAB
from finales.lab.clock import LabClock
from finales.lab.composition import Composition
from finales.lab.low_fidelity import LowFidelityModel
from finales.lab.molecular_dynamics import MolecularDynamics

__all__ = ["ASAB", "Composition", "LabClock", "LowFidelityModel", "MolecularDynamics"]
