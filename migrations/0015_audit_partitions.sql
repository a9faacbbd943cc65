-- Issue 13: the audit trail partitioned by month (declarative range partitions on `at`, UTC
-- months), so old months can be detached, archived or dropped whole. A default partition takes
-- anything no month partition covers yet, so an insert never fails; `audit_partition(month)`
-- makes a month's partition and moves its rows out of the default one. The server makes the
-- current and the next two months' at start and every few hours (app.rs).

ALTER TABLE audit_events RENAME TO audit_events_unpartitioned;
ALTER TABLE audit_events_unpartitioned
    RENAME CONSTRAINT audit_events_pkey TO audit_events_unpartitioned_pkey;

CREATE TABLE audit_events (
    tenant_id uuid NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    -- UUIDv7: time-ordered, the cursor of the paged audit log.
    event_id uuid NOT NULL,
    at bigint NOT NULL DEFAULT now_ms(),
    actor_user uuid,
    actor_device uuid,
    action text NOT NULL,
    target text NOT NULL,
    diff jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The partition key must be part of the key; event ids are unique on their own.
    PRIMARY KEY (tenant_id, event_id, at)
) PARTITION BY RANGE (at);

DO $$
BEGIN
    ALTER TABLE audit_events ALTER COLUMN diff SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END
$$;

CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

-- The partition of the UTC month that contains `at_ms` (milliseconds since the epoch): made if
-- missing, with that month's rows moved out of the default partition. Returns its name.
CREATE FUNCTION audit_partition(at_ms bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamptz := date_trunc('month', to_timestamp(at_ms / 1000.0) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    lo bigint := (extract(epoch FROM month_start) * 1000)::bigint;
    hi bigint := (extract(epoch FROM month_start + interval '1 month') * 1000)::bigint;
    name text := 'audit_events_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    -- Serialises makers of partitions (two server instances at start).
    PERFORM pg_advisory_xact_lock(hashtext('audit_partition'));
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE audit_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE format('INSERT INTO %I SELECT * FROM audit_events_default WHERE at >= %s AND at < %s', name, lo, hi);
    EXECUTE format('DELETE FROM audit_events_default WHERE at >= %s AND at < %s', lo, hi);
    EXECUTE format('ALTER TABLE audit_events ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', name, lo, hi);
    RETURN name;
END
$$;

-- Every month the old table holds, then its rows.
SELECT audit_partition(m) FROM (
    SELECT DISTINCT (extract(epoch FROM date_trunc('month', to_timestamp(at / 1000.0) AT TIME ZONE 'UTC')) * 1000)::bigint AS m
    FROM audit_events_unpartitioned
) months;
SELECT audit_partition(now_ms());
INSERT INTO audit_events SELECT * FROM audit_events_unpartitioned;
DROP TABLE audit_events_unpartitioned;
