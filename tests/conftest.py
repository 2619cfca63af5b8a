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
SLOW_FIXTURES = frozenset(
    {"built_shop", "shop_copy", "published_shop", "browser", "orders_only_shop"}
)

SHOP_START = dt.date(2025, 1, 20)  # covers the 2025 Spring Festival (Jan 29), all of Feb and March
SHOP_DAYS = 75
SHOP_ORDERS_PER_DAY = 60
#: the test shop's target plan: the nightly run versions it from the drop folder
TEST_PLAN = Path(__file__).with_name("plans") / "shop_2025.yaml"
#: the orders-only shop (the sample shop without traffic, ads, service and shipments)
SUBSET_START = dt.date(2025, 1, 20)
SUBSET_DAYS = 40
SUBSET_SOURCES = ("orders", "order_items")
SUBSET_PLAN = Path(__file__).with_name("plans") / "orders_only_2025.yaml"


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
def published_shop(tmp_path_factory) -> Shop:
    """A clean shop (no faults) of 40 days with the test plan, run and published once: the
    publishing and serving tests' (they change copies of it)."""
    shop = make_shop(
        tmp_path_factory.mktemp("published"), start=dt.date(2025, 3, 1), days=40, orders_per_day=40
    )
    plans = shop.settings.targets_dir / "plans"
    plans.mkdir(parents=True)
    shutil.copyfile(TEST_PLAN, plans / TEST_PLAN.name)
    outcome = shop.run()
    assert outcome.success, outcome.error
    return shop


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


@dataclass
class SubsetShop(Shop):
    """A shop that delivers some of the sources: the others' files wait in ``withheld``."""

    withheld: Path = Path()
    #: what `kpi run` over the whole range exited with, and said
    exit_code: int = 0
    output: str = ""


def accept_sample_gap(shop: Shop) -> None:
    """Accept the sample's missing sessions day (`kpi gaps accept`): until accepted it holds
    marketing and operations back on every later night (issue 41), as it should."""
    [gap] = [f["date"] for f in shop.manifest["file_faults"] if f["fault"] == "missing_day"]
    code, output = kpi(shop.data_dir, "gaps", "accept", "sessions", gap, "--reason", "lost")
    assert code == 0, output


def kpi(data_dir: Path, *args: str) -> tuple[int, str]:
    """Run a `kpi` command on ``data_dir`` in this process: (exit code, its output)."""
    from typer.testing import CliRunner

    from pipelines.cli import app

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KPI_DATA_DIR", str(data_dir))
        result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="session")
def orders_only_shop(tmp_path_factory) -> SubsetShop:
    """40 days of a shop that delivers only its orders and their lines (the sample shop, no
    faults, CSV, its other sources withheld), with a plan of the whole tree, through `kpi
    run` once."""
    root = tmp_path_factory.mktemp("orders_only")
    data_dir = root / "data"
    manifest = generate_shop(
        data_dir / "landing", SUBSET_START, SUBSET_DAYS, orders_per_day=60, seed=5,
        faults={}, formats="csv",
    )  # fmt: skip
    withheld = root / "withheld"
    withheld.mkdir()
    for folder in (data_dir / "landing").iterdir():
        if folder.is_dir() and folder.name not in SUBSET_SOURCES:
            shutil.move(folder, withheld / folder.name)
    plans = data_dir / "targets" / "plans"
    plans.mkdir(parents=True)
    shutil.copyfile(SUBSET_PLAN, plans / SUBSET_PLAN.name)
    code, output = kpi(data_dir, "run")
    end = SUBSET_START + dt.timedelta(days=SUBSET_DAYS - 1)
    return SubsetShop(data_dir, manifest, SUBSET_START, end, withheld, code, output)
