"""Where things live and the few knobs a shop sets, in one place.

Every location hangs off one setting, the data directory: ``KPI_DATA_DIR`` in the environment
or ``--data-dir`` on the CLI (default ``./data``). A project config file (``kpi.yaml`` in the
working directory, or the file named by ``KPI_CONFIG``) sets the rest: the business time
zone, the bad-row threshold, the partition start, the nightly time, per-source column
mappings and time zones, targets and alert channels, the currency and display locale, and
the shop's vocabulary (its channels, carriers, payment methods and topics). Everything has a
default, so nothing has to be configured for the demo.

The file is read into pydantic models (:func:`config_model` and its sections; their JSON
schema, for editors, is ``schemas/kpi.schema.json``): an unknown key at any level, a value of the
wrong kind or out of range, an unknown time zone or source is a :class:`ConfigError` that
names the file and the key's place (``sources.orders.encoding``). Secrets never go in the
file: channels name the environment variables that hold them (``url_env``, ``secret_env``,
``password_env``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import glob
import os
import re
import urllib.parse
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

import yaml
from babel.numbers import list_currencies
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    Strict,
    ValidationError,
    create_model,
    model_validator,
)

from kpi_tree.config import (
    ConfigModel,
    Flag,
    Integer,
    Number,
    Text,
    blank,
    describe,
    problem,
    report,
)
from kpi_tree.formats import DEFAULT_CURRENCY, DEFAULT_LOCALE, LOCALES, Formats, is_currency
from kpi_tree.vocabulary import DEFAULT_VOCABULARY, ColumnMembers, Vocabulary
from pipelines.alerts.delivery import ChannelConfig, Owner

if TYPE_CHECKING:
    from pipelines.ingest.contracts import SourceSpec
    from pipelines.ingest.mapping import SourceMapping

DATA_DIR_ENV = "KPI_DATA_DIR"
CONFIG_ENV = "KPI_CONFIG"
DEFAULT_CONFIG_FILE = "kpi.yaml"
DEFAULT_MEMORY_LIMIT = "2GB"


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file, the key and what to do."""


# ---- values ------------------------------------------------------------------------------


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        close = difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as Asia/Shanghai or UTC{hint}"
        ) from None
    return name


_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


def _memory(value: str) -> str:
    value = value.strip()
    if not _MEMORY.match(value):
        raise ValueError(
            f"must be an amount such as 2GB or 1500MB (KB, MB, GB, TB, KiB, MiB, GiB, TiB), "
            f"not {value!r}"
        )
    return value


