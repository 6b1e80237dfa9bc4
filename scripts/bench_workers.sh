#!/usr/bin/env bash
# Aggregate send rate of 1, 2 and 3 `campaign worker` processes sharing one PostgreSQL
# database, three tokens with a campaign each, against a `campaign sim` with its limits off;
# SQLite with one worker for comparison, in the same run. Then the time for a token to be taken
# over after its worker is killed with SIGKILL.
#
#   scripts/bench_workers.sh [MESSAGES_PER_TOKEN] [RUNS]
# THROUGHPUT_RUNS and TAKEOVER_RUNS (default RUNS) run either part more or less often.
# PostgreSQL: PG_URL (default postgres://postgres@127.0.0.1:5432), a server where it may
# create and drop databases.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000}
runs=${2:-3}
pg=${PG_URL:-postgres://postgres@127.0.0.1:5432}
# The same build as scripts/bench.sh: a build without the examples resolves other features
# (dev-dependencies) and rebuilt the whole tree, and the binary, inside bench.sh.
cargo build --release --locked --quiet --examples --bin campaign
bin=$PWD/target/release/campaign
work=$(mktemp -d)
# The databases this run made (bench_*_PID, see fresh_pg), dropped on the way out.
drop_ours() {
  psql "$pg/postgres" -qAtc "SELECT datname FROM pg_database WHERE datname LIKE 'bench\_%\_$$'" |
    while read -r name; do psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)"; done
}
trap 'kill $(jobs -p) 2>/dev/null || true; drop_ours; rm -rf "$work"' EXIT

for t in 0 1 2; do
  printf 'bench-token-%s' "$t" >"$work/token$t"; chmod 600 "$work/token$t"
  # Valid UK mobiles ending in 7 (the simulator scripts errors for other endings).
  python3 - "$n" "$t" >"$work/c$t.csv" <<'PY'
import sys
n, t = int(sys.argv[1]), int(sys.argv[2])
print("phone,name")
for i in range(n):
    print(f"+447{912 + t}{i:05d}7,Name{i}")
PY
done
tokens=$(printf 'bench-token-%s,' 0 1 2); tokens=${tokens%,}
sms=(--channel sms --bot 3941 --message "Hi {name}, your parcel is on its way.")
workers_args=(--listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --rate 10000 --number-rate 100 --in-flight 64)
for t in 0 1 2; do workers_args+=(--token-file "$work/token$t"); done
port=18290

now_ms() { date +%s%3N; }

# Queues the three campaigns in $1, starts $2 workers, and prints the seconds until all is sent.
send_all() {
  local db=$1 count=$2 start pids=()
  for t in 0 1 2; do
    "$bin" run "$work/c$t.csv" "${sms[@]}" --detach --db "$db" --token-file "$work/token$t" >/dev/null 2>&1
  done
  start=$(now_ms)
  for _ in $(seq "$count"); do
    "$bin" worker "${workers_args[@]}" --db "$db" >>"$work/workers.log" 2>&1 &
    pids+=($!)
  done
  until [ "$("$bin" list --json --db "$db" | grep -o '"state":"sent"' | wc -l)" -eq 3 ]; do
    sleep 0.2
  done
  echo "scale=1; $(( $(now_ms) - start )) / 1000" | bc
  kill -TERM "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
}

fresh_pg() {
  local name="bench_$1_$$"
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name"
  echo "$pg/$name"
}

export PGOPTIONS='--client-min-messages=warning'
total=$((3 * n))
echo "messages: $total (3 tokens x $n), limits off"
for run in $(seq "${THROUGHPUT_RUNS:-$runs}"); do
  port=$((port + 1))
  "$bin" sim --listen "127.0.0.1:$port" --tokens "$tokens" --token-rate 0 --number-rate 0 >/dev/null 2>&1 &
  sim=$!
  export CONVRS_API_URL="http://127.0.0.1:$port"
  line="run $run:"
  s=$(send_all "$work/sqlite-$run.db" 1)
  line+=" sqlite/1 $(echo "$total / $s" | bc) msg/s ($s s);"
  for k in 1 2 3; do
    s=$(send_all "$(fresh_pg "$k$run")" "$k")
    line+=" pg/$k $(echo "$total / $s" | bc) msg/s ($s s);"
  done
  echo "$line"
  kill "$sim"; wait "$sim" 2>/dev/null || true
done

# Takeover: two workers, one killed; the time until the other holds every token (the first of
# the dead one's tokens is free at once on this host; the last waits until the dead worker is
# no longer counted, three ticks).
port=$((port + 1))
"$bin" sim --listen "127.0.0.1:$port" --tokens "$tokens" >/dev/null 2>&1 &
export CONVRS_API_URL="http://127.0.0.1:$port"
for run in $(seq "${TAKEOVER_RUNS:-$runs}"); do
  db=$(fresh_pg "takeover$run")
  : >"$work/a.log"; : >"$work/b.log"
  "$bin" worker "${workers_args[@]}" --db "$db" >"$work/a.log" 2>&1 &
  a=$!
  sleep 2
  "$bin" worker "${workers_args[@]}" --db "$db" >"$work/b.log" 2>&1 &
  b=$!
  until [ "$(grep -c 'holding the token' "$work/b.log")" -ge 1 ]; do sleep 0.1; done
  held=$(grep -c 'holding the token' "$work/b.log")
  start=$(now_ms)
  kill -KILL "$a"
  until [ "$(grep -c 'holding the token' "$work/b.log")" -ge $((held + 1)) ]; do sleep 0.05; done
  first=$(( $(now_ms) - start ))
  until [ "$(grep -c 'holding the token' "$work/b.log")" -ge $((held + 2)) ]; do sleep 0.05; done
  echo "takeover $run: first token ${first} ms, all tokens $(( $(now_ms) - start )) ms"
  kill -TERM "$b"; wait "$b" 2>/dev/null || true
done
