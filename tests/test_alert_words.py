"""Held-back notices in business words, from the gate's failed expectations: which file, which
day, what to do; never the check's own name when there are words for it."""

import datetime as dt

import duckdb

from expectations.completeness import PROBLEM, Band, incomplete_days, orphans
from expectations.verdict import Failure
from kpi_tree.formats import Formats
from kpi_tree.model import default_tree
from kpi_tree.vocabulary import DEFAULT_VOCABULARY
from pipelines import i18n
from pipelines.alerts.heldback import problems
from pipelines.i18n import use

TREE = default_tree()
FOLDERS = {"sessions": "traffic", "orders": "orders"}  # the sessions source moved elsewhere
DAY = dt.date(2025, 4, 5)


def _words(failures, start=DAY, end=DAY, locale="en_US"):
    with use(locale):
        return [
            str(p)
            for p in problems(
                failures, TREE, DEFAULT_VOCABULARY, Formats("CNY", locale), FOLDERS, start, end
            )
        ]


def test_missing_values_are_one_missing_file_with_its_folder_and_the_rerun():
    # sessions and conversion rate's denominator (sessions) have no value on the day
    failures = [
        Failure("days", "expect_column_values_to_not_be_null", column, 1, [f"{DAY} day: x=None"])
        for column in ("sessions", "conversion_rate__denominator")
    ]
    [line] = _words(failures)
    assert "expect_" not in line and "days.sessions" not in line
    assert "2025-04-05" in line
    assert "traffic/" in line  # the source's landing folder as configured, not its name
    assert "`kpi run --date 2025-04-05`" in line
    # both KPIs named, by their names in the tree
    assert TREE.nodes["sessions"].en in line and TREE.nodes["conversion_rate"].en in line


def test_a_value_out_of_range_names_the_kpi_the_value_and_the_file():
    failure = Failure(
        "newest", "expect_column_values_to_be_between", "orders", 1, [f"{DAY} day: orders=3"]
    )
    [line] = _words([failure])
    assert TREE.nodes["orders"].en in line and " is 3," in line
    assert "orders/" in line and "2025-04-05" in line and "expect_" not in line


def test_days_without_data_are_listed_and_rerun_as_a_range():
    seen = [f"{DAY - dt.timedelta(days=2)}", f"{DAY}"]
    failure = Failure("days", "expect_column_distinct_values_to_contain_set", "day", 1, seen)
    [line] = _words([failure], start=DAY - dt.timedelta(days=2), end=DAY)
    # the one day of the window the data does not have
    assert "2025-04-04" in line and "2025-04-03" not in line
    assert "`kpi run --date 2025-04-04`" in line


def test_a_check_without_words_is_named_with_where_it_failed():
    failure = Failure("mart", "expect_something_new", None, 2, [])
    [line] = _words([failure])
    assert "expect_something_new" in line and "mart" in line


def test_the_words_are_in_the_shops_language():
    failures = [
        Failure("days", "expect_column_values_to_not_be_null", "sessions", 1, [f"{DAY} day: x"])
    ]
    [line] = _words(failures, locale="zh_CN")
    assert TREE.nodes["sessions"].zh in line and "2025-04-05" in line
    # no English word left in the sentence (commands and folders are not words)
    prose = line.split("`")[0::2]
    assert not any(w.isascii() and w.isalpha() and len(w) > 2 for p in prose for w in p.split())


def test_every_message_of_the_alerts_and_the_cli_is_in_the_chinese_catalogue():
    # the catalogue against the code's marked messages and the commands' help, as
    # `python -m pipelines.i18n check` reads them: none missing, no placeholder lost
    assert i18n.problems() == []
    with use("zh_CN"):
        assert i18n._("Open the board") == "打开看板"
    with use("en_US"):
        assert i18n._("Open the board") == "Open the board"


def test_the_default_language_follows_the_business_time_zone():
    assert i18n.default_locale("Asia/Shanghai") == "zh_CN"
    assert i18n.default_locale("Asia/Urumqi") == "zh_CN"
    assert i18n.default_locale("PRC") == "zh_CN"  # an alias of Asia/Shanghai
    assert i18n.default_locale("Asia/Hong_Kong") == "en_US"  # not mainland China
    assert i18n.default_locale("Europe/Berlin") == "en_US"


