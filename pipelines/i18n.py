"""The words of the CLI and the alerts in the shop's language: gettext catalogues kept by Babel.

The messages are English in the code, marked with :func:`_` (or :func:`N_` where a text is
marked now and translated when it is shown: a command's help, a table's heading); their
translations are a gettext catalogue per language, ``pipelines/locale/<locale>/LC_MESSAGES/
kpi.po``, kept by Babel's tooling (``python -m pipelines.i18n update`` extracts the marked
messages and the commands' help into ``kpi.pot`` and merges them into each ``.po``;
``compile`` writes the ``.mo``). The ``.mo`` files are compiled when the package is built or
installed (``hatch_build.py``); a ``.po`` newer than its ``.mo`` (a checkout being edited) is
compiled in memory instead, so what is shown is always what the ``.po`` says.

Which language: the shop's ``locale`` (kpi.yaml; its default is zh_CN when the business time
zone is in mainland China, else en_US; ``KPI_LOCALE`` in the environment wins), the same
setting that says how numbers are written (``kpi_tree/formats.py``). The CLI activates it
once when it starts (:func:`activate`), the alerts steps for the messages they word
(:func:`use`); :func:`_` reads the active one, English when none is.
"""

from __future__ import annotations

import contextlib
import gettext
import io
import os
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.core import get_global
from babel.support import Translations

DOMAIN = "kpi"
LOCALE_DIR = Path(__file__).with_name("locale")
#: the locales the CLI and the alerts speak (kpi_tree.formats.LOCALES: the same two)
LOCALES = ("zh_CN", "en_US")
#: the language the messages are written in, in the code
SOURCE_LOCALE = "en_US"
LOCALE_ENV = "KPI_LOCALE"

_active: ContextVar[str] = ContextVar("kpi_locale", default=SOURCE_LOCALE)


def default_locale(business_timezone: str | None) -> str:
    """zh_CN for a business time zone in mainland China (Asia/Shanghai, Asia/Urumqi and their
    aliases, by CLDR's zone territories), en_US for any other."""
    if not business_timezone:
        return "zh_CN"
    zone = get_global("zone_aliases").get(business_timezone, business_timezone)
    return "zh_CN" if get_global("zone_territories").get(zone) == "CN" else "en_US"