_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _unquoted_time(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads 02:30 unquoted as sexagesimal: 2 × 60 + 30
        raise ValueError(
            f'YAML read the time as the number {value}: quote it, e.g. nightly_time: "02:30"'
        )
    return value


def _clock(value: str) -> str:
    if not _CLOCK.match(value):
        raise ValueError(f'must be a time HH:MM of the business day, e.g. "02:30", not {value!r}')
    return value


def _iso_date(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        raise ValueError("must be a date YYYY-MM-DD, without a time")
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"must be a date YYYY-MM-DD, not {value!r}") from None
    return value


def _currency(code: str) -> str:
    if not is_currency(code):
        close = difflib.get_close_matches(code.upper(), sorted(list_currencies()), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ValueError(
            f"unknown currency {code!r}: use an ISO 4217 code such as CNY, USD or EUR{hint}"
        )
    return code


def _base_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"must be an http(s) URL with a host, e.g. https://kpi.shop.example/, not {url!r}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must be a plain address: no query, fragment or user info")
    return url if url.endswith("/") else url + "/"


#: an IANA time zone name (``Asia/Shanghai``, ``UTC``)
TimeZoneName = Annotated[str, Strict(), AfterValidator(_zone)]
Share = Annotated[Number, Field(ge=0, le=1)]
NonNegative = Annotated[Number, Field(ge=0)]


# ---- the file's sections -------------------------------------------------------------------


def _source_settings(spec: SourceSpec) -> type[SourceMapping]:
    """The ``sources.<name>`` section of one source: how its files map onto its contract
    (``pipelines/ingest/mapping.py``), and its time zone when it has timestamps."""
    from pipelines.ingest.mapping import source_model

    extra: dict[str, Any] = {}
    if spec.timestamp_columns:
        extra["timezone"] = (
            TimeZoneName | None,
            Field(
                None,
                description="the zone of timestamps written without an offset (default: "
                "business_timezone)",
            ),
        )
    return source_model(spec, extra)


def _one_or_more(value: Any) -> Any:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


class TargetSettings(ConfigModel):
    """The ``targets:`` section of the config: plan files, pace thresholds, the mid-month check."""

    #: plan files (globs; relative to the config file's folder, or to the data directory for
    #: the default) that the nightly run turns into a new version whenever one changes
    plans: Annotated[
        tuple[Text, ...],
        BeforeValidator(_one_or_more, json_schema_input_type=str | list[str] | None),
    ] = Field(
        (),
        description="plan files (globs, relative to this file's folder); default: "
        "<data dir>/targets/plans/*.yaml",
    )
    #: attainment of the paced target: >= on_track is on track, >= at_risk at risk, else short
    on_track: NonNegative = Field(1.0, description="attainment at or above it is on track")
    at_risk: NonNegative = Field(0.9, description="attainment at or above it is at risk")
    #: the day of the month the mid-month check (月中检) looks at
    mid_month_day: Annotated[Integer, Field(ge=1, le=28)] = 15
    #: drivers planned as null take the trailing history of this many days
    trailing_days: Annotated[Integer, Field(ge=1)] = 91
    #: recorded on versions the nightly run makes from plan files
    author: Text = "nightly run"

    @model_validator(mode="after")
    def _ordered(self) -> TargetSettings:
        if self.at_risk > self.on_track:
            raise problem(
                "at_risk",
                f"must be <= on_track ({self.on_track:g}): attainment >= on_track is on track, "
                ">= at_risk at risk, below it short",
            )
        return self


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date, json_schema_input_type=dt.date)]


class CompletenessSettings(ConfigModel):
    """The ``completeness:`` section: when a delivery day is too small to publish
    (expectations/completeness.py)."""

    band: Share = Field(
        0.5,
        description="a day whose rows are below this share of the median of the same weekday "
        "over the last `weeks` weeks is incomplete: the units that read the source are held back",
    )
    weeks: Annotated[Integer, Field(ge=1)] = Field(
        4, description="the same weekdays a day is compared with; fewer delivered: not judged"
    )
    min_usual_rows: Annotated[Integer, Field(ge=0)] = Field(
        50, description="a source whose usual day has fewer rows is not judged (too noisy)"
    )
    accept: Annotated[dict[Text, tuple[IsoDate, ...]], blank({}, dict[str, list[dt.date]])] = Field(
        {}, description="source -> delivery days accepted as they are, however small"
    )


class AlertSettings(ConfigModel):
    """The ``alerts:`` section: where each team's alerts go and when a night re-alerts."""

    #: team id (or ``default``) -> its channels (see pipelines/alerts/delivery.py); a team
    #: without its own list uses ``default``; the default default is the file sink
    channels: Annotated[
        dict[Text, tuple[ChannelConfig, ...]], blank({}, dict[str, list[ChannelConfig]])
    ] = Field({}, description="team id (or default) -> its list of channels")
    #: where a failed night is told, besides the owners of the units it stopped
    operator: Annotated[tuple[ChannelConfig, ...], blank((), list[ChannelConfig])] = Field(
        (), description="the operator's channels: every failed night (default: the default ones)"
    )
    realert_points: NonNegative = Field(
        5.0, description="a shortfall alerted already is alerted again when it grows by this"
    )
    retries: Annotated[Integer, Field(ge=1)] = Field(3, description="sends tried per channel")
    backoff_seconds: NonNegative = Field(2.0, description="doubles after each failed send")
    budget_seconds: Annotated[Number, Field(gt=0)] = Field(
        60.0,
        description="the longest a run spends delivering (all channels at once); what is "
        "not delivered by then is sent again by the next run",
    )
    #: team id -> the people its chat messages @-mention (by their id on each platform)
    owners: Annotated[dict[Text, tuple[Owner, ...]], blank({}, dict[str, list[Owner]])] = Field(
        {}, description="team id -> the people its alerts and digest @-mention in its chats"
    )
    digest: Flag = Field(
        True, description="send each team its morning digest after the nightly run"
    )
    digest_time: (
        Annotated[
            str,
            BeforeValidator(_unquoted_time, json_schema_input_type=str),
            Strict(),
            AfterValidator(_clock),
            Field(json_schema_extra={"pattern": _CLOCK.pattern}),
        ]
        | None
    ) = Field(
        None,
        description="when the digest is pushed, HH:MM business time (the morning meeting's), "
        "with the newest night's numbers; none: right after the nightly run",
    )

    @model_validator(mode="after")
    def _known_teams(self) -> AlertSettings:
        from kpi_tree.model import default_tree

        teams = [*default_tree().teams, "default"]
        for section in ("channels", "owners"):
            for team in getattr(self, section):
                if team not in teams:
                    close = difflib.get_close_matches(team, teams, n=1)
                    hint = f"did you mean {close[0]}? " if close else ""
                    raise problem(
                        (section, team),
                        f"is not a team of the tree: {hint}the teams are {', '.join(teams)}",
                    )
        return self


