#!/usr/bin/env bash
# What SQLite alone takes to insert ROWS messages (default 200,000) into the `messages` table
# (its columns and constraints as migrated), in one statement and one transaction, WAL and
# synchronous = FULL as the store opens it: with every index of the table, and with only its
# primary key and UNIQUE (campaign_id, dedupe_key). The rows are made by SQL (phones in a
# scattered order, the payload of bench_load's SMS); making them alone is timed too. The
# floor under any load of ours: `bench_load` compares its load with parsing the same rows.
#
#   scripts/sqlite_floor.sh [ROWS]   (needs the sqlite3 shell)
set -euo pipefail
rows=${1:-200000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
rows_sql="WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
SELECT 1 AS c, i AS line, '+4479' || (10000000 + (i * 7919) % 9000000) AS phone,
 '+4479' || (10000000 + (i * 7919) % 9000000) AS dkey, '+4479' || (10000000 + (i * 7919) % 9000000) AS rkey,
 '{\"bot_id\":3941,\"phone\":\"+447911000000\",\"message\":\"Hi Name, your parcel is on its way.\"}' AS payload,
 1765000000000 AS q, 1765000000000 AS cr, 1765000000000 AS up FROM n"
indexes_all="CREATE INDEX messages_claim ON messages (campaign_id, state, next_attempt_at);
CREATE INDEX messages_mid ON messages (mid) WHERE mid IS NOT NULL;
CREATE INDEX messages_poll ON messages (campaign_id, next_poll_at) WHERE next_poll_at IS NOT NULL;
CREATE INDEX messages_expiry ON messages (expires_ms) WHERE state = 'queued' AND expires_ms IS NOT NULL;
CREATE INDEX messages_recipient ON messages (campaign_id, recipient_key) WHERE batch_id IS NOT NULL;
CREATE INDEX messages_batch ON messages (batch_id) WHERE batch_id IS NOT NULL;"
run() {
  local name=$1 indexes=$2 db="$dir/$1.db"
  local time
  time=$(sqlite3 "$db" <<SQL | awk '/^Run Time: real/ { t += $4 } END { printf "%.3f", t }'
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE campaigns (id INTEGER PRIMARY KEY);
INSERT INTO campaigns VALUES (1);
CREATE TABLE messages (id INTEGER PRIMARY KEY, campaign_id INTEGER NOT NULL REFERENCES campaigns (id),
 line INTEGER NOT NULL, phone TEXT NOT NULL, dedupe_key TEXT NOT NULL, payload TEXT NOT NULL,
 state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'sent', 'delivered', 'read', 'replied', 'failed', 'uncertain', 'expired', 'cancelled')),
 attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL DEFAULT 0, attempt_id INTEGER,
 mid TEXT, uid TEXT, ack INTEGER, error_code INTEGER, error TEXT, created_at INTEGER NOT NULL,
 updated_at INTEGER NOT NULL, sent_at INTEGER, delivered_at INTEGER, last_ack_at INTEGER,
 polls INTEGER NOT NULL DEFAULT 0, next_poll_at INTEGER, batch_id INTEGER, recipient_key TEXT,
 queued_ms INTEGER, expires_ms INTEGER, tz TEXT, UNIQUE (campaign_id, dedupe_key));
$indexes
PRAGMA foreign_keys = ON;
.timer on
BEGIN;
INSERT INTO messages (campaign_id, line, phone, dedupe_key, recipient_key, payload, queued_ms, created_at, updated_at)
$rows_sql;
COMMIT;
SQL
)
  echo "$name: $rows rows inserted in $time s"
}
made=$(sqlite3 :memory: <<SQL | awk '/^Run Time: real/ { t += $4 } END { printf "%.3f", t }'
.timer on
SELECT sum(length(phone) + length(dkey) + length(rkey) + length(payload) + line + q + cr + up) FROM ($rows_sql);
SQL
)
echo "making the rows alone: $made s"
run "every index" "$indexes_all"
run "primary key and UNIQUE only" ""
