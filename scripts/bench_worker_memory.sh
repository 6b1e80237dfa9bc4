#!/usr/bin/env bash
# Peak memory (VmHWM) of a `campaign worker` sending a 1,000,000-message SMS campaign, and of
# `campaign run` sending the same campaign (the baseline), each in its own process, against a
# `campaign sim` with its limits off, in the same run.
#
#   scripts/bench_worker_memory.sh [MESSAGES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
runs=${2:-3}
# The same build as bench.sh: a plain `cargo build --release` resolves features without the
# dev-dependencies and rebuilds the whole tree after it (and bench.sh after this).
cargo build --release --locked --quiet --examples --bin campaign
bin=$PWD/target/release/campaign
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# Valid UK mobiles ending in 7 (the simulator scripts errors for other endings).
python3 - "$n" >"$work/big.csv" <<'EOF'
import sys
n = int(sys.argv[1])
print("phone,name")
for i in range(n):
    print(f"+44{7912 + i // 100000}{i % 100000:05d}7,Name{i}")
EOF

# The highest VmHWM (kB) of process $1 until it exits or $2 (a command) succeeds.
peak_of() {
  local pid=$1 until=$2 peak=0 now
  while kill -0 "$pid" 2>/dev/null; do
    now=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${now:-0}" -gt "$peak" ] && peak=$now
    if [ -n "$until" ] && eval "$until"; then break; fi
    sleep 1
  done
  echo "$peak"
}

sms=(--channel sms --bot 3941 --message "Hi {name}, your parcel is on its way.")
port=18190
for run in $(seq "$runs"); do
  port=$((port + 1))
  "$bin" sim --listen "127.0.0.1:$port" --tokens bench --token-rate 0 --number-rate 0 >/dev/null 2>&1 &
  sim=$!
  export CONVRS_TOKEN=bench CONVRS_API_URL="http://127.0.0.1:$port"

  # The worker: the campaign is queued for it (`run --detach`), then it sends it all.
  export CAMPAIGN_DB="$work/worker-$run.db"
  "$bin" run "$work/big.csv" "${sms[@]}" --detach >/dev/null 2>&1
  start=$(date +%s)
  "$bin" worker --listen 127.0.0.1:0 --rate 10000 --in-flight 64 >"$work/worker.log" 2>&1 &
  worker=$!
  done_sending="$bin list --json | grep -q '\"state\":\"sent\"'"
  worker_kb=$(peak_of "$worker" "$done_sending")
  worker_s=$(( $(date +%s) - start ))
  kill -TERM "$worker"; wait "$worker" || true

  # The baseline: `campaign run` of the same file, in its own database.
  run_kb=0 run_s=0
  if [ -z "${WORKER_ONLY:-}" ]; then
    export CAMPAIGN_DB="$work/run-$run.db"
    start=$(date +%s)
    "$bin" run "$work/big.csv" "${sms[@]}" --rate 10000 --in-flight 64 --no-wait >/dev/null 2>&1 &
    runner=$!
    run_kb=$(peak_of "$runner" "")
    run_s=$(( $(date +%s) - start ))
    wait "$runner" || true
  fi
  kill "$sim"; wait "$sim" 2>/dev/null || true

  echo "run $run: worker peak $((worker_kb / 1024)) MB (sent $n in ${worker_s}s); campaign run peak $((run_kb / 1024)) MB (loaded and sent in ${run_s}s)"
done