class ServeSettings(ConfigModel):
    """The ``serve:`` section: where `kpi serve` serves the board and the quality reports, and
    the address readers reach it at (the chat messages' button, Dagster's links)."""

    host: Text = Field("127.0.0.1", description="the address `kpi serve` listens on")
    port: Annotated[Integer, Field(ge=1, le=65535)] = Field(
        8765, description="the port `kpi serve` listens on"
    )
    base_url: Annotated[str, Strict(), AfterValidator(_base_url)] | None = Field(
        None,
        description="where readers reach `kpi serve` (or a proxy in front of it), e.g. "
        "https://kpi.shop.example/: the alerts' button to the board and Dagster's links to "
        "the quality reports point there; none: no button, file links",
    )


#: DuckDB's name of a storage format: ``v1.0.0`` ... ``v2.0.0``, or ``latest``
_STORAGE_VERSION = re.compile(r"^(v\d+\.\d+\.\d+|latest)$")


def _storage_version(value: str) -> str:
    if not _STORAGE_VERSION.match(value):
        raise ValueError(
            f"'{value}' is not a DuckDB storage version: write it as DuckDB names it, "
            "'v1.0.0' (read by DuckDB 1.0 and later), 'v1.2.0', ... or 'latest'"
        )
    return value


class ServingSettings(ConfigModel):
    """The ``serving:`` section: the serving file BI tools open (docs/serving.md)."""

    #: the DuckDB storage format the serving file is written in: the oldest DuckDB that must
    #: open it decides (a BI tool bundles its own DuckDB, often a year old)
    storage_version: Annotated[str, Strict(), AfterValidator(_storage_version)] = Field(
        "v1.0.0",
        description="the DuckDB storage format of the serving file: v1.0.0 is read by DuckDB "
        "1.0 and later (the oldest format that holds its types); latest is the running "
        "DuckDB's own",
    )


