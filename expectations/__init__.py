"""The quality gates: each unit's Great Expectations suites (:mod:`expectations.suites`), how a
gate runs them and writes its verdict and data docs (:mod:`expectations.runner`)."""

from __future__ import annotations

import gc
import importlib
import logging
import sys
from types import ModuleType


def gx(module: str = "great_expectations") -> ModuleType:
    """``module`` of Great Expectations, imported when a gate first needs it (it takes seconds:
    a command that runs no gate never pays; the pipeline's gate first defers the part of it
    no suite uses, :func:`pipelines.fastpaths.defer_unused_imports`). Its INFO lines (some
    500 a run, such as "Skipping registering function", as it imports and registers each
    frame) are not for the run's log: it logs from WARNING up, unless its logger was given a
    level."""
    quiet = logging.getLogger("great_expectations")
    if quiet.level == logging.NOTSET:
        quiet.setLevel(logging.WARNING)
    first = module not in sys.modules
    loaded = importlib.import_module(module)
    if first and gc.get_freeze_count():
        # a run that took what was loaded out of the cyclic collector while it runs (`kpi
        # run`: pipelines/cli/run.py) takes Great Expectations' modules out too
        gc.freeze()
    return loaded
