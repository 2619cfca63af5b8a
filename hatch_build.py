"""Hatch's build hook: the message catalogues (pipelines/locale/*/LC_MESSAGES/kpi.po) compiled
to the ``.mo`` files gettext reads, in every wheel and editable install (pipelines/i18n.py)."""

from __future__ import annotations

from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        root = Path(self.root)
        for po in sorted((root / "pipelines" / "locale").glob("*/LC_MESSAGES/kpi.po")):
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=po.parent.parent.name, domain="kpi")
            mo = po.with_suffix(".mo")
            with mo.open("wb") as fh:
                write_mo(fh, catalog)
            # .mo files are not versioned (.gitignore): ship them all the same
            build_data["artifacts"].append(mo.relative_to(root).as_posix())