class _KpiConfig(ConfigModel):
    """kpi.yaml: the project's settings. Every key is optional."""

    data_dir: Text | None = Field(
        None, description="where landing files and warehouses live (KPI_DATA_DIR wins)"
    )
    business_timezone: TimeZoneName = Field(
        "Asia/Shanghai", description="days are business days in this zone"
    )
    bad_row_threshold: Share = Field(
        0.05, description="a file with a larger share of bad rows is rejected"
    )
    partitions_start: Annotated[
        dt.date, BeforeValidator(_iso_date, json_schema_input_type=dt.date)
    ] = Field(dt.date(2024, 1, 1), description="the first daily partition")
    date_horizon_days: Annotated[int, Strict(), Field(ge=0)] = Field(
        1,
        description="a row dated more than this many days after the run's date is quarantined",
    )
    nightly_time: Annotated[
        str,
        BeforeValidator(_unquoted_time, json_schema_input_type=str),
        Strict(),
        AfterValidator(_clock),
        Field(json_schema_extra={"pattern": _CLOCK.pattern}),
    ] = Field("02:30", description="when the nightly schedule runs, HH:MM business time")
    engine: Literal["duckdb", "spark"] = Field(
        "duckdb",
        description="the engine dbt builds the tree on: duckdb (the build warehouse file) or "
        "spark (dbt-spark; `make spark-env`; docs/spark.md)",
    )
    memory_limit: Annotated[str, Strict(), AfterValidator(_memory)] = Field(
        DEFAULT_MEMORY_LIMIT,
        description="DuckDB's cap for the build warehouse; beyond it DuckDB spills to disk",
    )
    currency: Annotated[str, Strict(), AfterValidator(_currency)] = Field(
        DEFAULT_CURRENCY, description="the shop's currency, an ISO 4217 code (CNY, USD, EUR)"
    )
    locale: Literal[tuple(LOCALES)] | None = Field(  # type: ignore[valid-type]
        None,
        description="the language of the CLI, the alerts and the board (which has both) and "
        "how numbers are written; default: zh_CN when business_timezone is in mainland China, "
        "else en_US (KPI_LOCALE wins)",
    )
    vocabulary: Annotated[Vocabulary, blank({}, Vocabulary)] = Field(
        DEFAULT_VOCABULARY,
        description="the members of channels, carriers, payment methods and topics, their "
        "labels and roles",
    )
    targets: Annotated[TargetSettings, blank({}, TargetSettings)] = TargetSettings()
    alerts: Annotated[AlertSettings, blank({}, AlertSettings)] = AlertSettings()
    completeness: Annotated[CompletenessSettings, blank({}, CompletenessSettings)] = (
        CompletenessSettings()
    )
    serving: Annotated[ServingSettings, blank({}, ServingSettings)] = ServingSettings()
    serve: Annotated[ServeSettings, blank({}, ServeSettings)] = ServeSettings()


@cache
def config_model() -> type[_KpiConfig]:
    """The model of kpi.yaml: its settings and a ``sources`` section with a key per source,
    which takes the source's own columns (and its time zone, when it has timestamps)."""
    # here, not at the top: the contracts import pandera, which a command that never reads
    # the config (`kpi --help`) should not wait for
    from pipelines.ingest.contracts import SOURCE_SPECS

    sections = {name: _source_settings(spec) for name, spec in SOURCE_SPECS.items()}
    sources = create_model(
        "SourcesSettings",
        __base__=ConfigModel,
        __doc__="Per source: how the shop's files map onto its contract (a preset, column "
        "names, constants, ids, formats, value maps, ...) and the time zone of its timestamps.",
        **{
            name: (Annotated[model, blank({}, model)], model())  # type: ignore[valid-type]
            for name, model in sections.items()
        },
    )
    return create_model(
        "KpiConfig",
        __base__=_KpiConfig,
        __doc__=_KpiConfig.__doc__,
        sources=(Annotated[sources, blank({}, sources)], sources()),  # type: ignore[valid-type]
    )


# ---- the settings the code uses ------------------------------------------------------------


@dataclass(frozen=True)
class SourceConfig:
    """One source as the shop delivers it."""

    name: str
    #: the zone of timestamps written without an offset: the one kpi.yaml declares, else the
    #: business zone; None: the source has no timestamps
    timezone: str | None
    #: their column name -> our column name
    columns: dict[str, str] = field(default_factory=dict)
    #: whether kpi.yaml declares ``timezone``; when it does not, the run says once which
    #: zone it assumed (docs/sources.md, "Dates and time zones")
    timezone_declared: bool = True
    #: the business zone: a date without a time (``2025-03-14``) is that day in it, whatever
    #: zone the source's timestamps are in
    business_timezone: str | None = None
    #: the columns whose values are members of the shop's vocabulary, and what an unknown
    #: value becomes; empty: the contract's own (the default vocabulary's members)
    members: tuple[ColumnMembers, ...] = ()
    #: how the shop's files map onto the contract (``sources.<name>`` of kpi.yaml, a preset
    #: merged in); None: as the contract has them
    mapping: SourceMapping | None = None

    @property
    def folder(self) -> str:
        """The landing folder its files are read from: its own, or another source's."""
        return (self.mapping.folder if self.mapping else None) or self.name


