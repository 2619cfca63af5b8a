"""Shared fixtures: a generated sample shop run through the real nightly job."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.definitions import build_defs
from pipelines.runner import RunOutcome, run_nightly
from pipelines.settings import load_settings
from sample_shop.generator import DEFAULT_FAULTS, generate_shop

warnings.filterwarnings("ignore", message=r".*is currently in beta.*")

#: fixtures that run the real nightly job (or a browser) over a generated shop: a test that uses
#: one, directly or through another fixture, is marked slow and left out of `make test-fast`
SLOW_FIXTURES = frozenset({"built_shop", "shop_copy", "published_shop", "browser"})

SHOP_START = dt.date(2025, 1, 20)  # covers the 2025 Spring Festival (Jan 29), all of Feb and March
SHOP_DAYS = 75
SHOP_ORDERS_PER_DAY = 60
#: the test shop's target plan: the nightly run versions it from the drop folder
TEST_PLAN = Path(__file__).with_name("plans") / "shop_2025.yaml"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark slow every test whose fixtures include a slow one, so that a new test of the built
    shop is slow without anyone remembering to say so."""
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@dataclass
class Shop:
    data_dir: Path
    manifest: dict
    start: dt.date
    end: dt.date

    @property
    def settings(self):
        return load_settings(self.data_dir)

    @property
    def landing(self) -> Path:
        return self.data_dir / "landing"

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.settings.build_db), read_only=True)

    def run(self, start: dt.date | None = None, end: dt.date | None = None) -> RunOutcome:
        # an in-memory instance: a persistent one writes an event per asset and day
        with dg.DagsterInstance.ephemeral() as instance:
            return run_nightly(
                build_defs(self.data_dir),
                start or self.start,
                end or self.end,
                instance,
                log_level="WARNING",
            )


def make_shop(
    root: Path,
    start: dt.date = SHOP_START,
    days: int = SHOP_DAYS,
    orders_per_day: int = SHOP_ORDERS_PER_DAY,
    faults: dict | None = None,
    seed: int = 11,
) -> Shop:
    data_dir = root / "data"
    manifest = generate_shop(
        data_dir / "landing",
        start,
        days,
        orders_per_day=orders_per_day,
        seed=seed,
        faults=faults if faults is not None else {},
    )
    return Shop(data_dir, manifest, start, start + dt.timedelta(days=days - 1))


@pytest.fixture(scope="session")
def built_shop(tmp_path_factory) -> Shop:
    """75 days of a small shop with every default fault and a target plan (tests/plans/), through
    the whole nightly job once."""
    shop = make_shop(tmp_path_factory.mktemp("built_shop"), faults=dict(DEFAULT_FAULTS))
    plans = shop.settings.targets_dir / "plans"
    plans.mkdir(parents=True)
    shutil.copyfile(TEST_PLAN, plans / TEST_PLAN.name)
    outcome = shop.run()
    # the sample's missing traffic day holds marketing and operations back at their gates
    assert outcome.ok, outcome.error
    assert set(outcome.held_back) <= {"marketing", "operations"}
    return shop


CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def ensure_chromium() -> Path:
    """Debian's chromium (with CJK fonts for the Chinese labels), installed by `make
    system-deps`: Playwright's own browser download does not work here. Missing, the browser
    tests fail, never skip, so that CI cannot pass without running them."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (chromium and CJK fonts)")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser():
    """Chromium driven by Playwright (the board's tests)."""
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(executable), args=BROWSER_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def shop_copy(built_shop, tmp_path) -> Shop:
    """A private copy of the built shop (landing files and warehouse), for tests that change it."""
    target = tmp_path / "data"
    shutil.copytree(built_shop.data_dir, target)
    return Shop(
        target, json.loads(json.dumps(built_shop.manifest)), built_shop.start, built_shop.end
    )
