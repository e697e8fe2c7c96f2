#include "messaging/pgmq/pgmq_schema.hpp"

#include "messaging/pgmq/pg_errors.hpp"

#include <array>
#include <string>

#include <pqxx/pqxx>

namespace tasker::messaging {

namespace {

// -- migrations (append only: never edit an applied step) ---------------------

// Schema, bookkeeping tables and types, name rules and queue lifecycle.
constexpr std::string_view kQueues = R"sql(
CREATE SCHEMA IF NOT EXISTS pgmq;

CREATE TABLE IF NOT EXISTS pgmq.meta (
  queue_name varchar UNIQUE NOT NULL,
  is_partitioned boolean NOT NULL,
  is_unlogged boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

DO $do$
BEGIN
  IF to_regtype('pgmq.message_record') IS NULL THEN
    CREATE TYPE pgmq.message_record AS (
      msg_id bigint,
      read_ct integer,
      enqueued_at timestamptz,
      last_read_at timestamptz,
      vt timestamptz,
      message jsonb,
      headers jsonb
    );
  END IF;
  IF to_regtype('pgmq.queue_record') IS NULL THEN
    CREATE TYPE pgmq.queue_record AS (
      queue_name varchar,
      is_partitioned boolean,
      is_unlogged boolean,
      created_at timestamptz
    );
  END IF;
  IF to_regtype('pgmq.metrics_result') IS NULL THEN
    CREATE TYPE pgmq.metrics_result AS (
      queue_name text,
      queue_length bigint,
      newest_msg_age_sec integer,
      oldest_msg_age_sec integer,
      total_messages bigint,
      scrape_time timestamptz,
      queue_visible_length bigint
    );
  END IF;
END
$do$;

-- Name rules of PGMQ: the checks run inside every function that builds a
-- table name, so SQL callers get them too.
CREATE OR REPLACE FUNCTION pgmq.format_table_name(queue_name text, prefix text)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  IF queue_name ~ '\$|;|--|''' THEN
    RAISE EXCEPTION 'queue name contains invalid characters: $, ;, --, or \''';
  END IF;
  RETURN lower(prefix || '_' || queue_name);
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.validate_queue_name(queue_name text)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  IF queue_name ~ '\$|;|--|''' THEN
    RAISE EXCEPTION 'queue name contains invalid characters: $, ;, --, or \''';
  END IF;
  IF length(queue_name) > 47 THEN
    RAISE EXCEPTION 'queue name is too long, maximum length is 47 characters';
  END IF;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.acquire_queue_lock(queue_name text)
RETURNS void LANGUAGE sql AS $fn$
  SELECT pg_advisory_xact_lock(hashtext('pgmq.queue_' || queue_name));
$fn$;

-- Shared body of create, create_non_partitioned and create_unlogged.
CREATE OR REPLACE FUNCTION pgmq._create_queue(queue_name text, unlogged boolean)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
  atable text := pgmq.format_table_name(queue_name, 'a');
BEGIN
  PERFORM pgmq.validate_queue_name(queue_name);
  PERFORM pgmq.acquire_queue_lock(queue_name);
  EXECUTE format(
    'CREATE %s TABLE IF NOT EXISTS pgmq.%I (
       msg_id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
       read_ct integer NOT NULL DEFAULT 0,
       enqueued_at timestamptz NOT NULL DEFAULT now(),
       last_read_at timestamptz,
       vt timestamptz NOT NULL,
       message jsonb,
       headers jsonb)',
    CASE WHEN unlogged THEN 'UNLOGGED' ELSE '' END, qtable);
  EXECUTE format(
    'CREATE TABLE IF NOT EXISTS pgmq.%I (
       msg_id bigint PRIMARY KEY,
       read_ct integer NOT NULL DEFAULT 0,
       enqueued_at timestamptz NOT NULL DEFAULT now(),
       last_read_at timestamptz,
       archived_at timestamptz NOT NULL DEFAULT now(),
       vt timestamptz NOT NULL,
       message jsonb,
       headers jsonb)',
    atable);
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON pgmq.%I (vt ASC)',
                 qtable || '_vt_idx', qtable);
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON pgmq.%I (archived_at)',
                 'archived_at_idx_' || queue_name, atable);
  INSERT INTO pgmq.meta (queue_name, is_partitioned, is_unlogged)
  VALUES (queue_name, false, unlogged)
  ON CONFLICT DO NOTHING;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.create_non_partitioned(queue_name text)
RETURNS void LANGUAGE sql AS $fn$
  SELECT pgmq._create_queue(queue_name, false);
$fn$;

CREATE OR REPLACE FUNCTION pgmq.create(queue_name text)
RETURNS void LANGUAGE sql AS $fn$
  SELECT pgmq._create_queue(queue_name, false);
$fn$;

CREATE OR REPLACE FUNCTION pgmq.create_unlogged(queue_name text)
RETURNS void LANGUAGE sql AS $fn$
  SELECT pgmq._create_queue(queue_name, true);
