#!/usr/bin/env bash
# Usage: tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
# Runs GPUS test processes through srun, GPUS_PER_NODE per node (both
# default 8), CPUS_PER_TASK cores each (default 5); GPUS_PER_NODE=0 runs CPU
# processes (TASKS_PER_NODE per node, default 1) on the gloo backend.
# SRUN_ARGS adds srun options; PYTHON selects the interpreter.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
TOOLS=$(dirname "$0")
if [ "$GPUS_PER_NODE" -gt 0 ]; then
    NODE_ARGS=(--gres="gpu:$GPUS_PER_NODE" --ntasks-per-node="$GPUS_PER_NODE")
else
    NODE_ARGS=(--ntasks-per-node="${TASKS_PER_NODE:-1}")
fi

# exec: Ctrl-C and SIGTERM reach srun itself, which cancels its tasks.
# shellcheck disable=SC2086  # SRUN_ARGS holds several options
PYTHONPATH="$TOOLS/..:${PYTHONPATH:-}" \
exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --ntasks="$GPUS" \
    "${NODE_ARGS[@]}" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "${PYTHON:-python}" -u "$TOOLS/test.py" "$CONFIG" "$CHECKPOINT" \
    --launcher=slurm "${@:5}"
