-- Times as integer unix milliseconds (UTC) everywhere, and CHECK constraints on every column
-- that holds a state, control, role or attempt outcome (the lists are src/queue/states.rs's;
-- a test compares them with migrations/sqlite/0014_typed_times.sql's and with the enums).

ALTER TABLE campaigns
    ALTER COLUMN created_at TYPE BIGINT USING round(extract(epoch FROM created_at::timestamptz) * 1000)::BIGINT,
    ALTER COLUMN updated_at TYPE BIGINT USING round(extract(epoch FROM updated_at::timestamptz) * 1000)::BIGINT,
    ADD CONSTRAINT campaigns_state_check CHECK (state IN ('loading', 'queued', 'running', 'sent', 'finished', 'deferred', 'paused', 'stopped', 'interrupted', 'cancelled')),
    ADD CONSTRAINT campaigns_control_check CHECK (control IN ('paused', 'cancelled'));

ALTER TABLE messages
    ALTER COLUMN created_at TYPE BIGINT USING round(extract(epoch FROM created_at::timestamptz) * 1000)::BIGINT,
    ALTER COLUMN updated_at TYPE BIGINT USING round(extract(epoch FROM updated_at::timestamptz) * 1000)::BIGINT,
    ADD CONSTRAINT messages_state_check CHECK (state IN ('queued', 'sending', 'sent', 'delivered', 'read', 'replied', 'failed', 'uncertain', 'expired', 'cancelled'));

ALTER TABLE attempts
    ALTER COLUMN started_at TYPE BIGINT USING round(extract(epoch FROM started_at::timestamptz) * 1000)::BIGINT,
    ALTER COLUMN finished_at TYPE BIGINT USING round(extract(epoch FROM finished_at::timestamptz) * 1000)::BIGINT,
    ADD CONSTRAINT attempts_outcome_check CHECK (outcome IN ('sent', 'queued', 'failed', 'uncertain'));

ALTER TABLE events
    ALTER COLUMN at TYPE BIGINT USING round(extract(epoch FROM at::timestamptz) * 1000)::BIGINT;

ALTER TABLE suppressions
    ALTER COLUMN created_at TYPE BIGINT USING round(extract(epoch FROM created_at::timestamptz) * 1000)::BIGINT;

ALTER TABLE templates
    ALTER COLUMN fetched_at TYPE BIGINT USING round(extract(epoch FROM fetched_at::timestamptz) * 1000)::BIGINT;

ALTER TABLE token_stops
    ALTER COLUMN at TYPE BIGINT USING round(extract(epoch FROM at::timestamptz) * 1000)::BIGINT;

ALTER TABLE token_leases
    ADD CONSTRAINT token_leases_role_check CHECK (role IN ('worker', 'run'));

ALTER TABLE schedules
    ALTER COLUMN updated_at TYPE BIGINT USING round(extract(epoch FROM updated_at::timestamptz) * 1000)::BIGINT;

ALTER TABLE batches
    ADD CONSTRAINT batches_state_check CHECK (state IN ('loading', 'loaded', 'skipped'));

ALTER TABLE token_caps
    ALTER COLUMN updated_at TYPE BIGINT USING round(extract(epoch FROM updated_at::timestamptz) * 1000)::BIGINT;
