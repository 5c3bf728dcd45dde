# The two fresh-machine commands of the README: `make demo` and `make test`.
# Both create and use .venv in the repo root.
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system-deps demo lint test test-fast eval-unseen corpus-labels eval-corpus train-default eval-loso eval-lopo docs

# torch first, pinned: 2.13.0 is the CPU build on disk; any other spec pulls a CUDA build.
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Debian packages for the tests: prometheus + promtool, systemd-analyze, openssl (test certificates).
system-deps:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null && command -v systemd-analyze >/dev/null \
	  && command -v openssl >/dev/null || \
	  ($(SUDO) apt-get update && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y prometheus systemd openssl)

demo: install
	$(VENV)/bin/logdelim demo

# ruff and mypy as configured in pyproject.toml.
lint: install
	$(VENV)/bin/ruff check model daemon tools tests docs corpus
	$(VENV)/bin/ruff format --check model daemon tools tests docs corpus
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy docs/gen_config.py docs/gen_performance.py docs/profile_stages.py docs/profile_cold.py

# The generated docs pages: the configuration reference (from daemon/config.py) and the
# performance table (from docs/bench.json). tests/daemon/test_config_docs.py fails when they are stale.
docs: install
	$(PY) docs/gen_config.py > docs/configuration.md
	$(PY) docs/gen_performance.py docs/bench.json

test: install system-deps lint
	$(PY) -m pytest -ra

test-fast: install
	$(PY) -m pytest -ra -m "not slow"

# The model card's figures on the five Loghub systems outside ../shared, from a checkout of
# logpai/logparser (its data/loghub_2k_corrected structured CSVs): make eval-unseen LOGPARSER=path
UNSEEN := HealthApp Mac OpenStack Proxifier Thunderbird
eval-unseen: install
	@test -n "$(LOGPARSER)" || { echo "usage: make eval-unseen LOGPARSER=/path/to/logparser"; exit 2; }
	mkdir -p runs/unseen
	for s in $(UNSEEN); do \
	  $(VENV)/bin/logdelim label --system $$s $(LOGPARSER)/data/loghub_2k_corrected/$$s/$${s}_2k.log_structured_corrected.csv \
	    --out runs/unseen/$$s.jsonl || exit 1; \
	done
	$(VENV)/bin/logdelim eval --data $(foreach s,$(UNSEEN),runs/unseen/$(s).jsonl)

# The real-programs corpus labelled: each program's lines labelled by its format strings
# (corpus/formats/<program>.yaml) into runs/corpus/<program>.jsonl, for training and scoring.
corpus-labels: install
	mkdir -p runs/corpus
	for f in corpus/formats/*.yaml; do \
	  p=$$(basename $$f .yaml); \
	  $(VENV)/bin/logdelim label-logs --formats $$f corpus/logs/$$p.log --out runs/corpus/$$p.jsonl || exit 1; \
	done

# The shipped model against the rules on the corpus, per program.
eval-corpus: corpus-labels
	$(VENV)/bin/logdelim eval --data runs/corpus/*.jsonl

# The shipped model's recipe (model/MODEL_CARD.md, "Training data"): Loghub's 11 shared systems
# and the synthetic lines; then copy runs/default/model.pt to model/default.pt.
LOGHUB_LABELS ?= ../shared/data/loghub/labels
train-default: install
	$(VENV)/bin/logdelim train --data $(LOGHUB_LABELS)/*.jsonl --out runs/default --threads 1

# That recipe left one out (model card; about 30 minutes each in one process on 2 cores;
# `--systems` splits the folds over processes): each Loghub system (eval-loso), and each corpus
# program, trained on Loghub and the 19 other programs (eval-lopo); tables in runs/*/loso.md.
eval-loso: install
	$(VENV)/bin/logdelim eval --loso --data $(LOGHUB_LABELS)/*.jsonl --out runs/loso --threads 1
empty :=
comma := ,
CORPUS_PROGRAMS = $(subst $(empty) $(empty),$(comma),$(basename $(notdir $(wildcard corpus/formats/*.yaml))))
eval-lopo: corpus-labels
	$(VENV)/bin/logdelim eval --loso --data $(LOGHUB_LABELS)/*.jsonl runs/corpus/*.jsonl --out runs/lopo \
	  --threads 1 --systems $(CORPUS_PROGRAMS)
