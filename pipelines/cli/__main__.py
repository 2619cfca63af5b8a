"""`python -m pipelines.cli`: the `kpi` command."""

from pipelines.cli import cli

cli()
