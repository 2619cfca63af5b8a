"""The JSON schemas of the config files, for editors: ``python -m pipelines.schemas`` writes
them to ``schemas/`` (``--check`` says whether the committed ones are up to date).

An editor with a YAML language server checks a file against its schema as you type when the
file's first line names it, e.g. in a plan file::

    # yaml-language-server: $schema=../../schemas/plan.schema.json

The schemas are generated from the pydantic models that read the files
(:func:`pipelines.settings.config_model`, :class:`kpi_tree.targets.plan.PlanFile`), so they say
what the code accepts; the code still checks what a schema cannot say (sums of weights, node
ids of the tree).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pydantic import BaseModel

from kpi_tree.targets.plan import PlanFile
from pipelines.settings import config_model

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"
#: file name -> the model of the config file it describes
MODELS: dict[str, type[BaseModel]] = {
    "kpi.schema.json": config_model(),
    "plan.schema.json": PlanFile,
}


def schema_text(model: type[BaseModel]) -> str:
    """The model's JSON schema (draft 2020-12, as pydantic writes it), as the file holds it."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    schema.update(model.model_json_schema())
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(folder: Path = SCHEMAS_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in MODELS.items():
        path = folder / name
        path.write_text(schema_text(model), encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(folder: Path = SCHEMAS_DIR) -> list[Path]:
    """The schema files that differ from what the models generate (or are missing)."""
    return [
        folder / name
        for name, model in MODELS.items()
        if not (folder / name).is_file()
        or (folder / name).read_text(encoding="utf-8") != schema_text(model)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.schemas", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only say whether they are stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_schemas()
        for path in stale:
            print(f"{path} is out of date: run `python -m pipelines.schemas`", file=sys.stderr)
        return 1 if stale else 0
    for path in write_schemas():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
