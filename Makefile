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
        curves soak

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The README's test command: unit tests plus the end-to-end tests (real
# processes, real ALE, a real TF cluster on localhost).
test: $(STAMP)
	$(PY) -m pytest -q -rs --durations=15 tests

# Unit tests only (no end-to-end runs).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m 'not e2e' tests

# The layout rules (tests/test_layout.py): small modules and functions, the
# core never importing a suite, citations a reader can follow.
lint: $(STAMP)
	$(PY) -m pytest -q tests/test_layout.py

# On a machine with a GPU: a short Pong run with the learner on the GPU, its
# placement, update time and GPU memory per process (docs/devices.md).
.PHONY: gpu-check
gpu-check: $(STAMP)
	$(PY) scripts/gpu_check.py

# --- Training -----------------------------------------------------------------
# `--flag=$(VAR)` only when VAR was given (command line or environment), so
# the entry point's own default (e.g. the preset's torso) applies otherwise.
given = $(if $(filter command line environment,$(origin $(1))),$(2)=$($(1)))

# One Atari game with local actor processes. PRESET=replay (the default) is the
# 2-core preset with the paper's replay that takes Pong to +18 within 10M frames
# (README, "Pong on 2 cores"; docs/impala.md §4.5); PRESET=small is it without
# replay; PRESET=paper is Table G.1, deep torso included. TORSO=shallow|deep
# chooses the network over the preset's (small, replay: shallow; paper: deep);
# the run's second log line names it. FRAMES sets the budget and the LR decay
# (default: the preset's, replay 10M, small and paper 200M):
#   make train GAME=Breakout FRAMES=20000000 PRESET=paper TORSO=shallow
GAME ?= Pong
FRAMES ?=
PRESET ?= replay
TORSO ?=
train: $(STAMP)
	$(PY) -m scalable_agent_tf2.experiment --env=atari --level_name=$(GAME) \
	  --preset=$(PRESET) $(call given,TORSO,--torso) \
	  $(call given,FRAMES,--total_environment_frames) \
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
	  --pbt=$(PBT) --extra="$(EXTRA)"

eval-atari57: $(STAMP)
	$(PY) -m atari57.suite eval --root=$(ATARI_ROOT) --episodes=$(EPISODES) \
	  --games="$(GAMES)" --multitask=$(MULTITASK) --extra="$(EXTRA)"

# DMLab-30 (needs DeepMind Lab built from source; see README "DeepMind Lab").
# The released README's run: 150 actors, batch 32, soft-asymmetric clipping,
# tuned entropy cost and learning rate, 1e10 frames — all overridable.
DMLAB_LOGDIR ?= $(LOGDIR)/dmlab30
DMLAB_EPISODES ?= 500
train-dmlab30: $(STAMP)
	$(PY) -m dmlab30.suite train --logdir=$(DMLAB_LOGDIR) --pbt=$(PBT) \
	  --parallel=$(PARALLEL) --extra="$(EXTRA)"

eval-dmlab30: $(STAMP)
	$(PY) -m dmlab30.suite eval --logdir=$(DMLAB_LOGDIR) \
	  --episodes=$(DMLAB_EPISODES) --extra="$(EXTRA)"

# --- Population-based training (docs/pbt.md) -----------------------------------
# M members of one Atari game under PBT_ROOT/member_<i>/, PARALLEL at a time;
# rerun = continue. EXTRA goes to every member; --pbt_* tokens in it set the
# population's options, e.g.
#   make train-pbt GAME=Pong POPULATION=4 FRAMES=40000000 PARALLEL=2 \
#     EXTRA="--num_actors=2 --pbt_burn_in_frames=2000000 --pbt_ready_episodes=50"
# PBT=M adds a population to train-dmlab30 and to train-atari57 MULTITASK=1.
.PHONY: train-pbt plot-pbt
PBT ?= 0
POPULATION ?= 4
PBT_ROOT ?= $(LOGDIR)/pbt/$(GAME)
train-pbt: $(STAMP)
	$(PY) -m scalable_agent_tf2.pbt train --root=$(PBT_ROOT) \
	  --population=$(POPULATION) --env=atari --level_name=$(GAME) \
	  --total_environment_frames=$(or $(FRAMES),40000000) --parallel=$(PARALLEL) \
	  --extra="--preset=$(PRESET) $(call given,TORSO,--torso) $(EXTRA)"

plot-pbt: $(STAMP)
	$(PY) -m scalable_agent_tf2.pbt plot --root=$(PBT_ROOT)