$fn$;

CREATE OR REPLACE FUNCTION pgmq.drop_queue(queue_name text)
RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
  atable text := pgmq.format_table_name(queue_name, 'a');
BEGIN
  PERFORM pgmq.acquire_queue_lock(queue_name);
  IF NOT EXISTS (SELECT 1 FROM pgmq.meta m
                 WHERE m.queue_name = drop_queue.queue_name) THEN
    RAISE NOTICE 'pgmq queue `%` does not exist', queue_name;
    RETURN false;
  END IF;
  EXECUTE format('DROP TABLE IF EXISTS pgmq.%I', qtable);
  EXECUTE format('DROP TABLE IF EXISTS pgmq.%I', atable);
  DELETE FROM pgmq.meta m WHERE m.queue_name = drop_queue.queue_name;
  RETURN true;
END;
$fn$;

-- Deprecated upstream; partitioned queues are not supported here.
CREATE OR REPLACE FUNCTION pgmq.drop_queue(queue_name text, partitioned boolean)
RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE WARNING 'drop_queue(queue_name, partitioned) is deprecated; use drop_queue(queue_name)';
  RETURN pgmq.drop_queue(queue_name);
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.purge_queue(queue_name text)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
  removed bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM pgmq.%I', qtable) INTO removed;
  EXECUTE format('TRUNCATE TABLE pgmq.%I', qtable);
  RETURN removed;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.detach_archive(queue_name text)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE WARNING 'detach_archive(queue_name) does nothing: archive tables are not extension members';
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.list_queues()
RETURNS SETOF pgmq.queue_record LANGUAGE sql AS $fn$
  SELECT m.queue_name, m.is_partitioned, m.is_unlogged, m.created_at
  FROM pgmq.meta m;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.metrics(queue_name text)
RETURNS pgmq.metrics_result LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
  result pgmq.metrics_result;
BEGIN
  EXECUTE format(
    'SELECT $1, s.queue_length, s.newest_age, s.oldest_age, c.total,
            s.scrape_time, s.visible_length
     FROM (SELECT count(*) AS queue_length,
                  count(*) FILTER (WHERE vt <= now()) AS visible_length,
                  extract(epoch FROM now() - max(enqueued_at))::integer
                    AS newest_age,
                  extract(epoch FROM now() - min(enqueued_at))::integer
                    AS oldest_age,
                  now() AS scrape_time
           FROM pgmq.%I) s,
          (SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS total
           FROM pgmq.%I) c',
    qtable, qtable || '_msg_id_seq')
  INTO result USING queue_name;
  RETURN result;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.metrics_all()
RETURNS SETOF pgmq.metrics_result LANGUAGE plpgsql AS $fn$
DECLARE
  name text;
BEGIN
  FOR name IN SELECT m.queue_name FROM pgmq.meta m ORDER BY m.queue_name LOOP
    RETURN NEXT pgmq.metrics(name);
  END LOOP;
END;
$fn$;

GRANT USAGE ON SCHEMA pgmq TO pg_monitor;
GRANT SELECT ON ALL TABLES IN SCHEMA pgmq TO pg_monitor;
ALTER DEFAULT PRIVILEGES IN SCHEMA pgmq GRANT SELECT ON TABLES TO pg_monitor;
)sql";

// Sending, reading, visibility, deleting and archiving messages.
constexpr std::string_view kMessages = R"sql(
-- send: every shape ends in the (headers, timestamptz) form.
CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, headers jsonb,
                                     delay timestamptz)
RETURNS SETOF bigint LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
BEGIN
  RETURN QUERY EXECUTE format(
    'INSERT INTO pgmq.%I (vt, message, headers) VALUES ($1, $2, $3)
     RETURNING msg_id', qtable)
  USING delay, msg, headers;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, headers jsonb,
                                     delay integer)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send(queue_name, msg, headers,
                          clock_timestamp() + make_interval(secs => delay));
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, headers jsonb)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send(queue_name, msg, headers, clock_timestamp());
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, delay integer)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send(queue_name, msg, NULL::jsonb,
                          clock_timestamp() + make_interval(secs => delay));
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb,
                                     delay timestamptz)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send(queue_name, msg, NULL::jsonb, delay);
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send(queue_name, msg, NULL::jsonb, clock_timestamp());
$fn$;

-- send_batch: same shapes; ids come back in input order.
CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[],
                                           headers jsonb[], delay timestamptz)
