"""What is in the landing folder: the files ingestion reads, compressed ones opened, and the
ones it does not read, named so that nothing is passed over without a word.

A delivery is a file directly in a source's folder whose name ends with a format ingestion
reads (:data:`READERS`), perhaps compressed: ``orders_2025-03-14.csv.gz``, or a ``.zip``
holding one such file. A compressed file is the file it holds: its content hash (the file
ledger's, so the same data delivered compressed and plain loads once) and its rows are the
inner file's. Anything else under the landing folder is a :class:`Stray`: a folder that is
no source's (``Orders/`` for ``orders/``), a file of another format (``.txt``), a file
outside any source's folder or in a folder inside one. Other names that begin with ``.`` or
``_`` pass unlisted: files still in transfer (rsync's ``.name.XXXXXX``),
markers (``_SUCCESS``), the sample shop's ``_sample_manifest.json``, a desktop's
``.DS_Store``.
"""

from __future__ import annotations

import contextlib
import difflib
import gzip
import hashlib
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

READERS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: compressions a delivery may come in: ``.gz`` around a file of :data:`READERS`, or a
#: ``.zip`` holding one
COMPRESSED = (".gz", ".zip")


class CompressedProblem(ValueError):
    """A compressed delivery that cannot be opened as one file of a format ingestion reads."""


def hidden(name: str) -> bool:
    """Whether a name is not a delivery (see the module)."""
    return name.startswith((".", "_"))


def inner_suffix(name: str) -> str | None:
    """The format of a delivery named ``name`` (``.csv`` for ``x.csv`` and ``x.csv.gz``;
    ``.zip`` for a zip, whose member tells), or None when it is not one."""
    stem, ext = os.path.splitext(name.lower())
    if ext == ".gz":
        ext = os.path.splitext(stem)[1]
        return ext if ext in READERS else None
    return ext if ext in READERS or ext == ".zip" else None


def is_delivery(name: str) -> bool:
    return inner_suffix(name) is not None


def _zip_member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    members = [
        m
        for m in archive.infolist()
        if not m.is_dir()
        and not m.filename.startswith("__MACOSX/")
        and not hidden(Path(m.filename).name)
    ]
    data = [m for m in members if os.path.splitext(m.filename.lower())[1] in READERS]
    if len(members) != 1 or len(data) != 1:
        held = ", ".join(m.filename for m in members[:6]) or "nothing"
        raise CompressedProblem(
            f"{name} holds {held}: a .zip delivery holds exactly one file "
            f"({', '.join(READERS)}); deliver each file alone, or zipped alone"
        )
    return data[0]


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[tuple[str, object]]:
    """The inner file's name and a binary stream of its content."""
    ext = path.suffix.lower()
    try:
        if ext == ".gz":
            with gzip.open(path, "rb") as fh:
                yield path.name[: -len(".gz")], fh
        elif ext == ".zip":
            with zipfile.ZipFile(path) as archive:
                member = _zip_member(archive, path.name)
                with archive.open(member) as fh:
                    yield Path(member.filename).name, fh
        else:
            with path.open("rb") as fh:
                yield path.name, fh
    except (EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile) as err:
        raise CompressedProblem(
            f"cannot be opened as {ext[1:]} ({err}): it was cut in transfer or is not "
            f"{ext[1:]}-compressed. Deliver it again whole"
        ) from None


@contextlib.contextmanager
def plain(path: Path) -> Iterator[Path]:
    """``path`` itself, or for a compressed delivery, its inner file unpacked into a
    temporary folder (under its own name, whose suffix says its format) while in use.
    Raises :class:`CompressedProblem`."""
    if path.suffix.lower() not in COMPRESSED:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="kpi-unpacked-") as folder:
        with _opened(path) as (name, fh):
            target = Path(folder) / Path(name).name
            with target.open("wb") as out:
                shutil.copyfileobj(fh, out, 1 << 20)  # type: ignore[arg-type]
        yield target


def content_sha256(path: Path) -> str:
    """The SHA-256 of the delivery's content: a compressed file's is the file it holds, so
    one delivered compressed and plain is one content. A compressed file that cannot be
    opened is hashed as it is (reading it then says what is wrong)."""
    try:
        with _opened(path) as (_name, fh):
            digest = hashlib.sha256()
            for chunk in iter(lambda: fh.read(1 << 20), b""):  # type: ignore[attr-defined]
                digest.update(chunk)
            return digest.hexdigest()
    except CompressedProblem:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()


# ---- what is not read ----------------------------------------------------------------------


def closest(value: str, valid: Iterable[str], cutoff: float = 0.5) -> str | None:
    """The valid value closest to ``value`` (any case), or None when none is close (the
    CLI's "did you mean" and the landing folder's strays share it)."""
    valid = list(valid)
    exact = [v for v in valid if v.lower() == value.lower()]
    if exact:
        return exact[0]
    lowered = [v.lower() for v in valid]
    close = difflib.get_close_matches(value.lower(), lowered, n=1, cutoff=cutoff)
    return valid[lowered.index(close[0])] if close else None


@dataclass(frozen=True)
class Stray:
    """Something under the landing folder that ingestion does not read.

    ``path``: relative to the landing folder (a folder's ends with ``/``); ``kind``:
    ``folder`` (no source's; ``hint`` the source folder it likely meant), ``case`` (a
    source's folder in another case), ``extension`` (a file in a source's folder of a format
    not read; ``hint`` the format its content or name suggests), ``root`` (a file outside
    any folder; ``hint`` the folder its name suggests), ``nested`` (a folder inside a
    source's); ``files``: the files it holds (a folder), else 1."""

    path: str
    kind: str
    hint: str | None
    files: int = 1
    #: the source folder it belongs to or likely meant (None: none)
    folder: str | None = None
    #: the source folders there are (for a folder no source reads)
    known: tuple[str, ...] = ()


