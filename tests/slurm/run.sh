#!/usr/bin/env bash
# A real SLURM test (`make test-slurm`): a one-node SLURM cluster on this machine runs a small simulation
# study through `--profile profiles/slurm`; the same study runs locally through `--profile profiles/default`;
# the simulation tables of the two runs must be byte-identical.
#
# What it does, all under a hard timeout (SLURM_TEST_TIMEOUT seconds, default 1200):
#   1. installs SLURM and munge from the distribution's packages where missing (apt-get; sudo if not root);
#   2. writes a single-node, cgroup-free configuration for this machine (CPUs and memory from /proc) to
#      /etc/slurm/slurm.conf -- where SLURM looks by default, because the executor plugin's job step clears
#      SLURM's environment (SLURM_CONF included) before it calls srun -- and a private munge key;
#   3. starts munged, slurmctld and slurmd by hand (no systemd) and waits until the node is idle;
#   4. runs the study (2 conditions x 4 replications of 120 patients) on the cluster and then locally, in
#      two temporary working directories, and compares the tables with sha256sum;
#   5. on exit, whatever happened: cancels the cluster's jobs, stops every daemon it started, by PID, and
#      restores /etc/slurm/slurm.conf as it was. Daemons it did not start are left alone: if a SLURM
#      controller already answers, the study runs on that cluster and nothing is started or stopped.
#
# Environment: SLURM_TEST_TIMEOUT (seconds), SLURM_TEST_KEEP=1 (keep the temporary directory),
# SNAKEMAKE (the snakemake to run; default .venv/bin/snakemake); for an existing multi-node cluster,
# SLURM_TEST_TMPDIR (a directory the nodes share, instead of /tmp) and ALLIANCE_SLURM_PARTITION / _ACCOUNT
# (read by profiles/slurm).
set -Eeuo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TIMEOUT=${SLURM_TEST_TIMEOUT:-1200}

# Re-run this script under a hard timeout. At the limit (or on Ctrl-C, passed on) timeout sends TERM to the
# script's process group -- the script and Snakemake, not the daemons, which run in sessions of their own --
# and the script cleans up (within about 90 s); only then would KILL follow.
if [[ -z ${ALLIANCE_SLURM_TEST_UNDER_TIMEOUT:-} ]]; then
    export ALLIANCE_SLURM_TEST_UNDER_TIMEOUT=1
    timeout --kill-after=150 "$TIMEOUT" bash "${BASH_SOURCE[0]}" "$@" &
    timeout_pid=$!
    trap 'kill -TERM "$timeout_pid" 2>/dev/null' INT TERM HUP
    status=0
    wait "$timeout_pid" || status=$?
    while kill -0 "$timeout_pid" 2>/dev/null; do  # a signal interrupted `wait`: wait for the cleanup
        status=0
        wait "$timeout_pid" || status=$?
    done
    if ((status == 124 || status == 137)); then
        echo "test-slurm: FAILED: stopped by the hard timeout of ${TIMEOUT} s" >&2
    fi
    exit "$status"
fi

START=$SECONDS
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO=sudo
SNAKEMAKE=${SNAKEMAKE:-$REPO/.venv/bin/snakemake}
CONF=/etc/slurm/slurm.conf
RUN=$(mktemp -d "${SLURM_TEST_TMPDIR:-/tmp}/alliance-slurm-test.XXXXXX")
chmod 755 "$RUN"
PIDS=()            # daemons this script started, in start order ("pid:name")
SNAKEMAKE_PID=""   # the Snakemake run under way
CONF_BACKUP=""     # a configuration that was in place before (restored on exit)
CONF_WRITTEN=0
ETC_SLURM_CREATED=0
OK=0

say() { printf '[test-slurm %4ds] %s\n' "$((SECONDS - START))" "$*"; }
fail() { say "FAILED: $*" >&2; exit 1; }

