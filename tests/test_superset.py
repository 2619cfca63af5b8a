"""A real BI tool on the serving file: Apache Superset 6.1 (its own environment, made by
`make superset-env`), metadata in SQLite, started as a local server, pointed read-only at
data/warehouse/kpi.duckdb. Through its REST API, as a user's browser does: log in, register
the database, run a SQL Lab query and a chart's query for month GMV by channel, and compare
both with the published values."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
SUPERSET_ENV = ROOT / ".tools" / "superset"
SUPERSET = SUPERSET_ENV / "bin" / "superset"
ADMIN = {"username": "admin", "password": secrets.token_urlsafe(12)}
REL = 1e-9

MONTH_GMV_BY_CHANNEL = """
    select period_start, member, value from kpi_tree.kpi_values
    where kpi_id = 'gmv' and grain = 'month' and dimension = 'channel'
"""


def close(a: float, b: float) -> bool:
    return abs(a - b) <= REL * max(1.0, abs(a), abs(b))


def superset_env(home: Path) -> dict[str, str]:
    """Superset's settings: a config file of its own home, metadata in SQLite there."""
    config = home / "superset_config.py"
    config.write_text(
        f"SECRET_KEY = {secrets.token_hex(32)!r}\n"
        f"SQLALCHEMY_DATABASE_URI = 'sqlite:///{home / 'superset.db'}'\n"
        # no usage pixel sent from the pages (the test opens none, but say so)
        "SCARF_ANALYTICS = False\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KPI_", "VIRTUAL_ENV"))}
    return {
        **env,
        "SUPERSET_CONFIG_PATH": str(config),
        "SUPERSET_HOME": str(home),
        "FLASK_APP": "superset",
    }


def superset(env: dict[str, str], *args: str, timeout: int = 300) -> None:
    out = subprocess.run(
        [str(SUPERSET), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, f"superset {' '.join(args)}:\n{(out.stdout + out.stderr)[-3000:]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def superset_server(tmp_path):
    """Superset's metadata made in SQLite (migrations, an admin, roles), then its server,
    stopped at the end: (base URL, seconds the set-up took)."""
    if not SUPERSET.exists():
        pytest.fail(f"{SUPERSET} is missing: run `make superset-env` (what `make test` runs)")
    started = time.monotonic()
    home = tmp_path / "superset"
    home.mkdir()
    env = superset_env(home)
    superset(env, "db", "upgrade")
    superset(
        env, "fab", "create-admin", "--username", ADMIN["username"], "--password",
        ADMIN["password"], "--firstname", "KPI", "--lastname", "Test", "--email",
        "admin@example.invalid",
    )  # fmt: skip
    superset(env, "init")
    port = free_port()
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [str(SUPERSET), "run", "--host", "127.0.0.1", "--port", str(port), "--with-threads"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/health", timeout=5).text == "OK":
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None, (home / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "Superset did not answer /health in 120 s"
            time.sleep(1)
        yield base, time.monotonic() - started
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def session(base: str) -> requests.Session:
    """Logged in through the REST API: a bearer token, and the CSRF token Superset asks of
    every change."""
    s = requests.Session()
    r = s.post(f"{base}/api/v1/security/login", json={**ADMIN, "provider": "db"}, timeout=30)
    assert r.status_code == 200, r.text
    s.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
    r = s.get(f"{base}/api/v1/security/csrf_token/", timeout=30)
    assert r.status_code == 200, r.text
    s.headers.update({"X-CSRFToken": r.json()["result"], "Referer": base})
    return s


def test_superset_reads_month_gmv_by_channel_as_published(built_shop, superset_server):
    started = time.monotonic()
    base, setup_seconds = superset_server
    serving = built_shop.settings.warehouse_dir / "kpi.duckdb"
    with duckdb.connect(str(serving), read_only=True) as con:
        published = {
            (str(start), member): float(value)
            for start, member, value in con.execute(MONTH_GMV_BY_CHANNEL).fetchall()
        }
    assert len(published) >= 10

    s = session(base)
    r = s.post(
        f"{base}/api/v1/database/",
        json={
            "database_name": "kpi",
            "sqlalchemy_uri": f"duckdb:///{serving}",
            "expose_in_sqllab": True,
            # read-only: Superset never takes the file's write lock, and a publication can
            # replace the file under it
            "extra": json.dumps({"engine_params": {"connect_args": {"read_only": True}}}),
        },
        timeout=60,
    )
    assert r.status_code == 201, r.text
    database = r.json()["id"]

    # SQL Lab: the published month rows, as an analyst types them
    r = s.post(
        f"{base}/api/v1/sqllab/execute/",
        json={"database_id": database, "sql": MONTH_GMV_BY_CHANNEL, "runAsync": False},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    sql_lab = {(str(row["period_start"])[:10], row["member"]): float(row["value"]) for row in rows}
    assert sql_lab.keys() == published.keys()
    assert all(close(sql_lab[k], v) for k, v in published.items())

    # a chart: a dataset on the values, and Superset's own month grain over the day rows
    r = s.post(
        f"{base}/api/v1/dataset/",
        json={"database": database, "schema": "kpi_tree", "table_name": "kpi_values"},
        timeout=120,
    )
    assert r.status_code == 201, r.text
    dataset = r.json()["id"]
    month = {
        "label": "month", "sqlExpression": "period_start", "expressionType": "SQL",
        "columnType": "BASE_AXIS", "timeGrain": "P1M",
    }  # fmt: skip
    query = {
        "datasource": {"id": dataset, "type": "table"},
        "queries": [
            {
                "columns": [month, "member"],
                "metrics": [
                    {"expressionType": "SIMPLE", "column": {"column_name": "value"},
                     "aggregate": "SUM", "label": "gmv"}
                ],
                "filters": [
                    {"col": "kpi_id", "op": "==", "val": "gmv"},
                    {"col": "grain", "op": "==", "val": "day"},
                    {"col": "dimension", "op": "==", "val": "channel"},
                ],
                "row_limit": 10_000,
            }
        ],
        "result_format": "json",
        "result_type": "full",
    }  # fmt: skip
    r = s.post(f"{base}/api/v1/chart/data", json=query, timeout=120)
    assert r.status_code == 200, r.text
    result = r.json()["result"][0]
    assert result["status"] == "success", result.get("error")
    chart = {
        (str(dt.datetime.fromtimestamp(row["month"] / 1000, dt.UTC).date()), row["member"]): float(
            row["gmv"]
        )
        for row in result["data"]
    }
    assert chart.keys() == published.keys()
    assert all(close(chart[k], v) for k, v in published.items())
    # the set-up and the queries (docs/bi.md quotes it): under five minutes
    seconds = setup_seconds + time.monotonic() - started
    print(f"Superset test: {seconds:.0f} s, of which set-up {setup_seconds:.0f} s")
    assert seconds < 300
