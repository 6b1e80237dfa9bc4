#!/usr/bin/env bash
# Fuzzes what takes outside input: CSV loading, webhook bodies, API answers (with the secret
# they must never show), cron and duration parsing, phone parsing. One command:
#
#   scripts/fuzz.sh [SECONDS per target, default 60] [TARGET...]
#
# Targets: csv webhook answers schedules phones (fuzz/fuzz_targets/). cargo-fuzz (libFuzzer) on
# the stable toolchain, so without AddressSanitizer (`-s none`: the crate forbids unsafe code,
# and what is looked for is a panic or a broken property). New inputs go to fuzz/corpus/TARGET,
# starting from fuzz/seeds/TARGET; a failing input is saved in fuzz/artifacts/TARGET and can be
# replayed with `cargo fuzz run -O -s none TARGET fuzz/artifacts/TARGET/crash-...`.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(csv webhook answers schedules phones)
cargo fuzz build -O -s none
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "== $target ($seconds s)"
  cargo fuzz run -O -s none "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>&1 |
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+== ERROR|.*panicked|SUMMARY)' || true
  if [ -n "$(find "artifacts/$target" -type f 2>/dev/null)" ]; then
    echo "$target: a failing input is in fuzz/artifacts/$target" >&2
    exit 1
  fi
done