@dataclass(frozen=True)
class Settings:
    """The settings of this process: the config file's, with the data directory resolved."""

    data_dir: Path
    config_file: Path | None
    business_timezone: str
    bad_row_threshold: float
    partitions_start: str  # ISO date
    nightly_hour: int
    nightly_minute: int
    #: DuckDB's memory cap for the build warehouse (ours and dbt's connections); beyond it
    #: DuckDB spills to disk instead of growing with the history
    memory_limit: str
    sources: Mapping[str, SourceConfig]
    targets: TargetSettings
    alerts: AlertSettings
    #: ISO 4217 code of the shop's currency, and the display locale (zh_CN or en_US): the
    #: language of the CLI and the alerts and how numbers are written
    currency: str = DEFAULT_CURRENCY
    locale: str = DEFAULT_LOCALE
    vocabulary: Vocabulary = DEFAULT_VOCABULARY
    serving: ServingSettings = ServingSettings()
    serve: ServeSettings = ServeSettings()
    #: a row dated more than this many days after the run's date (the day it runs, in the
    #: business zone) is quarantined: a mistyped year is not a day to build or to wait for
    date_horizon_days: int = 1
    completeness: CompletenessSettings = CompletenessSettings()
    #: the engine dbt builds the tree on (duckdb or spark), and so the dbt target it runs
    engine: str = "duckdb"

    def date_horizon(self, now: dt.datetime | None = None) -> dt.date:
        """The last business date a row may carry in a run at ``now`` (default: now)."""
        now = (now or dt.datetime.now(dt.UTC)).astimezone(self.tz)
        return now.date() + dt.timedelta(days=self.date_horizon_days)

    @property
    def formats(self) -> Formats:
        """How numbers are written for this shop (its currency, its locale)."""
        return Formats(self.currency, self.locale)

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def warehouse_dir(self) -> Path:
        return self.data_dir / "warehouse"

    @property
    def build_db(self) -> Path:
        return self.warehouse_dir / "build.duckdb"

    @property
    def dbt_target(self) -> str:
        """The target of dbt_project/profiles.yml that builds on :attr:`engine`."""
        return {"duckdb": "build", "spark": "spark"}[self.engine]

    @property
    def spark_dir(self) -> Path:
        """Spark's warehouse and metastore (the profile's KPI_SPARK_DIR)."""
        return self.data_dir / "spark"

    @property
    def spark_raw_dir(self) -> Path:
        """The validated raw rows handed to Spark: Parquet, ``<source>/_partition_date=<day>/``."""
        return self.spark_dir / "raw"

    @property
    def spark_targets_dir(self) -> Path:
        """The plan versions and their targets handed to Spark: Parquet, one folder a table."""
        return self.spark_dir / "targets"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.business_timezone)

    def source(self, name: str) -> SourceConfig:
        return self.sources[name]

    @property
    def targets_dir(self) -> Path:
        """Plan files dropped here are versioned by the nightly run; versions live below."""
        return self.data_dir / "targets"

    def plan_files(self) -> list[Path]:
        """The plan files the nightly run versions: ``targets.plans`` globs, else the drop
        folder ``<data>/targets/plans/*.yaml``."""
        if self.targets.plans:
            base = self.config_file.parent if self.config_file else Path.cwd()
            patterns = [str(p if Path(p).is_absolute() else base / p) for p in self.targets.plans]
        else:
            patterns = [str(self.targets_dir / "plans" / "*.yaml")]
        found: list[Path] = []
        for pattern in patterns:
            matches = sorted(Path(m) for m in glob.glob(pattern))
            if not matches and not glob.has_magic(pattern):
                raise FileNotFoundError(f"targets.plans: no such plan file {pattern}")
            found.extend(m for m in matches if m not in found)
        return found


def _source_config(
    name: str, conf: SourceMapping, business_timezone: str, vocabulary: Vocabulary
) -> SourceConfig:
    """One source's :class:`SourceConfig` from its ``sources.<name>`` section: the zone of its
    timestamps without an offset is the one the section declares, else the business zone
    (and the run says so once); its members are the shop's vocabulary's."""
    from pipelines.ingest.contracts import SOURCE_SPECS  # loaded by config_model already

    has_timestamps = "timezone" in type(conf).model_fields
    declared = getattr(conf, "timezone", None)
    return SourceConfig(
        name,
        declared or (business_timezone if has_timestamps else None),
        dict(conf.columns),
        timezone_declared=declared is not None or not has_timestamps,
        business_timezone=business_timezone,
        members=vocabulary.column_members(SOURCE_SPECS[name].members),
        mapping=conf,
    )