# --- Table 2 runs (docs/replay.md) -------------------------------------------------
# Every correction without and with replay, on each level, for SETTINGS
# hyperparameter settings sampled from Table D.1 (fixed seeds, the same in
# every cell), into ROOT/<correction>[_replay]/<level>/setting_<k>/; resumable,
# finished runs are skipped. Unset, everything is the paper's protocol: the
# five Table 2 DMLab tasks, 24 settings, 1e9 frames, shallow torso, 48 actors,
# batch 32 (960 runs). DRY_RUN=1 prints the grid. Smaller grids: SETTINGS,
# FRAMES, LEVELS (Atari games too, e.g. LEVELS=Pong TABLE2_SWEEP=none for the
# preset's hyperparameters), TORSO, ACTORS, ENVS_PER_ACTOR, BATCH_SIZE.
# Then: make table2 ROOT=... (or table2-render for any levels).
.PHONY: train-table2 table2-render
LEVELS ?=
SETTINGS ?=
ACTORS ?=
ENVS_PER_ACTOR ?=
BATCH_SIZE ?=
DRY_RUN ?=
TABLE2_SWEEP ?= table_d1
TABLE2_REPLAY_CAPACITY ?= 10000
TABLE2_ROOT = $(or $(ROOT),$(LOGDIR)/table2)
train-table2: $(STAMP)
	$(PY) -m scalable_agent_tf2.table2_runner train --root=$(TABLE2_ROOT) \
	  --levels="$(LEVELS)" $(call given,SETTINGS,--settings) \
	  $(call given,FRAMES,--frames) $(call given,TORSO,--torso) \
	  $(call given,ACTORS,--num_actors) \
	  $(call given,ENVS_PER_ACTOR,--envs_per_actor) \
	  $(call given,BATCH_SIZE,--batch_size) \
	  --sweep=$(TABLE2_SWEEP) --replay_capacity=$(TABLE2_REPLAY_CAPACITY) \
	  --parallel=$(PARALLEL) --extra="$(EXTRA)" $(if $(DRY_RUN),--dry_run)

table2-render: $(STAMP)
	$(PY) -m scalable_agent_tf2.table2_runner render --root=$(TABLE2_ROOT) \
	  --levels="$(LEVELS)" --out=$(RESULTS)/table2.md --csv_dir=$(RESULTS)

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
# PONG_PRESET=small trains the small-machine preset into bench/results/pong_small;
# PONG_OUT, PONG_EXTRA (experiment flags) and PONG_SCHEDULE (frames over which
# the learning rate anneals; default the preset's 200M) name a search run.
PONG_FRAMES ?= 10000000
PONG_PRESET ?= paper
PONG_OUT ?=
PONG_EXTRA ?=
PONG_SCHEDULE ?=
bench-pong: $(STAMP)
	$(PY) -m bench.pong --frames=$(PONG_FRAMES) --preset=$(PONG_PRESET) \
	  $(if $(PONG_OUT),--out-dir=$(PONG_OUT)) \
	  $(if $(PONG_SCHEDULE),--schedule_frames=$(PONG_SCHEDULE)) \
	  --extra="$(PONG_EXTRA)"

# The small-machine preset search (bench/pong_search.py): RUN=<name> trains one
# run (resumable), then measures its torso and clip budget; the table of all
# runs goes to bench/results/pong_search/table.md.
.PHONY: pong-search pong-search-table
pong-search: $(STAMP)
	$(PY) -m bench.pong_search run $(RUN)
	$(PY) -m bench.pong_search health $(RUN)
	$(PY) -m bench.pong_search table
pong-search-table: $(STAMP)
	$(PY) -m bench.pong_search table

# Actor hosts (docs/actor_hosts.md): in-process actors vs actor hosts with env
# worker processes, the box's limit, and the transport benchmark (idle box).
.PHONY: bench-hosts
bench-hosts: $(STAMP)
	$(PY) -m bench.run --only=actor_hosts,transport --out bench/results/actor_hosts.json

# Soak (docs/faults.md): Pong for SOAK_MINUTES with 2 actors, PSS of every
# process every 30 s, an actor killed every 10 min and the learner once.
SOAK_MINUTES ?= 60
SOAK_LOGDIR ?= /tmp/soak_run
soak: $(STAMP)
	$(PY) -m bench.soak --minutes=$(SOAK_MINUTES) --logdir=$(SOAK_LOGDIR) --out=bench/results/soak

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