def _files_under(folder: Path) -> int:
    return sum(1 for _root, _dirs, names in os.walk(folder) for name in names if not hidden(name))


def _sniffed(path: Path) -> str | None:
    """The format the start of a file's content suggests: Parquet's magic bytes, a JSON
    object, or delimited text; None when it is none of them."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    if head.startswith(b"PAR1"):
        return ".parquet"
    if head.startswith((b"\x1f\x8b", b"PK\x03\x04")):
        return None  # compressed: the name says what it holds, or nothing does
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"{"):
        return ".jsonl"
    first = text.split(b"\n", 1)[0]
    if any(sep in first for sep in (b",", b"\t", b";", b"|")):
        return ".csv"
    return None


def _extension_hint(path: Path) -> str | None:
    name = path.name.lower()
    stem, ext = os.path.splitext(name)
    if ext == ".gz":
        ext = os.path.splitext(stem)[1]
    typo = closest(ext, READERS, cutoff=0.6) if ext else None
    if ext == ".json":
        return ".jsonl"
    return typo or _sniffed(path)


def stray_files(landing: Path, folders: Iterable[str]) -> list[Stray]:
    """Everything under ``landing`` that ingestion does not read (see the module), by path.
    ``folders``: the source folders read (a source's own, or the one kpi.yaml gives it)."""
    known = sorted(set(folders))
    if not landing.is_dir():
        return []
    out: list[Stray] = []
    with os.scandir(landing) as entries:
        top = sorted(entries, key=lambda e: e.name)
    for entry in top:
        if hidden(entry.name):
            continue
        path = Path(entry.path)
        if entry.is_dir():
            if entry.name in known:
                out += _strays_in(landing, path, entry.name)
                continue
            hint = closest(entry.name, known)
            kind = "case" if hint and hint.lower() == entry.name.lower() else "folder"
            files = _files_under(path)
            out.append(Stray(f"{entry.name}/", kind, hint, files, hint, tuple(known)))
        elif entry.is_file():
            stem = entry.name.split(".")[0]
            word = stem.split("_20")[0].split("-20")[0]  # orders_2025-03-14 -> orders
            hint = closest(word, known, cutoff=0.6)
            out.append(Stray(entry.name, "root", hint, 1, hint))
    return out


def _strays_in(landing: Path, folder: Path, name: str) -> list[Stray]:
    out = []
    with os.scandir(folder) as entries:
        inside = sorted(entries, key=lambda e: e.name)
    for entry in inside:
        if hidden(entry.name) and not is_delivery(entry.name):
            continue
        rel = Path(entry.path).relative_to(landing).as_posix()
        if entry.is_dir():
            out.append(Stray(f"{rel}/", "nested", None, _files_under(Path(entry.path)), name))
        elif entry.is_file() and inner_suffix(entry.name) is None:
            out.append(Stray(rel, "extension", _extension_hint(Path(entry.path)), 1, name))
    return out


def source_folders(settings) -> list[str]:
    """The landing folders the sources read (a source's own, or the one kpi.yaml gives it)."""
    from pipelines.ingest.contracts import SOURCES

    return sorted({settings.source(source).folder for source in SOURCES})


#: the formats ingestion reads, as a list for messages
FORMATS_TEXT = ", ".join([*READERS, ".gz", ".zip"])


def stray_notice(stray: Stray) -> str:
    """What to say of a :class:`Stray`, in the active language: what it is and what to do."""
    from pipelines.i18n import _, ngettext

    files = ngettext("{n} file", "{n} files", stray.files).format(n=stray.files)
    if stray.kind == "case":
        return _(
            "{path}: not loaded ({files}): folder names are case-sensitive; move them to {hint}/"
        ).format(path=stray.path, files=files, hint=stray.hint)
    if stray.kind == "folder":
        hint = (
            _("did you mean {hint}/?").format(hint=stray.hint)
            if stray.hint
            else _("the sources' folders are {folders}").format(folders=", ".join(stray.known))
        )
        return _("{path}: not loaded ({files}): no source reads this folder; {hint}").format(
            path=stray.path, files=files, hint=hint
        )
    if stray.kind == "nested":
        return _(
            "{path}: not loaded ({files}): only the files directly in {folder}/ are read; "
            "move them up"
        ).format(path=stray.path, files=files, folder=stray.folder)
    if stray.kind == "root":
        where = (
            _("move it to {hint}/").format(hint=stray.hint)
            if stray.hint
            else _("move it to its source's folder")
        )
        return _("{path}: not loaded: a file outside any source's folder; {where}").format(
            path=stray.path, where=where
        )
    hint = (
        _("it looks like {ext}: rename it so").format(ext=stray.hint)
        if stray.hint
        else _("export it as one of these")
    )
    return _("{path}: not loaded: not a format ingestion reads ({formats}); {hint}").format(
        path=stray.path, formats=FORMATS_TEXT, hint=hint
    )


def empty_notice(file: str, source: str, day: object) -> str:
    """What to say of a delivered file without rows (a header at most)."""
    from pipelines.i18n import _

    return _(
        "{file}: empty (no rows, a header at most): not loaded, and {day} counts as not "
        "delivered for {source}. Deliver the day's file again with its rows."
    ).format(file=file, day=day, source=source)
