#!/bin/bash
# One Slurm task of an IMPALA run (started by impala.sbatch through srun).
#
# Rank 0: the learner, listening on <first node>:$IMPALA_LEARNER_PORT.
# Rank r >= 1: actor task r-1 of $SLURM_NTASKS-1, reachable at
#   <its node>:$((IMPALA_ACTOR_PORT + SLURM_LOCALID)), with
#   --envs_per_actor=$SLURM_CPUS_PER_TASK environment worker processes.
# IMPALA_FLAGS go to every process; IMPALA_ACTOR_FLAGS to actors only.
# DRY_RUN=1 prints the command instead of running it.
set -euo pipefail
: "${SLURM_PROCID:?run this through srun}" "${SLURM_NTASKS:?}"
: "${SLURM_JOB_NODELIST:?}" "${SLURMD_NODENAME:?}"
PYTHON="${IMPALA_PYTHON:-python}"
LEARNER_PORT="${IMPALA_LEARNER_PORT:-8001}"
ACTOR_PORT="${IMPALA_ACTOR_PORT:-8002}"
LEARNER_HOST="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
NUM_ACTORS=$((SLURM_NTASKS - 1))
if [ "$NUM_ACTORS" -lt 1 ]; then
  echo "task.sh: needs at least 2 tasks (a learner and an actor)" >&2
  exit 2
fi
# shellcheck disable=SC2206  # Word splitting of the flag lists is intended.
COMMON=(-m scalable_agent_tf2.experiment
        "--learner_address=$LEARNER_HOST:$LEARNER_PORT"
        "--num_actors=$NUM_ACTORS" ${IMPALA_FLAGS:-})
if [ "$SLURM_PROCID" -eq 0 ]; then
  ARGV=("$PYTHON" "${COMMON[@]}" --job_name=learner)
else
  # shellcheck disable=SC2206
  ARGV=("$PYTHON" "${COMMON[@]}" --job_name=actor
        "--task=$((SLURM_PROCID - 1))"
        "--actor_address=$SLURMD_NODENAME:$((ACTOR_PORT + ${SLURM_LOCALID:-0}))"
        --env_processes=true "--envs_per_actor=${SLURM_CPUS_PER_TASK:-1}"
        ${IMPALA_ACTOR_FLAGS:-})
fi
if [ "${DRY_RUN:-0}" = "1" ]; then
  printf '%q ' "${ARGV[@]}"
  echo
else
  exec "${ARGV[@]}"
fi
