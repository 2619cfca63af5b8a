"""Options that name a team, a KPI, a source or a scope: a name in either language or any case
is taken for its id; anything else stops the command with the closest valid value."""

import pytest
from typer.testing import CliRunner

from pipelines.cli import app


@pytest.fixture
def kpi(tmp_path, monkeypatch):
    monkeypatch.setenv("KPI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("KPI_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str):
        out = runner.invoke(app, list(args), prog_name="kpi", env={"COLUMNS": "200"})
        return out.exit_code, " ".join(out.output.split())

    return invoke


@pytest.mark.parametrize(
    ("args", "suggested"),
    [
        (("targets", "catch-up", "--kpi", "conversion_rat"), "did you mean conversion_rate?"),
        (("targets", "catch-up", "--hold", "sesions"), "did you mean sessions?"),
        (("quarantine", "--source", "order"), "did you mean orders?"),
        (("alerts", "--team", "marketting"), "did you mean marketing?"),
        (("targets", "show", "--team", "sales"), "valid: management, marketing, operations"),
    ],
)
def test_a_wrong_value_stops_with_the_closest_valid_one(kpi, args, suggested):
    code, said = kpi(*args)
    assert code == 2, said
    assert suggested in said and "Traceback" not in said


def test_a_name_in_either_language_is_its_id(kpi):
    for name in ("Marketing", "推广部", "MARKETING"):
        code, said = kpi("alerts", "--team", name)
        assert code == 0 and "No alerts (marketing)" in said, said
