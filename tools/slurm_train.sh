#!/usr/bin/env bash
# Usage: tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# Runs GPUS training processes through srun, GPUS_PER_NODE per node (both
# default 8), CPUS_PER_TASK cores each (default 5); GPUS_PER_NODE=0 runs CPU
# processes (TASKS_PER_NODE per node, default 1) on the gloo backend.
# SRUN_ARGS adds srun options; PYTHON selects the interpreter.
# Resume a killed job by running it again with --resume.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
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
    "${PYTHON:-python}" -u "$TOOLS/train.py" "$CONFIG" --work-dir="$WORK_DIR" \
    --launcher=slurm "${@:5}"
