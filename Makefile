# scalable_agent_tf2 — every target that runs Python depends on the virtualenv,
# so on a fresh machine `make test` alone installs everything and runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

# Where runs write (override: make train LOGDIR=/data/runs).
LOGDIR ?= logs
# Extra flags for the experiment entry point, e.g. EXTRA="--num_actors=8".
EXTRA ?=

.PHONY: venv test test-fast lint bench bench-pong clean train train-atari57 \
        eval-atari57 train-dmlab30 eval-dmlab30 table1 table2 table3 table4 \
        curves

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The README's test command: unit tests plus the end-to-end tests (real
# processes, real ALE, a real TF cluster on localhost).
test: $(STAMP)
	$(PY) -m pytest -q -rs tests

# Unit tests only (no end-to-end runs).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m 'not e2e' tests

# The layout rules (tests/test_layout.py): small modules and functions, the
# core never importing a suite, citations a reader can follow.
lint: $(STAMP)
	$(PY) -m pytest -q tests/test_layout.py

# --- Training -----------------------------------------------------------------
# One Atari game with local actor processes. PRESET=small (the default) is the
# small-machine preset that learns Pong on 2 cores (README, "Pong on 2 cores");
# PRESET=paper is Table G.1. FRAMES sets the budget and the LR decay, as in the
# measured run: make train GAME=Breakout FRAMES=20000000 PRESET=paper TORSO=deep
GAME ?= Pong
FRAMES ?= 40000000
PRESET ?= small
TORSO ?= shallow
train: $(STAMP)
	$(PY) -m scalable_agent_tf2.experiment --env=atari --level_name=$(GAME) \
	  --preset=$(PRESET) --torso=$(TORSO) --total_environment_frames=$(FRAMES) \
	  --logdir=$(LOGDIR)/atari/$(GAME) $(EXTRA)

# Atari-57 experts, one logdir per game under ATARI_ROOT, resumable (a rerun
# skips finished games). GAMES="Pong Breakout" limits the set; PARALLEL=N trains
# N games at once; MULTITASK=1 trains one agent on all 57 (full action set).
ATARI_ROOT ?= $(LOGDIR)/atari57
ATARI_FRAMES ?= 200000000
ATARI_TORSO ?= deep
GAMES ?=
PARALLEL ?= 1
MULTITASK ?= 0
EPISODES ?= 200
train-atari57: $(STAMP)
	$(PY) -m atari57.suite train --root=$(ATARI_ROOT) \
	  --frames_per_game=$(ATARI_FRAMES) --torso=$(ATARI_TORSO) \
	  --games="$(GAMES)" --parallel=$(PARALLEL) --multitask=$(MULTITASK) \
	  --extra="$(EXTRA)"

eval-atari57: $(STAMP)
	$(PY) -m atari57.suite eval --root=$(ATARI_ROOT) --episodes=$(EPISODES) \
	  --games="$(GAMES)" --multitask=$(MULTITASK) --extra="$(EXTRA)"

# DMLab-30 (needs DeepMind Lab built from source; see README "DeepMind Lab").
# The released README's run: 150 actors, batch 32, soft-asymmetric clipping,
# tuned entropy cost and learning rate, 1e10 frames — all overridable.
DMLAB_LOGDIR ?= $(LOGDIR)/dmlab30
DMLAB_EPISODES ?= 500
train-dmlab30: $(STAMP)
	$(PY) -m dmlab30.suite train --logdir=$(DMLAB_LOGDIR) --extra="$(EXTRA)"

eval-dmlab30: $(STAMP)
	$(PY) -m dmlab30.suite eval --logdir=$(DMLAB_LOGDIR) \
	  --episodes=$(DMLAB_EPISODES) --extra="$(EXTRA)"

# --- Paper tables (Markdown + CSV under RESULTS) --------------------------------
# make table3 RUNS="ours=logs/dmlab30"; make table4 RUNS="deep=logs/atari57"
RESULTS ?= results
RUNS ?=
ROOT ?=
table1: $(STAMP)
	$(PY) -m scalable_agent_tf2.paper table1 $(RUNS) --out $(RESULTS)/table1.md --csv-dir $(RESULTS)
table2: $(STAMP)
	$(PY) -m scalable_agent_tf2.paper table2 $(ROOT) --out $(RESULTS)/table2.md --csv-dir $(RESULTS)
table3: $(STAMP)
	$(PY) -m scalable_agent_tf2.paper table3 $(RUNS) --out $(RESULTS)/table3.md --csv-dir $(RESULTS)
table4: $(STAMP)
	$(PY) -m scalable_agent_tf2.paper table4 $(RUNS) --out $(RESULTS)/table4.md --csv-dir $(RESULTS)
curves: $(STAMP)
	$(PY) -m scalable_agent_tf2.paper curves $(RUNS) --out-dir $(RESULTS)/curves

# --- Benchmarks (numbers into bench/results/*.json; never run in CI) ------------
bench: $(STAMP)
	$(PY) -m bench.run --out bench/results/bench.json

# Pong to the paper's level: learning curve (CSV + PNG) and frames/s.
# PONG_PRESET=small trains the small-machine preset into bench/results/pong_small.
PONG_FRAMES ?= 10000000
PONG_PRESET ?= paper
bench-pong: $(STAMP)
	$(PY) -m bench.pong --frames=$(PONG_FRAMES) --preset=$(PONG_PRESET)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