RETURNS SETOF bigint LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
BEGIN
  IF msgs IS NULL OR cardinality(msgs) = 0 THEN
    RAISE EXCEPTION 'msgs must be a non-empty array';
  END IF;
  IF headers IS NOT NULL AND cardinality(headers) <> cardinality(msgs) THEN
    RAISE EXCEPTION 'headers must have as many elements as msgs (% vs %)',
      cardinality(headers), cardinality(msgs);
  END IF;
  RETURN QUERY EXECUTE format(
    'INSERT INTO pgmq.%I (vt, message, headers)
     SELECT $1, b.msg, b.hdr
     FROM unnest($2::jsonb[], $3::jsonb[]) WITH ORDINALITY AS b(msg, hdr, pos)
     ORDER BY b.pos
     RETURNING msg_id', qtable)
  USING delay, msgs, headers;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[],
                                           headers jsonb[], delay integer)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch(queue_name, msgs, headers,
                                clock_timestamp() + make_interval(secs => delay));
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[],
                                           headers jsonb[])
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch(queue_name, msgs, headers, clock_timestamp());
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[],
                                           delay integer)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch(queue_name, msgs, NULL::jsonb[],
                                clock_timestamp() + make_interval(secs => delay));
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[],
                                           delay timestamptz)
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch(queue_name, msgs, NULL::jsonb[], delay);
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[])
RETURNS SETOF bigint LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch(queue_name, msgs, NULL::jsonb[],
                                clock_timestamp());
$fn$;

-- read: claim up to qty visible messages (oldest first) for vt seconds.
CREATE OR REPLACE FUNCTION pgmq.read(queue_name text, vt integer, qty integer,
                                     conditional jsonb DEFAULT '{}')
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
BEGIN
  RETURN QUERY EXECUTE format(
    'WITH picked AS (
       SELECT msg_id FROM pgmq.%I
       WHERE vt <= clock_timestamp()
         AND ($3 = ''{}''::jsonb OR message @> $3)
       ORDER BY msg_id
       LIMIT $1
       FOR UPDATE SKIP LOCKED)
     UPDATE pgmq.%I m
     SET vt = clock_timestamp() + make_interval(secs => $2),
         read_ct = m.read_ct + 1,
         last_read_at = clock_timestamp()
     FROM picked
     WHERE m.msg_id = picked.msg_id
     RETURNING m.msg_id, m.read_ct, m.enqueued_at, m.last_read_at, m.vt,
               m.message, m.headers', qtable, qtable)
  USING qty, vt, coalesce(conditional, '{}'::jsonb);
END;
$fn$;

-- Untyped callers (node-postgres, libpqxx exec_params) pass unknown-typed
-- parameters; this all-text form is what they resolve to.
CREATE OR REPLACE FUNCTION pgmq.read(queue_name text, vt text, qty text,
                                     conditional text DEFAULT '{}')
RETURNS SETOF pgmq.message_record LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.read(queue_name, vt::integer, qty::integer,
                          coalesce(conditional, '{}')::jsonb);
$fn$;

CREATE OR REPLACE FUNCTION pgmq.read_with_poll(queue_name text, vt integer,
                                               qty integer,
                                               max_poll_seconds integer DEFAULT 5,
                                               poll_interval_ms integer DEFAULT 100,
                                               conditional jsonb DEFAULT '{}')
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql AS $fn$
DECLARE
  give_up timestamptz := clock_timestamp() + make_interval(secs => max_poll_seconds);
  found_any boolean;
  r pgmq.message_record;
BEGIN
  LOOP
    found_any := false;
    FOR r IN SELECT * FROM pgmq.read(queue_name, vt, qty, conditional) LOOP
      found_any := true;
      RETURN NEXT r;
    END LOOP;
    IF found_any OR clock_timestamp() >= give_up THEN
      RETURN;
    END IF;
    PERFORM pg_sleep(poll_interval_ms / 1000.0);
  END LOOP;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.pop(queue_name text, qty integer DEFAULT 1)
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
BEGIN
  RETURN QUERY EXECUTE format(
    'WITH picked AS (
       SELECT msg_id FROM pgmq.%I
       WHERE vt <= clock_timestamp()
       ORDER BY msg_id
       LIMIT $1
       FOR UPDATE SKIP LOCKED)
     DELETE FROM pgmq.%I m
     USING picked
     WHERE m.msg_id = picked.msg_id
     RETURNING m.msg_id, m.read_ct, m.enqueued_at, m.last_read_at, m.vt,
               m.message, m.headers', qtable, qtable)
  USING qty;
END;
$fn$;

