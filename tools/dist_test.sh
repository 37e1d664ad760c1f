#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py args...]
# Starts NPROC test processes on this machine with torchrun: one per GPU, or
# CPU processes on the gloo backend when CUDA is not available.
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT, as for torchrun.
# PYTHON selects the interpreter (default: python).
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
TOOLS=$(dirname "$0")

# exec: Ctrl-C and SIGTERM reach torchrun itself, which ends the processes it
# started and waits for them.
PYTHONPATH="$TOOLS/..:${PYTHONPATH:-}" \
exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" --master_port="$PORT" \
    "$TOOLS/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
