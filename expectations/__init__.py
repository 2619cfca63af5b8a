"""The quality gates: each unit's Great Expectations suites (:mod:`expectations.suites`), how a
gate runs them and writes its verdict and data docs (:mod:`expectations.runner`)."""

from __future__ import annotations

import importlib
from types import ModuleType


def gx(module: str = "great_expectations") -> ModuleType:
    """``module`` of Great Expectations, imported when a gate first needs it (it takes seconds:
    a command that runs no gate never pays), without the part of its import no suite here
    uses (:func:`pipelines.fastpaths.defer_scipy_stats`)."""
    from pipelines.fastpaths import defer_scipy_stats

    defer_scipy_stats()
    return importlib.import_module(module)