-- set_vt: absolute (timestamptz) forms carry the work; integer = seconds.
CREATE OR REPLACE FUNCTION pgmq.set_vt(queue_name text, msg_ids bigint[],
                                       vt timestamptz)
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
BEGIN
  RETURN QUERY EXECUTE format(
    'UPDATE pgmq.%I SET vt = $1 WHERE msg_id = ANY($2)
     RETURNING msg_id, read_ct, enqueued_at, last_read_at, vt, message,
               headers', qtable)
  USING vt, msg_ids;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.set_vt(queue_name text, msg_ids bigint[],
                                       vt integer)
RETURNS SETOF pgmq.message_record LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.set_vt(queue_name, msg_ids,
                            clock_timestamp() + make_interval(secs => vt));
$fn$;

CREATE OR REPLACE FUNCTION pgmq.set_vt(queue_name text, msg_id bigint,
                                       vt timestamptz)
RETURNS SETOF pgmq.message_record LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.set_vt(queue_name, ARRAY[msg_id], vt);
$fn$;

CREATE OR REPLACE FUNCTION pgmq.set_vt(queue_name text, msg_id bigint,
                                       vt integer)
RETURNS SETOF pgmq.message_record LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.set_vt(queue_name, ARRAY[msg_id],
                            clock_timestamp() + make_interval(secs => vt));
$fn$;

-- The catch-all for untyped callers: an id or '{ids}', and seconds or a
-- timestamp.
CREATE OR REPLACE FUNCTION pgmq.set_vt(queue_name text, msg_id text, vt text)
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql AS $fn$
DECLARE
  ids bigint[] := CASE WHEN btrim(msg_id) LIKE '{%' THEN msg_id::bigint[]
                       ELSE ARRAY[msg_id::bigint] END;
BEGIN
  IF btrim(vt) ~ '^[+-]?[0-9]+$' THEN
    RETURN QUERY SELECT * FROM pgmq.set_vt(queue_name, ids, vt::integer);
  ELSE
    RETURN QUERY SELECT * FROM pgmq.set_vt(queue_name, ids, vt::timestamptz);
  END IF;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.delete(queue_name text, msg_ids bigint[])
RETURNS SETOF bigint LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
BEGIN
  RETURN QUERY EXECUTE format(
    'DELETE FROM pgmq.%I WHERE msg_id = ANY($1) RETURNING msg_id', qtable)
  USING msg_ids;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.delete(queue_name text, msg_id bigint)
RETURNS boolean LANGUAGE sql AS $fn$
  SELECT EXISTS (SELECT 1 FROM pgmq.delete(queue_name, ARRAY[msg_id]));
$fn$;

CREATE OR REPLACE FUNCTION pgmq.archive(queue_name text, msg_ids bigint[])
RETURNS SETOF bigint LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
  atable text := pgmq.format_table_name(queue_name, 'a');
BEGIN
  RETURN QUERY EXECUTE format(
    'WITH gone AS (
       DELETE FROM pgmq.%I WHERE msg_id = ANY($1)
       RETURNING msg_id, read_ct, enqueued_at, last_read_at, vt, message,
                 headers)
     INSERT INTO pgmq.%I (msg_id, read_ct, enqueued_at, last_read_at, vt,
                          message, headers)
     SELECT msg_id, read_ct, enqueued_at, last_read_at, vt, message, headers
     FROM gone
     RETURNING msg_id', qtable, atable)
  USING msg_ids;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.archive(queue_name text, msg_id bigint)
RETURNS boolean LANGUAGE sql AS $fn$
  SELECT EXISTS (SELECT 1 FROM pgmq.archive(queue_name, ARRAY[msg_id]));
$fn$;
)sql";

// PGMQ 1.7+ notify-on-insert with throttling (1.8) and its listing (1.11).
constexpr std::string_view kNotifyInsert = R"sql(
CREATE UNLOGGED TABLE IF NOT EXISTS pgmq.notify_insert_throttle (
  queue_name varchar UNIQUE NOT NULL
    REFERENCES pgmq.meta (queue_name) ON DELETE CASCADE ON UPDATE CASCADE,
  throttle_interval_ms integer NOT NULL DEFAULT 0,
  last_notified_at timestamptz NOT NULL DEFAULT to_timestamp(0)
);

-- Fires on insert into a queue table (deferred: the NOTIFY goes out at
-- commit) at most once per throttle interval. Channel pgmq.q_<name>.INSERT,
-- empty payload. The queue name comes as trigger argument, case kept.
CREATE OR REPLACE FUNCTION pgmq.notify_queue_listeners()
RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  bumped integer;
BEGIN
  UPDATE pgmq.notify_insert_throttle t
  SET last_notified_at = clock_timestamp()
  WHERE t.queue_name = TG_ARGV[0]
    AND (t.throttle_interval_ms = 0
         OR clock_timestamp() - t.last_notified_at
            >= make_interval(secs => t.throttle_interval_ms / 1000.0));
  GET DIAGNOSTICS bumped = ROW_COUNT;
  IF bumped > 0 THEN
    PERFORM pg_notify('pgmq.' || TG_TABLE_NAME || '.' || TG_OP, NULL);
  END IF;
  RETURN NEW;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.disable_notify_insert(queue_name text)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
BEGIN
  IF to_regclass(format('pgmq.%I', qtable)) IS NOT NULL THEN
    EXECUTE format(
      'DROP TRIGGER IF EXISTS trigger_notify_queue_insert_listeners ON pgmq.%I',
      qtable);
  END IF;
  DELETE FROM pgmq.notify_insert_throttle t
  WHERE t.queue_name = disable_notify_insert.queue_name;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.enable_notify_insert(
  queue_name text, throttle_interval_ms integer DEFAULT 250)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
