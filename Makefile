# Two commands set up everything on a fresh machine with only Python 3.11:
#   make demo   - generate the sample shop and run the nightly pipeline over its whole range
#   make test   - run the whole test suite (the Spark test included: `make spark-env`)
# While working, `make test-fast` runs the tests not marked slow (no nightly job over a
# generated shop, no browser). The browser tests need Debian's chromium and CJK fonts:
# `make system-deps` installs them (`make test` runs it first), and the BI test runs Apache
# Superset from its own environment, `make superset-env` (also run by `make test`). After an
# intended change to the Dagster graph, `KPI_UPDATE_SNAPSHOTS=1 make test-fast` rewrites
# tests/snapshots/definitions.txt.
PYTHON ?= python3.11
TOOLS := .tools
VENV := .venv
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test test-fast system-deps env spark-env superset-env lint bench clean

$(UV):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.5,<0.14"

# an environment that has the spark extra (make spark-env) keeps it when it is synced again
$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON) $(if $(wildcard $(VENV)/.spark-synced),--extra spark)
	@touch $@

env: $(VENV)/.synced

# Apache Superset for the BI test (tests/test_superset.py), in its own environment: its pins
# (SQLAlchemy 1.4, pandas 2.1) cannot live in the project's. Made once, remade when its
# requirements change; the test fails, never skips, without it.
SUPERSET_ENV := $(TOOLS)/superset
SUPERSET_REQUIREMENTS := tests/superset/requirements.txt

$(SUPERSET_ENV)/.synced: $(UV) $(SUPERSET_REQUIREMENTS)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(SUPERSET_ENV)
	VIRTUAL_ENV=$(SUPERSET_ENV) $(UV) pip sync --quiet --python $(SUPERSET_ENV)/bin/python \
		$(SUPERSET_REQUIREMENTS)
	@touch $@

superset-env: $(SUPERSET_ENV)/.synced

demo: env
	$(VENV)/bin/kpi demo

# pytest exits 5 when it collects no tests: a failure of the suite, not a pass
define run_pytest
@$(VENV)/bin/python -m pytest $(1) $(PYTEST_ARGS); rc=$$?; \
if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing the suite" >&2; exit 1; fi; \
exit $$rc
endef

# everything, the browser and Spark tests included: what they need is installed first
test: env system-deps superset-env spark-env
	$(call run_pytest,)

# the tests not marked slow (tests/conftest.py marks those of the built shop) nor spark
test-fast: env
	$(call run_pytest,-m "not slow and not spark")

# Spark as a second engine (docs/spark.md): the project's `spark` extra (dbt-spark, pyspark)
# in the main environment, and Debian's Java runtime pyspark needs, installed when missing.
# Then `dbt build --target spark` and the tests marked spark run.
SPARK_JAVA := openjdk-17-jre-headless

$(VENV)/.spark-synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON) --extra spark
	@touch $@ $(VENV)/.synced

spark-env: $(VENV)/.spark-synced
	@if command -v java >/dev/null 2>&1; then \
		echo "java present: $$(command -v java)"; \
	else \
		command -v apt-get >/dev/null 2>&1 || { echo "apt-get not found: install a Java 17 runtime ($(SPARK_JAVA)) with your system's package manager" >&2; exit 1; }; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SPARK_JAVA); \
	fi

# Debian's chromium and CJK fonts for the browser tests (Playwright's own browser download
# does not work here); does nothing when both are installed
CHROMIUM := /usr/bin/chromium
SYSTEM_PACKAGES := chromium fonts-noto-cjk
SUDO := $(if $(filter 0,$(shell id -u)),,sudo -n)

system-deps:
	@if [ -x $(CHROMIUM) ] && dpkg-query -W -f='$${Status}\n' fonts-noto-cjk 2>/dev/null | grep -q "ok installed"; then \
		echo "system packages present: $(SYSTEM_PACKAGES)"; \
	else \
		command -v apt-get >/dev/null 2>&1 || { echo "apt-get not found: install $(SYSTEM_PACKAGES) with your system's package manager" >&2; exit 1; }; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES); \
	fi

# the benchmark (not a test): BENCH_ARGS="--levels 1k,10k" to narrow it; see bench/run.py
bench: env
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)

# ruff, then sqlfluff on the dbt project's SQL (.sqlfluff; the tree's macro, which the models
# call, written first: it is generated and git-ignored)
lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m kpi_tree.dbt_export --check
	$(VENV)/bin/python -c "from kpi_tree.dbt_export import write_dbt_macro; write_dbt_macro()"
	$(VENV)/bin/sqlfluff lint dbt_project

clean:
	rm -rf $(VENV) $(TOOLS) data