def _compiled(po: Path) -> gettext.NullTranslations:
    """The translations of ``po``: its ``.mo`` when that is current, else compiled here."""
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as fh:
            return Translations(fh, domain=DOMAIN)
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as fh:
        catalog = read_po(fh, locale=po.parent.parent.name, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The catalogue of ``locale``; the messages as written (English) for the source locale or
    a locale without a catalogue."""
    po = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if locale == SOURCE_LOCALE or not po.exists():
        return gettext.NullTranslations()
    return _compiled(po)


def activate(locale: str) -> None:
    """Speak ``locale`` from now on in this context (the CLI, once it knows the shop's)."""
    _active.set(locale)


def active() -> str:
    return _active.get()


@contextlib.contextmanager
def use(locale: str) -> Iterator[None]:
    """Speak ``locale`` inside the block (the alerts step, for its messages)."""
    token = _active.set(locale)
    try:
        yield
    finally:
        _active.reset(token)


def lang() -> str:
    """The language of the active locale, as the tree and the vocabulary label it: en or zh."""
    return "zh" if _active.get().startswith("zh") else "en"


def _(message: str) -> str:
    """``message`` in the active language."""
    return translations(_active.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """``singular`` or ``plural`` as ``n`` needs it, in the active language."""
    return translations(_active.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:  # noqa: N802 - gettext's name for a marker
    """Marks ``message`` for the catalogue without translating it yet."""
    return message


def shop_locale() -> str:
    """The shop's locale, read cheaply (the CLI wants it before any command runs, and
    `kpi --help` should not load the whole config): ``KPI_LOCALE``, else kpi.yaml's
    ``locale``, else the default of its ``business_timezone``. A value that is not one of
    :data:`LOCALES` is left to the config's own check, which names it, when a command reads
    the config."""
    explicit = os.environ.get(LOCALE_ENV)
    if explicit in LOCALES:
        return explicit
    from pipelines.settings import raw_config

    config = raw_config()
    locale = config.get("locale")
    if locale in LOCALES:
        return locale
    zone = config.get("business_timezone")
    return default_locale(zone if isinstance(zone, str) else "Asia/Shanghai")


# ---- the catalogue's upkeep: python -m pipelines.i18n update | compile | check ---------------

#: what the code marks: _(), ngettext(), N_() and NP_() (a count's singular and plural, marked
#: where it is written in English; Babel's extractor reads these calls)
KEYWORDS = {"_": None, "ngettext": (1, 2), "N_": None, "NP_": (1, 2)}
#: the code whose messages are in the catalogue (the gate's sentences are expectations')
SOURCES = ("pipelines", "expectations")


def _command_help() -> list[str]:
    """Every help text of the `kpi` command: its commands' and their options' (Typer takes
    them from the code's docstrings and ``help=``, which Babel's extractor does not see)."""
    from typer.main import get_command

    from pipelines.cli import app

    found: list[str] = []

    def walk(command) -> None:
        for text in (command.help, command.short_help, command.epilog):
            if text:
                found.append(text)
        for param in command.params:
            if getattr(param, "help", None):
                found.append(param.help)
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(get_command(app))
    return found


def template():
    """The catalogue template: every marked message of the code and every help text."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    root = Path(__file__).resolve().parent.parent
    catalog = Catalog(domain=DOMAIN, project="kpi-tree-warehouse", charset="utf-8")
    for source in SOURCES:
        for filename, lineno, message, comments, context in extract_from_dir(
            root / source, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)
        ):
            catalog.add(
                message,
                locations=[(f"{source}/{filename}", lineno)],
                auto_comments=comments,
                context=context,
                flags=("python-format",) if isinstance(message, str) and "%(" in message else (),
            )
    for text in _command_help():
        catalog.add(text, locations=[("pipelines/cli", 0)])
    return catalog


def _po(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def update() -> None:
    """Write ``kpi.pot`` and merge it into each locale's ``.po`` (new messages untranslated,
    changed ones fuzzy, gone ones obsolete)."""
    from babel.messages.pofile import read_po, write_po

    pot = template()
    LOCALE_DIR.mkdir(exist_ok=True)
    with (LOCALE_DIR / f"{DOMAIN}.pot").open("wb") as fh:
        write_po(fh, pot, width=100, omit_header=False)
    for locale in LOCALES:
        if locale == SOURCE_LOCALE:
            continue
        path = _po(locale)
        if path.exists():
            with path.open("rb") as fh:
                catalog = read_po(fh, locale=locale, domain=DOMAIN)
        else:
            from babel.messages.catalog import Catalog

            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=locale, domain=DOMAIN)
        catalog.update(pot, no_fuzzy_matching=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, width=100, ignore_obsolete=True)


def compile_all(root: Path = LOCALE_DIR) -> list[Path]:
    """Compile every ``.po`` under ``root`` to its ``.mo``; the ``.mo`` files written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(root.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name, domain=DOMAIN)
        mo = po.with_suffix(".mo")
        with mo.open("wb") as fh:
            write_mo(fh, catalog)
        written.append(mo)
    return written


def problems() -> list[str]:
    """What is wrong with the catalogues: a message of the code with no translation (or a
    fuzzy one), a translation whose placeholders differ from its message's."""
    import re

    from babel.messages.pofile import read_po

    placeholder = re.compile(r"\{[^{}]*\}|%\([a-z_]+\)[sd]")
    pot = template()
    out = []
    for locale in LOCALES:
        if locale == SOURCE_LOCALE:
            continue
        with _po(locale).open("rb") as fh:
            catalog = read_po(fh, locale=locale, domain=DOMAIN)
        for message in pot:
            if not message.id:
                continue
            entry = catalog.get(message.id, context=message.context)
            shown = message.id if isinstance(message.id, str) else message.id[0]
            # a plural's translation is a tuple, untranslated while any of its forms is empty
            strings = entry.string if entry is not None else ""
            untranslated = not all(strings) if isinstance(strings, tuple) else not strings
            if entry is None or untranslated or entry.fuzzy:
                out.append(f"{locale}: not translated: {shown!r}")
                continue
            strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            want = sorted(placeholder.findall(ids[0]))
            for string in strings:
                if string and sorted(placeholder.findall(string)) != want:
                    out.append(f"{locale}: placeholders differ: {shown!r} -> {string!r}")
    return out


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "update":
        update()
        return 0
    if command == "compile":
        for path in compile_all():
            print(path)
        return 0
    if command == "check":
        found = problems()
        for line in found:
            print(line)
        return 1 if found else 0
    print("usage: python -m pipelines.i18n update | compile | check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