BEGIN
  IF throttle_interval_ms IS NULL OR throttle_interval_ms < 0 THEN
    RAISE EXCEPTION 'throttle_interval_ms must be 0 or more';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pgmq.meta m
                 WHERE m.queue_name = enable_notify_insert.queue_name) THEN
    RAISE EXCEPTION 'pgmq queue `%` does not exist', queue_name;
  END IF;
  PERFORM pgmq.disable_notify_insert(queue_name);
  INSERT INTO pgmq.notify_insert_throttle AS t (queue_name, throttle_interval_ms)
  VALUES (enable_notify_insert.queue_name, enable_notify_insert.throttle_interval_ms);
  EXECUTE format(
    'CREATE CONSTRAINT TRIGGER trigger_notify_queue_insert_listeners
     AFTER INSERT ON pgmq.%I DEFERRABLE FOR EACH ROW
     EXECUTE PROCEDURE pgmq.notify_queue_listeners(%L)', qtable, queue_name);
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.update_notify_insert(queue_name text,
                                                     throttle_interval_ms integer)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  IF throttle_interval_ms IS NULL OR throttle_interval_ms < 0 THEN
    RAISE EXCEPTION 'throttle_interval_ms must be 0 or more';
  END IF;
  UPDATE pgmq.notify_insert_throttle t
  SET throttle_interval_ms = update_notify_insert.throttle_interval_ms
  WHERE t.queue_name = update_notify_insert.queue_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'notify on insert is not enabled for queue `%`', queue_name;
  END IF;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.list_notify_insert_throttles()
RETURNS TABLE (queue_name text, throttle_interval_ms integer,
               last_notified_at timestamptz)
LANGUAGE sql AS $fn$
  SELECT t.queue_name, t.throttle_interval_ms, t.last_notified_at
  FROM pgmq.notify_insert_throttle t ORDER BY t.queue_name;
$fn$;
)sql";