stop_pid() {  # stop_pid PID NAME [SECONDS]: TERM, wait up to SECONDS (15), then KILL
    local pid=$1 name=$2 seconds=${3:-15} i
    $SUDO kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 $((2 * seconds))); do
        $SUDO kill -0 "$pid" 2>/dev/null || { say "stopped $name (pid $pid)"; return 0; }
        sleep 0.5
    done
    $SUDO kill -KILL "$pid" 2>/dev/null || true
    say "killed $name (pid $pid)"
}

cleanup() {
    local status=$? i entry pid
    trap - EXIT
    trap '' INT TERM HUP  # timeout signals twice (the script, then its group): finish the cleanup
    set +e
    if [[ -n $SNAKEMAKE_PID ]]; then  # interrupted during a run: Snakemake cancels its cluster jobs on TERM
        stop_pid "$SNAKEMAKE_PID" snakemake 20
    fi
    if ((${#PIDS[@]})); then
        # Jobs still on our cluster would outlive slurmd: cancel them, then end what is left of their
        # processes by the PIDs slurmd reports.
        if squeue -h -o %i 2>/dev/null | grep -q .; then
            say "cancelling the cluster's remaining jobs"
            $SUDO scancel --full $(squeue -h -o %i) 2>/dev/null
            for i in $(seq 1 20); do squeue -h -t running,pending,completing -o %i 2>/dev/null | grep -q . ||
                break; sleep 0.5; done
        fi
        for pid in $(scontrol listpids 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/ {print $1}'); do
            $SUDO kill -KILL "$pid" 2>/dev/null && say "killed job process $pid"
        done
        for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
            entry=${PIDS[i]}
            stop_pid "${entry%%:*}" "${entry#*:}"
        done
    fi
    if ((CONF_WRITTEN)); then
        if [[ -n $CONF_BACKUP ]]; then
            $SUDO mv -f "$CONF_BACKUP" "$CONF" && say "restored the previous $CONF"
        else
            $SUDO rm -f "$CONF"
            ((ETC_SLURM_CREATED)) && $SUDO rmdir /etc/slurm 2>/dev/null
        fi
    fi
    if ((OK)) && [[ -z ${SLURM_TEST_KEEP:-} ]]; then
        $SUDO rm -rf "$RUN"
    else
        say "kept $RUN (daemon logs in $RUN/log)"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

show_logs() {  # the tails of the daemons' logs, on failure
    local f
    for f in "$RUN"/log/*.log; do
        [[ -f $f ]] && { echo "--- $f"; $SUDO tail -n 20 "$f"; }
    done
}

[[ -x $SNAKEMAKE ]] || fail "no snakemake at $SNAKEMAKE (run 'make setup' first)"
"$SNAKEMAKE" --help 2>/dev/null | grep -q -- '--slurm-status-command' ||
    fail "snakemake-executor-plugin-slurm is not installed (make setup installs requirements.lock)"

# ---- 1. Install SLURM and munge where missing -------------------------------------------------------------
missing=()
for cmd in slurmctld slurmd sbatch squeue srun sinfo scontrol; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
command -v munged >/dev/null 2>&1 || missing+=(munged)
if ((${#missing[@]})); then
    say "installing SLURM and munge from the distribution's packages (missing: ${missing[*]})"
    # Keep the packages' maintainer scripts from starting the daemons (there is no systemd here, and
    # this script starts its own): a policy-rc.d that refuses, for the time of the install only.
    POLICY=/usr/sbin/policy-rc.d
    policy_created=0
    if [[ ! -e $POLICY ]]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
        $SUDO chmod 755 "$POLICY"
        policy_created=1
    fi
    install_status=0
    {
        $SUDO apt-get update -qq &&
            $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                slurm-wlm munge
    } >"$RUN/apt.log" 2>&1 || install_status=$?
    ((policy_created)) && $SUDO rm -f "$POLICY"
    if ((install_status)); then
        tail -n 20 "$RUN/apt.log" >&2
        fail "apt-get install slurm-wlm munge failed"
    fi
    say "installed $(dpkg-query -W -f '${Package} ${Version}' slurmctld 2>/dev/null)"
fi
say "$(slurmd -V), $(munged --version 2>&1 | awk '{print $1}')"

# ---- 2./3. A one-node cluster (unless a SLURM controller already answers) --------------------------------
# (Without a configuration file the SLURM clients would look the controller up in DNS: ask only with one.)
if [[ -e $CONF || -n ${SLURM_CONF:-} ]] && sinfo -h >/dev/null 2>&1; then
    say "a SLURM controller is already running: the study runs on it, nothing is started or stopped"
    ((${#missing[@]} == 0)) || fail "SLURM was just installed, yet a controller answers: refusing to guess"
else
    NODE=$(hostname -s)
    CPUS=$(grep -c '^processor' /proc/cpuinfo)
    ALLOWED=$(nproc)
    ((ALLOWED < CPUS)) && CPUS=$ALLOWED
    MEM_MB=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)   # leave 10 % to the system
    mkdir -p "$RUN/state" "$RUN/spool" "$RUN/log" "$RUN/munge"
    chmod 700 "$RUN/state" "$RUN/spool"

    # munge: a private key, socket, pid and log in the temporary directory (nothing of the system's is used).
    dd if=/dev/urandom of="$RUN/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$RUN/munge/munge.key"
    [[ -n $SUDO ]] && $SUDO chown -R root:root "$RUN/munge"
    setsid $SUDO munged --foreground --key-file="$RUN/munge/munge.key" --socket="$RUN/munge/munge.socket" \
        --pid-file="$RUN/munge/munged.pid" --seed-file="$RUN/munge/munged.seed" \
        --log-file="$RUN/log/munged.log" >"$RUN/log/munged.out" 2>&1 &
    PIDS+=("$!:munged")
    for i in $(seq 1 40); do [[ -S $RUN/munge/munge.socket ]] && break; sleep 0.25; done
    [[ -S $RUN/munge/munge.socket ]] || { show_logs; cat "$RUN/log/munged.out"; fail "munged did not start"; }
    munge --socket="$RUN/munge/munge.socket" -n | unmunge --socket="$RUN/munge/munge.socket" >/dev/null ||
        fail "munge cannot encode and decode a credential"

    # SLURM: one node, one partition, no accounting, no cgroups.
    if [[ -e $CONF ]]; then
        CONF_BACKUP="$CONF.alliance-test-backup.$$"
        $SUDO cp -p "$CONF" "$CONF_BACKUP"
        say "saved the existing $CONF (restored on exit)"
    fi
    [[ -d /etc/slurm ]] || { $SUDO mkdir -p /etc/slurm; ETC_SLURM_CREATED=1; }
    CONF_WRITTEN=1
    $SUDO tee "$CONF" >/dev/null <<EOF
# Written by $REPO/tests/slurm/run.sh for a one-node test cluster; removed or restored when it exits.
ClusterName=alliance-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$RUN/munge/munge.socket
StateSaveLocation=$RUN/state
SlurmdSpoolDir=$RUN/spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$RUN/log/slurmctld.log
SlurmdLogFile=$RUN/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
# Finished jobs stay visible to squeue for this long (the profile's squeue status command relies on it).
MinJobAge=300
KillWait=5
InactiveLimit=0
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    say "wrote $CONF: node $NODE with $CPUS CPUs and $MEM_MB MB"

    setsid $SUDO slurmctld -D -i >"$RUN/log/slurmctld.out" 2>&1 &
    PIDS+=("$!:slurmctld")
    setsid $SUDO slurmd -D >"$RUN/log/slurmd.out" 2>&1 &
    PIDS+=("$!:slurmd")
    state=""
    for i in $(seq 1 120); do
        state=$(sinfo -h -N -n "$NODE" -o %T 2>/dev/null || true)
        [[ $state == idle ]] && break
        sleep 0.5
    done
    [[ $state == idle ]] || { show_logs; fail "the node did not become idle (state: '${state:-no answer}')"; }
    say "cluster up: $(sinfo -h -o '%P %a %D %T %c CPUs %m MB')"
fi

# ---- 4. The study, on the cluster and locally ---------------------------------------------------------------
cat >"$RUN/simulation.yaml" <<'EOF'
# A small simulation study: 2 conditions (effect scale 0 and 1) x 4 replications of 120 patients, in
# batches of 2 replications (one job each).
simulation:
  replications: 4
  batch_size: 2
  patients: [120]
  therapists: [12]
  effect_scale: [0.0, 1.0]
  truth_multiplier: 5
EOF
mkdir -p "$RUN/slurm" "$RUN/local"

run_snakemake() {  # run_snakemake LOG ARG...: in the background, so that a TERM is handled at once
    local log=$1 status=0
    shift
    "$SNAKEMAKE" "$@" >"$log" 2>&1 &
    SNAKEMAKE_PID=$!
    wait "$SNAKEMAKE_PID" || status=$?
    SNAKEMAKE_PID=""
    return "$status"
}
cd "$REPO"   # profiles/default is found here as the workflow profile, as for a user

say "running the study through --profile profiles/slurm"
t0=$SECONDS
run_snakemake "$RUN/slurm.log" simulation --snakefile "$REPO/Snakefile" --directory "$RUN/slurm" \
    --configfile "$RUN/simulation.yaml" --profile "$REPO/profiles/slurm" ||
    { tail -n 40 "$RUN/slurm.log"; show_logs; fail "the SLURM run failed (log: $RUN/slurm.log)"; }
SLURM_SECONDS=$((SECONDS - t0))
grep -q 'Using profile.*profiles/slurm' "$RUN/slurm.log" || fail "the SLURM run did not use profiles/slurm"
# 8 replications in 4 batch jobs (grouped), 2 truth jobs and the summary (with the power curve): 7 rule jobs,
# fewer cluster jobs.
SUBMITTED=$(grep -o -E 'submitted with SLURM jobid [0-9]+' "$RUN/slurm.log" | sort -u | wc -l)
say "SLURM run: ${SLURM_SECONDS} s, 7 rule jobs in ${SUBMITTED} cluster jobs"
((SUBMITTED > 0)) || { tail -n 40 "$RUN/slurm.log"; fail "no job was submitted to SLURM"; }
((SUBMITTED < 7)) || fail "the replication batches were not grouped (${SUBMITTED} cluster jobs for 7 rule jobs)"

say "running the same study locally through --profile profiles/default"
t0=$SECONDS
run_snakemake "$RUN/local.log" simulation --snakefile "$REPO/Snakefile" --directory "$RUN/local" \
    --configfile "$RUN/simulation.yaml" --profile "$REPO/profiles/default" ||
    { tail -n 40 "$RUN/local.log"; fail "the local run failed (log: $RUN/local.log)"; }
LOCAL_SECONDS=$((SECONDS - t0))
say "local run: ${LOCAL_SECONDS} s"

# ---- Compare ----------------------------------------------------------------------------------------------
tables() { (cd "$1/results/simulation" && find . -name '*.csv' | LC_ALL=C sort | xargs sha256sum); }
tables "$RUN/slurm" >"$RUN/slurm.sha256"
tables "$RUN/local" >"$RUN/local.sha256"
for required in ./performance.csv ./sample_size.csv; do
    grep -q " $required\$" "$RUN/slurm.sha256" || fail "the SLURM run wrote no $required"
done
N_REPLICATIONS=$(grep -c ' ./replications/' "$RUN/slurm.sha256" || true)
N_TRUTH=$(grep -c ' ./truth/' "$RUN/slurm.sha256" || true)
((N_REPLICATIONS == 4 && N_TRUTH == 2)) ||
    fail "expected 4 replication batches and 2 truth tables, found $N_REPLICATIONS and $N_TRUTH"
if ! diff -u "$RUN/local.sha256" "$RUN/slurm.sha256"; then
    fail "the tables of the SLURM run and the local run differ"
fi
N_TABLES=$(wc -l <"$RUN/slurm.sha256")
say "identical: $N_TABLES tables (performance.csv, sample_size.csv, $N_TRUTH truth, $N_REPLICATIONS replication batches)"
OK=1
say "PASSED in $((SECONDS - START)) s (SLURM run ${SLURM_SECONDS} s, local run ${LOCAL_SECONDS} s)"
