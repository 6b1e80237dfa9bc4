#!/usr/bin/env bash
# Chaos: a WhatsApp campaign through a faulty simulator (5% of requests meet a 503 before
# processing, a connection dropped after it, or an answer slower than the client waits), whose
# conversations show templates in another form than ours (`--template-shown name`), while `run`
# and `worker` processes are SIGKILLed again and again; then it is run to its end and the
# simulator's ledger is checked: nobody sent twice, and nobody lost (every recipient accepted
# once, or left `uncertain`/`failed` in the database for the operator, never silently queued).
#
#   scripts/chaos.sh [RECIPIENTS, default 2000] [KILLS, default 30] [sqlite|postgres|both]
#
# PostgreSQL from TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres); a
# database of its own is made and dropped. Exit 1 if anyone was sent twice or lost.
set -euo pipefail
cd "$(dirname "$0")/.."
recipients=${1:-2000}
kills=${2:-30}
engines=${3:-both}
server=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}

cargo build --release --locked --quiet
bin=$PWD/target/release/campaign
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
umask 077

python3 - "$recipients" >c.csv <<'PY'
import sys
print("phone,name,order")
for i in range(int(sys.argv[1])):
    # Valid UK mobiles ending in 7: delivered, never read; no scripted error.
    print(f"+447912{i:05d}7,Name{i},O-{i}")
PY

# Starts the simulator with its ledger at $1; sets sim_pid and sim_url.
start_sim() {
  "$bin" sim --listen 127.0.0.1:0 --ledger "$1" --token-rate 200 --number-rate 1 \
    --fault-rate 0.05 --faults 503,drop,slow --slow-ms 1500 --ack-delay-ms 200 \
    --template-shown name --seed "$RANDOM" >"$1.out" 2>/dev/null &
  sim_pid=$!
  for _ in $(seq 100); do
    grep -q '^listening on ' "$1.out" 2>/dev/null && break
    sleep 0.05
  done
  sim_url=$(sed -n 's/^listening on //p' "$1.out")
}

# One engine: kill runs and workers at random moments, then finish, then count.
chaos() {
  local engine=$1 db
  case $engine in
    sqlite) db=$work/chaos.db ;;
    postgres)
      db="${server%/*}/campaign_chaos_$$"
      PGOPTIONS="-c client_min_messages=warning" psql "$server" -qc "DROP DATABASE IF EXISTS campaign_chaos_$$" -qc "CREATE DATABASE campaign_chaos_$$" >/dev/null
      ;;
  esac
  local ledger=$work/$engine.ledger
  start_sim "$ledger"
  export CONVRS_TOKEN=sim-token CONVRS_API_URL=$sim_url CAMPAIGN_DB=$db
  local flags=(--name chaos --bot 3941 --template order_confirmation --language en
    --params name,order --request-timeout 1s --reconcile-after 3s)
  local quick=(--request-timeout 1s --reconcile-after 3s)
  # Loading fetches the template, which may meet a fault too: again until it is queued.
  for _ in $(seq 10); do
    "$bin" run c.csv "${flags[@]}" --detach --rate 100 >/dev/null 2>&1 && break
  done
  local killed_runs=0 killed_workers=0
  for _ in $(seq "$kills"); do
    if ((RANDOM % 2)); then
      "$bin" run chaos "${quick[@]}" --no-wait >/dev/null 2>&1 &
      killed_runs=$((killed_runs + 1))
    else
      "$bin" worker "${quick[@]}" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 >/dev/null 2>&1 &
      killed_workers=$((killed_workers + 1))
    fi
    sleep "0.$((RANDOM % 9 + 3))"
    kill -9 $! 2>/dev/null || true
    wait $! 2>/dev/null || true
  done
  # To the end, without kills: until nothing is queued or sending.
  for _ in $(seq 20); do
    "$bin" run chaos "${quick[@]}" --no-wait >/dev/null 2>&1 || true
    "$bin" status chaos --json >status.json
    python3 -c 'import json,sys; c=json.load(open("status.json"))["counts"]; sys.exit(0 if c["queued"]+c["sending"]==0 else 1)' && break
  done
  "$bin" report chaos --csv "$engine.csv" >/dev/null
  python3 - "$engine" "$ledger" "$engine.csv" "$recipients" "$killed_runs" "$killed_workers" <<'PY'
import csv, json, sys
engine, ledger, report, n, runs, workers = sys.argv[1:7]
accepted = {}
for line in open(ledger):
    e = json.loads(line)
    if e["event"] == "accepted":
        accepted[e["phone"]] = accepted.get(e["phone"], 0) + 1
states = {row["phone"]: row["state"] for row in csv.DictReader(open(report))}
twice = sorted(p for p, k in accepted.items() if k > 1)
held = {"uncertain", "failed"}
lost = sorted(p for p, s in states.items() if accepted.get(p, 0) == 0 and s not in held)
uncertain = sum(1 for s in states.values() if s == "uncertain")
uncertain_unsent = sum(1 for p, s in states.items() if s == "uncertain" and p not in accepted)
print(f"{engine}: {n} recipients, {runs} runs and {workers} workers SIGKILLed: "
      f"accepted once {sum(1 for k in accepted.values() if k == 1)}, twice or more {len(twice)}, "
      f"lost {len(lost)}, left uncertain {uncertain} ({uncertain_unsent} of them not sent)")
if twice or lost:
    print(f"  twice: {twice[:10]}  lost: {lost[:10]}")
    sys.exit(1)
PY
  local verdict=$?
  kill "$sim_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "$engine" = postgres ]; then
    psql "$server" -qc "DROP DATABASE IF EXISTS campaign_chaos_$$ WITH (FORCE)" >/dev/null
  fi
  return $verdict
}

status=0
case $engines in
  both) chaos sqlite || status=1; chaos postgres || status=1 ;;
  *) chaos "$engines" || status=1 ;;
esac
exit $status
