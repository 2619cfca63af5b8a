# Two commands set up everything on a fresh machine with only Python 3.11:
#   make demo   - generate the sample shop and run the nightly pipeline over its whole range
#   make test   - run the whole test suite
PYTHON ?= python3.11
TOOLS := .tools
VENV := .venv
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: demo test env lint bench clean

$(UV):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.5,<0.14"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

env: $(VENV)/.synced

demo: env
	$(VENV)/bin/kpi demo

test: env
	@$(VENV)/bin/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing the suite" >&2; exit 1; fi; \
	exit $$rc

# the benchmark (not a test): BENCH_ARGS="--levels 1k,10k" to narrow it; see bench/run.py
bench: env
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)

lint: env
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) $(TOOLS) data