def source_config(
    name: str,
    section: Mapping[str, Any],
    business_timezone: str | None = None,
    vocabulary: Vocabulary | None = None,
) -> SourceConfig:
    """One source as a ``sources.<name>`` section of kpi.yaml describes it (e.g. ``{"preset":
    "shopify"}``, for `kpi check --preset`), in a shop whose business zone and vocabulary
    are given (default: the defaults); :class:`ConfigError` says what is wrong."""
    model = config_model()
    data: dict[str, Any] = {"sources": {name: dict(section)}}
    if business_timezone is not None:
        data["business_timezone"] = business_timezone
    try:
        config = model.model_validate(data)
    except ValidationError as err:
        raise ConfigError("; ".join(describe(model, err))) from None
    conf = getattr(config.sources, name)  # type: ignore[attr-defined]
    return _source_config(name, conf, config.business_timezone, vocabulary or config.vocabulary)


def _config_path() -> Path | None:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"{CONFIG_ENV}={explicit}: no such config file")
        return path
    local = Path.cwd() / DEFAULT_CONFIG_FILE
    return local if local.is_file() else None


def _may_hold_secrets(place: tuple[str | int, ...]) -> bool:
    return place[:2] == ("alerts", "channels")


def read_config(path: Path | None) -> _KpiConfig:
    """The config file checked (the defaults without one); :class:`ConfigError` says what is
    wrong with it, each problem on a line of its own."""
    model = config_model()
    if path is None:
        return model()
    try:
        with path.open(encoding="utf-8") as fh:  # a stream: YAML's errors name the file
            data = yaml.safe_load(fh)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    try:
        return model.model_validate({} if data is None else data)
    except ValidationError as err:
        # `from None`: pydantic's own error would carry the values it was given
        lines = describe(model, err, quiet=_may_hold_secrets)
        raise ConfigError(report(str(path), lines)) from None


def load_settings(data_dir: str | Path | None = None) -> Settings:
    """Read the settings: explicit argument > ``KPI_DATA_DIR`` > ``data_dir`` > ``./data``."""
    config_file = _config_path()
    config = read_config(config_file)
    chosen = data_dir or os.environ.get(DATA_DIR_ENV) or config.data_dir or "data"
    hour, minute = (int(p) for p in config.nightly_time.split(":"))
    sources = {}
    for name, conf in config.sources:  # type: ignore[attr-defined]
        sources[name] = _source_config(name, conf, config.business_timezone, config.vocabulary)
    return Settings(
        data_dir=Path(chosen).resolve(),
        config_file=config_file,
        business_timezone=config.business_timezone,
        bad_row_threshold=config.bad_row_threshold,
        partitions_start=config.partitions_start.isoformat(),
        nightly_hour=hour,
        nightly_minute=minute,
        memory_limit=config.memory_limit,
        sources=sources,
        targets=config.targets,
        alerts=config.alerts,
        currency=config.currency,
        locale=_locale(config),
        vocabulary=config.vocabulary,
        serving=config.serving,
        serve=config.serve,
        date_horizon_days=config.date_horizon_days,
        completeness=config.completeness,
        engine=config.engine,
    )


def _locale(config: _KpiConfig) -> str:
    """``KPI_LOCALE``, else kpi.yaml's ``locale``, else the business zone's default."""
    from pipelines.i18n import LOCALE_ENV, default_locale

    explicit = os.environ.get(LOCALE_ENV)
    if explicit:
        if explicit not in LOCALES:
            raise ConfigError(
                f"{LOCALE_ENV}={explicit}: not a locale the warehouse speaks; one of "
                f"{', '.join(LOCALES)}"
            )
        return explicit
    return config.locale or default_locale(config.business_timezone)


def raw_config() -> dict[str, Any]:
    """The config file as YAML reads it, unchecked (``{}`` when there is none or it cannot be
    read): for the few values wanted before a command reads the config (the CLI's language).
    """
    try:
        path = _config_path()
        if path is None:
            return {}
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (OSError, yaml.YAMLError, FileNotFoundError):
        return {}
    return data if isinstance(data, dict) else {}


@cache
def settings() -> Settings:
    """The process-wide settings (read once)."""
    return load_settings()