def test_a_night_with_no_rows_at_all_is_said_as_such():
    # what a gate records for a day with no rows: its frames empty (None, NaT, 0 rows)
    failures = [
        Failure("days", "expect_column_distinct_values_to_contain_set", "period_start", 1, [None]),
        Failure("days", "expect_column_max_to_be_between", "period_start", 1, ["NaT"]),
        Failure("newest", "expect_table_row_count_to_equal", None, None, [0]),
    ]
    lines = _words(failures)
    assert lines and all(
        "2025-04-05" in line and "`kpi run --date 2025-04-05`" in line for line in lines
    )
    assert not any("?" in line or "expect_" in line for line in lines)


def _empty_night(day):
    """What a unit's gate records for a night nothing was delivered for (as `kpi run --date`
    of such a day wrote it): no day in the window, no newest row, every regular member absent."""
    return [
        Failure(
            "days", "expect_column_distinct_values_to_contain_set", "period_start", None, [None]
        ),
        Failure("days", "expect_column_max_to_be_between", "period_start", None, ["NaT"]),
        Failure("newest", "expect_table_row_count_to_equal", None, None, [0]),
        Failure(
            "coverage",
            "expect_column_values_to_be_null",
            "missing",
            2,
            ["first_response_mean by topic = aftersale", "orders by channel = organic"],
        ),
        Failure("days", "expect_column_values_to_not_be_null", "sessions", 1, [f"{day} day: x"]),
    ]


def test_an_empty_night_is_one_problem_not_one_per_check():
    for locale in ("en_US", "zh_CN"):
        lines = _words(_empty_night(DAY), locale=locale)
        assert len(lines) == 1, lines
        assert "2025-04-05" in lines[0] and "`kpi run --date 2025-04-05`" in lines[0]


def test_a_missing_newest_day_is_said_when_the_window_has_data():
    # two days of window, the first delivered: the second is missing, said once with its rerun
    start = DAY - dt.timedelta(days=1)
    failures = [
        Failure("days", "expect_column_distinct_values_to_contain_set", "day", 1, [str(start)]),
        Failure("newest", "expect_table_row_count_to_equal", None, None, [0]),
        Failure(
            "newest", "expect_column_values_to_be_between", "orders", 1, [f"{start} day: orders=3"]
        ),
    ]
    lines = _words(failures, start=start, end=DAY)
    assert len(lines) == 2, lines
    assert "2025-04-05" in lines[0] and "2025-04-04" not in lines[0]
    assert " is 3," in lines[1]


def test_a_missing_member_the_tree_fixes_is_named_by_its_label():
    failure = Failure(
        "coverage",
        "expect_column_values_to_be_null",
        "missing",
        1,
        ["orders by customer_type = new"],
    )
    for locale, label in (("zh_CN", "新客"), ("en_US", "new customers")):
        [line] = _words([failure], locale=locale)
        assert label in line, line
    [line] = _words([failure], locale="zh_CN")
    assert " new " not in f" {line} " and "new (" not in line


def test_an_unaccepted_missing_day_names_the_source_the_kpis_and_both_ways_out():
    # the gate's gaps frame: a day sessions never came, not repaired nor accepted
    example = (
        "sessions missing on 2025-01-23 (click_to_session_rate, sessions unknown): deliver the "
        "file and re-run the day, or `kpi gaps accept sessions 2025-01-23 --reason ...`"
    )
    failure = Failure("gaps", "expect_column_values_to_be_null", "unaccepted", 1, [example])
    [line] = _words([failure])
    assert "expect_" not in line and "2025-01-23" in line and "traffic/" in line
    assert TREE.nodes["sessions"].en in line and TREE.nodes["click_to_session_rate"].en in line
    assert "`kpi run --date 2025-01-23`" in line
    assert "`kpi gaps accept sessions 2025-01-23 --reason ...`" in line
    [line] = _words([failure], locale="zh_CN")
    assert TREE.nodes["sessions"].zh in line and "expect_" not in line
    prose = line.split("`")[0::2]
    assert not any(w.isascii() and w.isalpha() and len(w) > 2 for p in prose for w in p.split())