// PGMQ 1.11 topics: AMQP-style routing keys bound to queues by pattern.
constexpr std::string_view kTopics = R"sql(
CREATE OR REPLACE FUNCTION pgmq.validate_routing_key(routing_key text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  IF routing_key IS NULL OR length(routing_key) NOT BETWEEN 1 AND 255 THEN
    RAISE EXCEPTION 'routing key must be 1 to 255 characters';
  END IF;
  IF routing_key !~ '^[A-Za-z0-9._-]+$' THEN
    RAISE EXCEPTION 'routing key "%" may contain only letters, digits, ".", "_" and "-"',
      routing_key;
  END IF;
  IF routing_key LIKE '.%' OR routing_key LIKE '%.' OR routing_key LIKE '%..%' THEN
    RAISE EXCEPTION 'routing key "%" has an empty segment', routing_key;
  END IF;
  RETURN true;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.validate_topic_pattern(pattern text)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  IF pattern IS NULL OR length(pattern) NOT BETWEEN 1 AND 255 THEN
    RAISE EXCEPTION 'topic pattern must be 1 to 255 characters';
  END IF;
  IF pattern !~ '^[A-Za-z0-9._*#-]+$' THEN
    RAISE EXCEPTION 'topic pattern "%" may contain only letters, digits, ".", "_", "-", "*" and "#"',
      pattern;
  END IF;
  IF pattern LIKE '.%' OR pattern LIKE '%.' OR pattern LIKE '%..%' THEN
    RAISE EXCEPTION 'topic pattern "%" has an empty segment', pattern;
  END IF;
  IF pattern ~ '\*\*|##|\*#|#\*' THEN
    RAISE EXCEPTION 'topic pattern "%" has adjacent wildcards', pattern;
  END IF;
  RETURN true;
END;
$fn$;

-- "*" is one segment, "#" anything (".*"); dots are literal.
CREATE OR REPLACE FUNCTION pgmq._compile_topic_pattern(pattern text)
RETURNS text LANGUAGE sql IMMUTABLE AS $fn$
  SELECT '^' || replace(replace(replace(pattern, '.', '\.'), '*', '[^.]+'),
                        '#', '.*') || '$';
$fn$;

CREATE TABLE IF NOT EXISTS pgmq.topic_bindings (
  pattern text NOT NULL,
  queue_name varchar NOT NULL
    REFERENCES pgmq.meta (queue_name) ON DELETE CASCADE ON UPDATE CASCADE,
  bound_at timestamptz NOT NULL DEFAULT now(),
  compiled_regex text GENERATED ALWAYS AS
    (pgmq._compile_topic_pattern(pattern)) STORED,
  UNIQUE (pattern, queue_name)
);

CREATE OR REPLACE FUNCTION pgmq.bind_topic(pattern text, queue_name text)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pgmq.validate_topic_pattern(pattern);
  IF NOT EXISTS (SELECT 1 FROM pgmq.meta m
                 WHERE m.queue_name = bind_topic.queue_name) THEN
    RAISE EXCEPTION 'pgmq queue `%` does not exist', queue_name;
  END IF;
  INSERT INTO pgmq.topic_bindings (pattern, queue_name)
  VALUES (bind_topic.pattern, bind_topic.queue_name)
  ON CONFLICT DO NOTHING;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.unbind_topic(pattern text, queue_name text)
RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
  DELETE FROM pgmq.topic_bindings b
  WHERE b.pattern = unbind_topic.pattern
    AND b.queue_name = unbind_topic.queue_name;
  RETURN FOUND;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.list_topic_bindings()
RETURNS TABLE (pattern text, queue_name text, bound_at timestamptz,
               compiled_regex text)
LANGUAGE sql AS $fn$
  SELECT b.pattern, b.queue_name, b.bound_at, b.compiled_regex
  FROM pgmq.topic_bindings b ORDER BY b.queue_name, b.pattern;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.list_topic_bindings(queue_name text)
RETURNS TABLE (pattern text, queue_name text, bound_at timestamptz,
               compiled_regex text)
LANGUAGE sql AS $fn$
  SELECT b.pattern, b.queue_name, b.bound_at, b.compiled_regex
  FROM pgmq.topic_bindings b WHERE b.queue_name = $1 ORDER BY b.pattern;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.test_routing(routing_key text)
RETURNS TABLE (pattern text, queue_name text, compiled_regex text)
LANGUAGE sql AS $fn$
  SELECT b.pattern, b.queue_name, b.compiled_regex
  FROM pgmq.topic_bindings b
  WHERE pgmq.validate_routing_key($1) AND $1 ~ b.compiled_regex
  ORDER BY b.queue_name, b.pattern;
$fn$;

-- Queues a routing key reaches: each once, in name order.
CREATE OR REPLACE FUNCTION pgmq._topic_queues(routing_key text)
RETURNS SETOF text LANGUAGE sql AS $fn$
  SELECT DISTINCT b.queue_name::text
  FROM pgmq.topic_bindings b
  WHERE pgmq.validate_routing_key($1) AND $1 ~ b.compiled_regex
  ORDER BY 1;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_topic(routing_key text, msg jsonb,
                                           headers jsonb, delay integer)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  target text;
  hits integer := 0;
BEGIN
  FOR target IN SELECT * FROM pgmq._topic_queues(routing_key) LOOP
    PERFORM pgmq.send(target, msg, headers, delay);
    hits := hits + 1;
  END LOOP;
  RETURN hits;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_topic(routing_key text, msg jsonb,
                                           delay integer)
RETURNS integer LANGUAGE sql AS $fn$
  SELECT pgmq.send_topic(routing_key, msg, NULL::jsonb, delay);
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_topic(routing_key text, msg jsonb)
RETURNS integer LANGUAGE sql AS $fn$
  SELECT pgmq.send_topic(routing_key, msg, NULL::jsonb, 0);
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch_topic(routing_key text,
                                                 msgs jsonb[], headers jsonb[],
                                                 delay timestamptz)
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE plpgsql AS $fn$
DECLARE
  target text;
BEGIN
  FOR target IN SELECT * FROM pgmq._topic_queues(routing_key) LOOP
    RETURN QUERY
      SELECT target, id FROM pgmq.send_batch(target, msgs, headers, delay) id;
  END LOOP;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch_topic(routing_key text,
                                                 msgs jsonb[], headers jsonb[],
                                                 delay integer)
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch_topic(
    routing_key, msgs, headers,
    clock_timestamp() + make_interval(secs => delay));
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch_topic(routing_key text,
                                                 msgs jsonb[], headers jsonb[])
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch_topic(routing_key, msgs, headers,
                                      clock_timestamp());
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch_topic(routing_key text,
                                                 msgs jsonb[], delay integer)
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch_topic(
    routing_key, msgs, NULL::jsonb[],
    clock_timestamp() + make_interval(secs => delay));
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch_topic(routing_key text,
                                                 msgs jsonb[], delay timestamptz)
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch_topic(routing_key, msgs, NULL::jsonb[], delay);
$fn$;

CREATE OR REPLACE FUNCTION pgmq.send_batch_topic(routing_key text, msgs jsonb[])
RETURNS TABLE (queue_name text, msg_id bigint) LANGUAGE sql AS $fn$
  SELECT * FROM pgmq.send_batch_topic(routing_key, msgs, NULL::jsonb[],
                                      clock_timestamp());
$fn$;
)sql";

// PGMQ 1.9-1.11 grouped (FIFO) reads and their index helpers.
constexpr std::string_view kGroupedReads = R"sql(
-- FIFO groups: the header x-pgmq-group names a message's group (no header:
-- one default group). A group is served only while its oldest message is
-- visible, and only through the visible messages that follow it without a
-- gap, so its order holds; locking the oldest message claims the group
-- against concurrent readers. mode: 'oldest' fills the batch from the
-- oldest group first, 'rr' takes the groups in turns, 'head' at most one
-- message per group.
CREATE OR REPLACE FUNCTION pgmq._read_grouped(queue_name text, vt integer,
                                              qty integer, mode text)
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
  ordering text := CASE mode
    WHEN 'oldest' THEN 'head_id, pos'
    WHEN 'rr' THEN 'pos, head_id'
    ELSE 'head_id' END;
