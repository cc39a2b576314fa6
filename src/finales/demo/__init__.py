"""``finales demo``: for now, one full request/result cycle through a real local broker.

The simulated laboratory and the optimiser campaign replace this in a later issue.
"""

from __future__ import annotations

from finales.demo.cycle import run_demo

__all__ = ["run_demo"]
