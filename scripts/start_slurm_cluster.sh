#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine for the benchmark
# launcher's tests (tests/benchmark/test_slurm_backend.py): munge, slurmctld
# and slurmd from Debian's `munge` and `slurm-wlm` packages, one partition
# `debug` holding this host with all its cores, no GPUs, no accounting.
# Installs the packages with apt-get when they are missing and this runs as
# root. Does nothing when the cluster already answers. Exits 1 with a reason
# on its last line when it cannot start one.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK='# written by mmdet_vit_transfer scripts/start_slurm_cluster.sh'
HOST=$(hostname -s)
say() { printf '[slurm] %s\n' "$*"; }
fail() { printf 'cannot start a Slurm cluster: %s\n' "$*"; exit 1; }

node_ready() {
    sinfo -h -n "$HOST" -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'
}

if command -v sinfo >/dev/null && node_ready; then
    say "cluster ready: node $HOST"
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    [ "$(id -u)" = 0 ] || fail "slurm-wlm and munge are not installed and installing them needs root"
    command -v apt-get >/dev/null || fail "slurm-wlm and munge are not installed and there is no apt-get"
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || fail "apt-get update failed"
    apt-get install -y -qq slurm-wlm munge >/dev/null 2>&1 ||
        fail "apt-get install slurm-wlm munge failed"
fi
[ "$(id -u)" = 0 ] || fail "starting the daemons needs root"

if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    fail "$CONF exists and was not written by this script; not touching it"
fi

# munge: the key that slurmctld and slurmd share.
if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n >/dev/null 2>&1; then
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged || fail "munged did not start"
fi

CPUS=$(nproc)
MEMORY_MB=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat >"$CONF" <<EOF
$MARK
ClusterName=local
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# No cgroups in a container: track processes through /proc, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to scontrol for an hour.
MinJobAge=3600
KillWait=10
NodeName=$HOST CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

pgrep -x slurmctld >/dev/null || { say "starting slurmctld"; /usr/sbin/slurmctld; }
pgrep -x slurmd >/dev/null || { say "starting slurmd"; /usr/sbin/slurmd; }
for _ in $(seq 60); do
    if node_ready; then
        say "cluster ready: node $HOST, partition debug, $CPUS CPUs"
        exit 0
    fi
    scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    sleep 1
done
fail "node $HOST is not idle after 60 s: $(sinfo -h -o '%t %E' 2>&1 | head -1); see /var/log/slurm/"