BEGIN
  RETURN QUERY EXECUTE format(
    'WITH heads AS (
       SELECT DISTINCT ON (grp) msg_id, grp
       FROM (SELECT msg_id, coalesce(headers->>''x-pgmq-group'', '''') AS grp
             FROM pgmq.%1$I) g
       ORDER BY grp, msg_id),
     claimed_groups AS (
       SELECT q.msg_id AS head_id, h.grp
       FROM pgmq.%1$I q JOIN heads h ON h.msg_id = q.msg_id
       WHERE q.vt <= clock_timestamp()
       ORDER BY q.msg_id
       FOR UPDATE OF q SKIP LOCKED),
     members AS (
       SELECT q.msg_id, c.head_id,
              row_number() OVER w AS pos,
              count(*) FILTER (WHERE q.vt > clock_timestamp()) OVER w AS gaps
       FROM pgmq.%1$I q
       JOIN claimed_groups c
         ON coalesce(q.headers->>''x-pgmq-group'', '''') = c.grp
       WINDOW w AS (PARTITION BY c.grp ORDER BY q.msg_id)),
     picked AS (
       SELECT msg_id FROM members
       WHERE gaps = 0 AND ($3 <> ''head'' OR pos = 1)
       ORDER BY %2$s
       LIMIT $1)
     UPDATE pgmq.%1$I m
     SET vt = clock_timestamp() + make_interval(secs => $2),
         read_ct = m.read_ct + 1,
         last_read_at = clock_timestamp()
     FROM picked
     WHERE m.msg_id = picked.msg_id
     RETURNING m.msg_id, m.read_ct, m.enqueued_at, m.last_read_at, m.vt,
               m.message, m.headers', qtable, ordering)
  USING qty, vt, mode;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq._read_grouped_with_poll(
  queue_name text, vt integer, qty integer, max_poll_seconds integer,
  poll_interval_ms integer, mode text)
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql AS $fn$
DECLARE
  give_up timestamptz := clock_timestamp()
                         + make_interval(secs => max_poll_seconds);
  found_any boolean;
  r pgmq.message_record;
BEGIN
  LOOP
    found_any := false;
    FOR r IN SELECT * FROM pgmq._read_grouped(queue_name, vt, qty, mode) LOOP
      found_any := true;
      RETURN NEXT r;
    END LOOP;
    IF found_any OR clock_timestamp() >= give_up THEN
      RETURN;
    END IF;
    PERFORM pg_sleep(poll_interval_ms / 1000.0);
  END LOOP;
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.read_grouped(queue_name text, vt integer,
                                             qty integer)
RETURNS SETOF pgmq.message_record LANGUAGE sql AS $fn$
  SELECT * FROM pgmq._read_grouped(queue_name, vt, qty, 'oldest');
$fn$;

CREATE OR REPLACE FUNCTION pgmq.read_grouped_rr(queue_name text, vt integer,
                                                qty integer)
RETURNS SETOF pgmq.message_record LANGUAGE sql AS $fn$
  SELECT * FROM pgmq._read_grouped(queue_name, vt, qty, 'rr');
$fn$;

CREATE OR REPLACE FUNCTION pgmq.read_grouped_head(queue_name text, vt integer,
                                                  qty integer)
RETURNS SETOF pgmq.message_record LANGUAGE sql AS $fn$
  SELECT * FROM pgmq._read_grouped(queue_name, vt, qty, 'head');
$fn$;

CREATE OR REPLACE FUNCTION pgmq.read_grouped_with_poll(
  queue_name text, vt integer, qty integer,
  max_poll_seconds integer DEFAULT 5, poll_interval_ms integer DEFAULT 100)
RETURNS SETOF pgmq.message_record LANGUAGE sql AS $fn$
  SELECT * FROM pgmq._read_grouped_with_poll(queue_name, vt, qty,
    max_poll_seconds, poll_interval_ms, 'oldest');
$fn$;

CREATE OR REPLACE FUNCTION pgmq.read_grouped_rr_with_poll(
  queue_name text, vt integer, qty integer,
  max_poll_seconds integer DEFAULT 5, poll_interval_ms integer DEFAULT 100)
RETURNS SETOF pgmq.message_record LANGUAGE sql AS $fn$
  SELECT * FROM pgmq._read_grouped_with_poll(queue_name, vt, qty,
    max_poll_seconds, poll_interval_ms, 'rr');
$fn$;

CREATE OR REPLACE FUNCTION pgmq.read_grouped_head_with_poll(
  queue_name text, vt integer, qty integer,
  max_poll_seconds integer DEFAULT 5, poll_interval_ms integer DEFAULT 100)
RETURNS SETOF pgmq.message_record LANGUAGE sql AS $fn$
  SELECT * FROM pgmq._read_grouped_with_poll(queue_name, vt, qty,
    max_poll_seconds, poll_interval_ms, 'head');
$fn$;

CREATE OR REPLACE FUNCTION pgmq.create_fifo_index(queue_name text)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
BEGIN
  EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON pgmq.%I USING gin (headers)',
                 qtable || '_fifo_idx', qtable);
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.create_fifo_indexes_all()
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  name text;
BEGIN
  FOR name IN SELECT m.queue_name FROM pgmq.meta m LOOP
    PERFORM pgmq.create_fifo_index(name);
  END LOOP;
END;
$fn$;
)sql";

