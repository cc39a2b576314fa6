"""``finales demo``: the conductivity campaign (:mod:`finales.demo.campaign`, its figures in
:mod:`finales.demo.plots`) and, with ``--cycle``, one request/result cycle through a real local
broker (:func:`run_demo`)."""

from __future__ import annotations

from finales.demo.cycle import run_demo

__all__ = ["run_demo"]
