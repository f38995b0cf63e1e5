# Everything installs from nothing: `make test` and `make demo` create .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Debian packages the tests use when present: what the translation corpora are
# rebuilt from (FreeDict; the SWORD Bible modules and their reader mod2imp).
# The extracted corpora themselves ship.
DEBIAN_PACKAGES := dict-freedict-deu-eng libsword-utils sword-text-web sword-text-sparv
# The speech corpus: flite voices, and real recordings (alsa-utils' "Front
# Left"..., ktuberling-data's and klettres-data's words, saytime's numbers)
# for real negatives and the real-speech check.
DEBIAN_PACKAGES += flite alsa-utils ktuberling-data klettres-data saytime

.PHONY: install system-packages test demo bench lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

system-packages:
	@missing=""; for package in $(DEBIAN_PACKAGES); do \
	  dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	    $$sudo apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "note: cannot install$$missing without apt-get; tests needing it skip"; fi; \
	fi

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

# Two processes, each test file whole in one (its module fixtures built once):
# most of a test's time is tracing TensorFlow graphs in one Python thread, so
# two nearly halve the suite on CI's 2 cores (23:50 -> 13:21 here).
# TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
test: lint system-packages
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(PY) -m lstm_keras bench --xla --bidirectional --write docs/benchmarks.md

demo: install system-packages
	$(PY) -m lstm_keras demo

clean:
	rm -rf $(VENV) .pytest_cache
