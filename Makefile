# make run    the whole platform in one process (embedded backends, mock provider)
# make test   the test suite (starts RabbitMQ, Redis and PostgreSQL on loopback if needed)
# make lint   ruff + mypy + import-linter (the layering contracts in pyproject.toml)
# make bench  the benchmarks in bench/ (results go to bench/RESULTS.md by hand)

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?=

.PHONY: run test lint bench services services-stop clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(VENV)/bin/pip install -q --disable-pip-version-check uv
	@$(VENV)/bin/uv pip sync -q --python $(PY) requirements.lock
	@rm -f $(VENV)/.installed-*; touch $@

run: $(STAMP)
	$(PY) index.py

# Tests need real RabbitMQ, Redis and PostgreSQL: use the URLs from the environment when
# set (CI exports them), otherwise start local ones with scripts/services.sh.
test: $(STAMP)
	@if [ -z "$$QUEUE_CONNECTIONURL" ]; then eval "$$(scripts/services.sh start)"; fi; \
	PYTHONPATH=. $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .
	PYTHONPATH=. $(VENV)/bin/lint-imports

bench: $(STAMP)
	@if [ -z "$$QUEUE_CONNECTIONURL" ]; then eval "$$(scripts/services.sh start)"; fi; \
	for b in bench/*.py; do echo "== $$b"; PYTHONPATH=. $(PY) $$b || exit 1; done

services:
	@scripts/services.sh start

services-stop:
	@scripts/services.sh stop

clean:
	rm -rf $(VENV) .data .services .pytest_cache .mypy_cache .ruff_cache
