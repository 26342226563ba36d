# Two commands do all set-up: `make demo` and `make test` (they create .venv when missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= config/demo.yaml

# extract the texts marked for translation and merge them into the English catalogue (socialquality/i18n.py)
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k pgettext:1c,2 --no-location --sort-output -o socialquality/locale/messages.pot .
	$(BIN)/pybabel update -i socialquality/locale/messages.pot -d socialquality/locale -l en --no-fuzzy-matching --ignore-obsolete

.PHONY: messages demo test ui bench bench-effects bench-national bench-districts install clean validate plan-check

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/socialquality demo --config $(CONFIG)

test: $(STAMP)
	$(BIN)/python -m pytest -q

ui: $(STAMP)
	SOCIALQUALITY_CONFIG=$(CONFIG) DAGSTER_HOME=$$($(BIN)/socialquality dagster-home --config $(CONFIG)) $(BIN)/dagster dev -w workspace.yaml

validate: $(STAMP)
	SOCIALQUALITY_CONFIG=$(CONFIG) DAGSTER_HOME=$$($(BIN)/socialquality dagster-home --config $(CONFIG)) $(BIN)/dagster definitions validate -w workspace.yaml

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# the sampling planner's promises for the demo's next wave, checked by simulation (after `make demo`)
plan-check: $(STAMP)
	$(BIN)/python benchmarks/check_plan.py --replicates 40

# simulation study of the effect verdicts (docs/methods_effects.md, section 5): 30 cells x 1,000 cities
bench-effects: $(STAMP)
	$(BIN)/python benchmarks/sim_effects.py --reps 1000 --workers 2 --out benchmarks/results_sim_effects.md --check

# The national benchmark (docs/operations.md 10.1), with the city stages: the whole country on PostgreSQL
# (1,000,000 respondents a wave, 3,400 districts, 10 waves from an empty warehouse), then 1/4 and 1/16 of it on
# PostgreSQL and 1/16 on SQLite (10 waves each); NATIONAL_ARGS overrides (e.g. --runs sqlite:1:10).
NATIONAL_ARGS ?= --runs postgresql:1:10,postgresql:0.25:10,postgresql:0.0625:10,sqlite:0.0625:10
bench-national: $(STAMP)
	PYTHONPATH=. $(BIN)/python benchmarks/bench_national.py $(NATIONAL_ARGS) --out var/bench_national.jsonl

bench-districts: $(STAMP)
	PYTHONPATH=. $(BIN)/python benchmarks/bench_districts.py

clean:
	rm -rf var/ .pytest_cache .hypothesis
