#!/usr/bin/env bash
# Short forms of every benchmark, to catch a regression before it lands: loading on SQLite (an
# SMS and a WhatsApp template campaign) and PostgreSQL, dispatch throughput against a bare HTTP loop, rate keeping, the first send of a
# resumed million-message campaign, one worker holding 100 tokens, a campaign sending beside a
# big load on PostgreSQL, what /metrics reads on a million messages, and workers on
# PostgreSQL. Each prints what it measured; then one table of the figures and their ratios
# (from the same run) against the targets.
# Rerun it, before and after, for every change to src/queue/, src/dispatch/ or the loading
# (src/campaign/load*), and keep its table in BENCHMARKS.md. About 3 minutes on 2 cores after
# the build (it prints each part's time).
#
#   scripts/bench.sh [ROWS to load, default 200000]
#
# PostgreSQL from TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres), a
# server where it may create and drop databases.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-200000}
pg=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
cargo build --release --locked --quiet --examples --bin campaign
examples=$PWD/target/release/examples
begun=$SECONDS
took=()
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Runs a benchmark, its output shown and kept as $out/NAME, its time kept in `took`.
bench() {
  local name=$1 start=$SECONDS
  shift
  echo "== $name: $*"
  "$@" | tee "$out/$name"
  took+=("$name $((SECONDS - start)) s")
}

bench load-sqlite "$examples/bench_load" "$rows" 3
BENCH_CHANNEL=whatsapp bench load-whatsapp "$examples/bench_load" "$rows" 3
BENCH_PG=$pg bench load-postgres "$examples/bench_load" "$rows" 3
bench throughput "$examples/bench_dispatch" throughput 3
bench rate "$examples/bench_dispatch" rate 1
bench first-send "$examples/bench_dispatch" first-send 1
bench tokens-sqlite "$examples/bench_worker" tokens 1 100 100
BENCH_PG=$pg bench tokens-postgres "$examples/bench_worker" tokens 1 100 100
BENCH_PG=$pg bench beside "$examples/bench_worker" beside 1 300 300000
BENCH_PG=$pg bench metrics "$examples/bench_metrics" 1000000 10
PG_URL=${pg%/*} THROUGHPUT_RUNS=1 TAKEOVER_RUNS=0 bench workers scripts/bench_workers.sh 20000 1

# The figure after `label` in a benchmark's output.
figure() { grep -o "$2 [0-9.]*" "$out/$1" | head -1 | awk '{print $NF}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

load_s=$(sed -n 's/^ load: median \([0-9.]*\) s.*/\1/p' "$out/load-sqlite")
parse_s=$(sed -n 's/^parse: median \([0-9.]*\) s.*/\1/p' "$out/load-sqlite")
wa_load_s=$(sed -n 's/^ load: median \([0-9.]*\) s.*/\1/p' "$out/load-whatsapp")
pg_load_s=$(sed -n 's/^ load: median \([0-9.]*\) s.*/\1/p' "$out/load-postgres")
ours=$(sed -n 's/.*dispatcher \([0-9]*\) msg\/s.*/\1/p' "$out/throughput")
bare=$(sed -n 's/.*bare HTTP loop \([0-9]*\) msg\/s.*/\1/p' "$out/throughput")
through=$(sed -n 's/.*ratio \([0-9.]*\) (median.*/\1/p' "$out/throughput")
rate=$(sed -n 's/.*median \([0-9.]*\) msg\/s = \([0-9.]*\)%.*; \([0-9]*\) rate-limit.*/\1 msg\/s (\2%), \3 rejected/p' "$out/rate")
first=$(sed -n 's/.*median \([0-9.]*\) s from opening.*/\1/p' "$out/first-send")
metrics_sqlite=$(sed -n 's/^sqlite: \/metrics store read median \([0-9.]*\) ms; the scan it replaced \([0-9.]*\) ms.*/\1 ms (the scan: \2 ms)/p' "$out/metrics")
metrics_pg=$(sed -n 's/^postgres: \/metrics store read median \([0-9.]*\) ms; the scan it replaced \([0-9.]*\) ms.*/\1 ms (the scan: \2 ms)/p' "$out/metrics")
tokens() { sed -n 's/.*per token median \([0-9.]*\) msg\/s.*aggregate \([0-9]*\) msg\/s; \([0-9]*\) rate-limit.*first sends spread over \([0-9.]*\) s.*/\1 msg\/s each, \2 in all, \3 rejected; first sends over \4 s/p' "$out/$1"; }
beside=$(sed -n 's/.*(load median \([0-9.]*\) s): largest gap between sends during the load median \([0-9.]*\) s.*rate \([0-9.]*\) msg\/s; \([0-9]*\) rate-limit.*/load \1 s; largest gap \2 s, \3 msg\/s, \4 rejected/p' "$out/beside")
sqlite1=$(figure workers "sqlite/1")
pg1=$(figure workers "pg/1")
pg3=$(figure workers "pg/3")

echo
echo "| benchmark | measured | ratio | target |"
echo "|---|---|---|---|"
echo "| load $rows rows, SQLite | load $load_s s, parse $parse_s s | load/parse $(ratio "$load_s" "$parse_s") | at most 2 (at 1M rows) |"
echo "| load $rows rows, SQLite, a WhatsApp template | load $wa_load_s s | load/parse $(ratio "$wa_load_s" "$parse_s") | |"
echo "| load $rows rows, PostgreSQL | load $pg_load_s s | load/parse $(ratio "$pg_load_s" "$parse_s") | 1M rows under 10 s |"
echo "| dispatch throughput, SQLite | $ours msg/s, bare loop $bare msg/s | $through | at least 0.8 |"
echo "| rate at --rate 200 | $rate | | 100%, 0 rejected |"
echo "| first send, 1M queued | $first s | | |"
echo "| workers, 60,000 messages on 3 tokens | SQLite/1 $sqlite1, PostgreSQL/1 $pg1, PostgreSQL/3 $pg3 msg/s | pg1/sqlite $(ratio "$pg1" "$sqlite1"), pg3/sqlite $(ratio "$pg3" "$sqlite1") | at least 0.75 and 1 |"
echo "| 300,000-row load on PostgreSQL beside a campaign at 10/s | $beside | | no gap over 1 s, 10/s |"
echo "| /metrics store read, 1M messages | SQLite $metrics_sqlite, PostgreSQL $metrics_pg | | under 20 ms (at 2M) |"
echo "| one worker, 100 tokens x 100 SMS at 10/s | SQLite $(tokens tokens-sqlite); PostgreSQL $(tokens tokens-postgres) | | at least 9.9/s each, 990 in all, 0 rejected |"
echo
took_all=$(printf '%s, ' "${took[@]}")
echo "The benchmarks took $((SECONDS - begun)) s after the build (${took_all%, })."