// read and pop find the rows they update by key: joined only to the picked
// rows, a queue whose statistics say it is (nearly) empty made the planner
// walk its whole primary key at every call.
constexpr std::string_view kReadsByKey = R"sql(
CREATE OR REPLACE FUNCTION pgmq.read(queue_name text, vt integer, qty integer,
                                     conditional jsonb DEFAULT '{}')
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
BEGIN
  RETURN QUERY EXECUTE format(
    'WITH picked AS (
       SELECT msg_id FROM pgmq.%I
       WHERE vt <= clock_timestamp()
         AND ($3 = ''{}''::jsonb OR message @> $3)
       ORDER BY msg_id
       LIMIT $1
       FOR UPDATE SKIP LOCKED)
     UPDATE pgmq.%I m
     SET vt = clock_timestamp() + make_interval(secs => $2),
         read_ct = m.read_ct + 1,
         last_read_at = clock_timestamp()
     WHERE m.msg_id = ANY(ARRAY(SELECT msg_id FROM picked))
     RETURNING m.msg_id, m.read_ct, m.enqueued_at, m.last_read_at, m.vt,
               m.message, m.headers', qtable, qtable)
  USING qty, vt, coalesce(conditional, '{}'::jsonb);
END;
$fn$;

CREATE OR REPLACE FUNCTION pgmq.pop(queue_name text, qty integer DEFAULT 1)
RETURNS SETOF pgmq.message_record LANGUAGE plpgsql AS $fn$
DECLARE
  qtable text := pgmq.format_table_name(queue_name, 'q');
BEGIN
  RETURN QUERY EXECUTE format(
    'WITH picked AS (
       SELECT msg_id FROM pgmq.%I
       WHERE vt <= clock_timestamp()
       ORDER BY msg_id
       LIMIT $1
       FOR UPDATE SKIP LOCKED)
     DELETE FROM pgmq.%I m
     WHERE m.msg_id = ANY(ARRAY(SELECT msg_id FROM picked))
     RETURNING m.msg_id, m.read_ct, m.enqueued_at, m.last_read_at, m.vt,
               m.message, m.headers', qtable, qtable)
  USING qty;
END;
$fn$;
)sql";

constexpr std::array kMigrations{
    SchemaMigration{1, "queues", kQueues},
    SchemaMigration{2, "messages", kMessages},
    SchemaMigration{3, "notify_insert", kNotifyInsert},
    SchemaMigration{4, "topics", kTopics},
    SchemaMigration{5, "grouped_reads", kGroupedReads},
    SchemaMigration{6, "reads_by_key", kReadsByKey},
};

constexpr std::string_view kComponent = "pgmq";

// The provider's statements need `last_read_at` (PGMQ 1.10+).
constexpr const char* kExtensionCheck
    = "SELECT e.extversion, EXISTS ("
      "  SELECT 1 FROM pg_type t"
      "  JOIN pg_namespace n ON n.oid = t.typnamespace"
      "  JOIN pg_attribute a ON a.attrelid = t.typrelid"
      "  WHERE n.nspname = 'pgmq' AND t.typname = 'message_record'"
      "    AND a.attname = 'last_read_at' AND NOT a.attisdropped)"
      " FROM pg_extension e WHERE e.extname = 'pgmq'";

} // namespace

std::span<const SchemaMigration> pgmq_migrations() {
  return kMigrations;
}

core::Result<PgmqSchemaMode>
install_or_verify_pgmq_schema(pqxx::connection_base& connection) {
  try {
    pqxx::work tx{connection, "pgmq_schema"};
    lock_schema_migrations(tx);
    auto extension = tx.exec(kExtensionCheck);
    if (!extension.empty()) {
      auto version = extension[0][0].as<std::string>();
      if (!extension[0][1].as<bool>())
        return core::Error{core::ErrorCode::backend_error,
                           "pgmq extension " + version
                               + " is too old: pgmq.message_record has no "
                                 "last_read_at (PGMQ 1.10 or later needed)"};
      tx.commit();
      return PgmqSchemaMode::extension;
    }
    auto applied = apply_missing_migrations(tx, kComponent, kMigrations);
    tx.commit();
    log_applied_migrations(kComponent, applied);
    return PgmqSchemaMode::own_schema;
  } catch (...) {
    return current_pg_error("schema migration", {});
  }
}

} // namespace tasker::messaging