def test_an_expected_value_with_nothing_arrived_says_none_yet_not_zero():
    from pipelines.alerts.words import observed_text

    for locale, none in (("en_US", "none yet"), ("zh_CN", "尚无")):
        formats = Formats("CNY", locale)
        with use(locale):
            assert observed_text(formats, 0, "money") == none
            assert observed_text(formats, 0.0, "ratio") == none
            assert observed_text(formats, 6574.3, "money") == formats.value(6574.3, "money")
            assert observed_text(formats, None, "money") == "–"


def test_the_gates_completeness_sentences_are_said_in_the_readers_language(tmp_path):
    """The gate writes its completeness problems in English (the verdict's record, the data
    docs); a Chinese team's held-back notice says the same problem in Chinese, the source by
    its name, the day, the counts and the command kept. The sentences come from the real
    checks over a real DuckDB ledger: four Mondays of 120 session rows, then one of 10, and
    order lines whose order never came."""
    mondays = [dt.date(2025, 7, 7) + dt.timedelta(weeks=w) for w in range(5)]
    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        con.execute("create schema raw")
        con.execute(
            "create table raw._file_ledger (source varchar, partition_date date, "
            "rows_loaded integer, file varchar, status varchar)"
        )
        for day in mondays:
            rows = 10 if day == mondays[-1] else 120
            con.execute(
                "insert into raw._file_ledger values ('sessions', ?, ?, ?, 'loaded')",
                [day, rows, f"sessions_{day}.csv"],
            )
        con.execute("create table raw.orders (order_id varchar, business_date date)")
        con.execute("insert into raw.orders values ('o1', ?)", [mondays[-1]])
        con.execute("create table raw.order_items (order_id varchar, _partition_date date)")
        con.execute("insert into raw.order_items values ('o9', ?), ('o9', ?)", [mondays[-1]] * 2)
        incomplete = incomplete_days(con, ["sessions"], mondays[-1], mondays[-1], Band())
        lines = orphans(con, ["order_items"], mondays[-1], mondays[-1], maturity_days=14)
    [day_sentence] = incomplete[PROBLEM].tolist()
    [orphan_sentence] = lines[PROBLEM].tolist()
    assert "sessions 2025-08-04 incomplete: 10 rows loaded" in day_sentence
    assert "2 lines of 1 order not in" in orphan_sentence  # each count in its plural form
    failures = [
        Failure("incomplete", "expect_column_values_to_be_null", PROBLEM, 1, [day_sentence]),
        Failure("orphans", "expect_column_values_to_be_null", PROBLEM, 1, [orphan_sentence]),
    ]
    english = " ".join(_words(failures, start=mondays[-1], end=mondays[-1]))
    assert day_sentence in english and orphan_sentence in english
    said = " ".join(_words(failures, start=mondays[-1], end=mondays[-1], locale="zh_CN"))
    assert TREE.sources["sessions"]["zh"] in said and "2025-08-04" in said
    assert "sessions_2025-08-04.csv" in said and "`kpi run --date 2025-08-04`" in said
    assert "10" in said and "120" in said and "50%" in said
    assert "1 笔订单的 2 行明细" in said  # the counts worded again, in Chinese
    # no English word left outside the commands, the config snippet and the file names
    prose = [p for p in said.split("`")[0::2]]
    words = [w.strip("（），。：；") for p in prose for w in p.split()]
    assert not [w for w in words if w.isascii() and w.isalpha() and len(w) > 2], said


def test_the_trees_empty_night_is_said_as_the_missing_day():
    """The shared tree's gate on a night nothing was delivered for finds no KPI with a value:
    its notice says the day has no data and how to re-run it, in the reader's language, not
    the check's name; a night with some KPIs lacking says so."""
    empty = [
        Failure("kpis_present", "expect_column_distinct_values_to_contain_set", "kpi_id", 1, [None])
    ]
    for locale in ("en_US", "zh_CN"):
        [line] = _words(empty, locale=locale)
        assert "2025-04-05" in line and "`kpi run --date 2025-04-05`" in line
        assert "expect_" not in line and "kpis_present" not in line
        if locale == "zh_CN":
            prose = line.split("`")[0::2]
            assert not any(w.isascii() and w.isalpha() for p in prose for w in p.split()), line
    some = [
        Failure(
            "kpis_present",
            "expect_column_distinct_values_to_contain_set",
            "kpi_id",
            1,
            ["gmv", "orders"],
        )
    ]
    [line] = _words(some)
    assert "2025-04-05" in line and "expect_" not in line and "No data at all" not in line
