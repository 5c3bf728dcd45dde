"""PostgreSQL 15 server log (``log_destination = 'stderr'``), one line per message line.

Configured prefix (``log_line_prefix``)::

    log_line_prefix = '%m [%p] %q%u@%d %h (%a) '

so a line from a client session reads::

    2024-05-01 12:00:00.123 UTC [4242] alice@shop 127.0.0.1 (billing job) ERROR:  relation "nope" does not exist

- ``%m``: timestamp with milliseconds and the zone abbreviation, ``YYYY-MM-DD HH:MM:SS.mmm UTC``: ONE value
  (date, time and zone separated by spaces).
- ``[%p]``: the process id in square brackets.
- ``%q``: everything after it is printed only by session (client backend) processes; lines of the postmaster,
  checkpointer, autovacuum launcher/worker, startup process etc. stop here, so they read
  ``2024-05-01 12:00:00.123 UTC [4200] LOG:  checkpoint starting: ...``.
- ``%u@%d``: user name and database name, TWO values joined by ``@``. Either prints ``[unknown]`` (brackets
  included, one value) while not yet known, e.g. ``[unknown]@[unknown]`` on the ``connection received`` line.
- ``%h``: client host: an IP address such as ``127.0.0.1``, or ``[local]`` (one value) for a Unix socket.
- ``(%a)``: the application name in parentheses; it is a free string that may contain spaces (``billing job``),
  ``[unknown]`` when empty (before the startup packet, or when the client set none).

Then comes the severity and a colon, padded with TWO spaces: ``LOG:  ``, ``ERROR:  ``, ``FATAL:  ``,
``WARNING:  ``, ``NOTICE:  ``, and the continuation parts of one report, each on its own line with the same
prefix: ``DETAIL:  ``, ``HINT:  ``, ``CONTEXT:  ``, ``STATEMENT:  ``. A message that itself spans several lines
(deadlock DETAIL, autovacuum reports, ``parameter ... changed``) continues on lines that start with a TAB and
carry no prefix.

Inside messages, PostgreSQL quotes one value in double quotes: identifiers (``relation "orders"``,
``user "alice"``, ``database "nope"``), parameter names and file paths (``temporary file: path
"base/pgsql_tmp/pgsql_tmp4242.0", size 1024``). ``Key (id)=(1)`` in a DETAIL prints column list and values in
parentheses. ``statement: ...`` and ``STATEMENT:  ...`` are followed by the SQL text verbatim (one value: the
statement). ``duration: 105.123 ms`` is a number and a unit. WAL locations print as ``0/1A2B3C4`` (one value),
transaction ids and pids are plain integers, tuple ids as ``(0,1)``. ``connection authorized: user=alice
database=shop application_name=psql`` lists ``key=value`` pairs. Log lines are in English (``lc_messages = 'C'``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from programs._support import read_lines, run, start, wait_for_port

FORMAT_SOURCE = "https://www.postgresql.org/docs/15/runtime-config-logging.html (src/backend/utils/error/elog.c)"
PACKAGES = ["postgresql-15", "postgresql-client-15"]

BIN = Path("/usr/lib/postgresql/15/bin")
PORT = 19432

CONF = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sock}'
lc_messages = 'C'
log_timezone = 'UTC'
max_connections = 12
superuser_reserved_connections = 3
log_destination = 'stderr'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d %h (%a) '
log_connections = on
log_disconnections = on
log_statement = 'ddl'
log_min_duration_statement = 80
log_min_messages = notice
log_checkpoints = on
log_lock_waits = on
deadlock_timeout = 300ms
log_temp_files = 0
work_mem = 64kB
log_autovacuum_min_duration = 0
autovacuum_naptime = 1s
autovacuum_vacuum_threshold = 10
autovacuum_analyze_threshold = 10
shared_buffers = 16MB
"""

HBA = """
local all postgres trust
host all postgres 127.0.0.1/32 trust
host all alice 127.0.0.1/32 scram-sha-256
host all bob 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
local all all peer
"""

SETUP = """
CREATE ROLE alice LOGIN PASSWORD 'alice-secret';
CREATE ROLE bob LOGIN PASSWORD 'bob-secret';
CREATE DATABASE shop OWNER alice;
"""

SCHEMA = """
CREATE TABLE customers (id serial PRIMARY KEY, email text UNIQUE NOT NULL, age int CHECK (age >= 0));
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id),
                     total numeric(10,2), created timestamptz DEFAULT now());
CREATE INDEX orders_customer_idx ON orders (customer_id);
INSERT INTO customers (email, age) SELECT 'user' || g || '@example.com', g % 90 FROM generate_series(1, 500) g;
INSERT INTO orders (customer_id, total) SELECT 1 + g % 500, g * 1.25 FROM generate_series(1, 3000) g;
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 1000;
CREATE FUNCTION shout(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'shouting %', t;
  RAISE WARNING 'about to shout % characters', length(t);
  RAISE LOG 'shout() called by %', current_user;
  RETURN upper(t);
END $$;
ALTER TABLE orders ADD COLUMN note text;
"""

# (user, password, sql, application name): each statement on its own psql -c, so every error is logged.
ERRORS = [
    "SELEC 1",
    "SELECT * FROM nope",
    "SELECT nosuchcolumn FROM customers",
    "INSERT INTO customers (id, email, age) VALUES (1, 'dup@example.com', 5)",
    "INSERT INTO customers (email, age) VALUES ('user2@example.com', 3)",
    "INSERT INTO orders (customer_id, total) VALUES (99999, 1)",
    "INSERT INTO customers (email, age) VALUES (NULL, 1)",
    "INSERT INTO customers (email, age) VALUES ('neg@example.com', -4)",
    "SELECT 1/0",
    "SELECT 'abc'::int",
    "SELECT '2024-13-45'::date",
    "DELETE FROM customers WHERE id = 1",
    "SELECT shout('hello world')",
    "SELECT nosuchfunc(1)",
    "COMMIT",
    "DROP TABLE IF EXISTS not_there",
    "CREATE TABLE customers (id int)",
    "SET statement_timeout = '100ms'; SELECT pg_sleep(1)",
    "SELECT pg_sleep(0.15)",
    "SELECT count(*) FROM orders o1, orders o2 WHERE o1.id = o2.id AND o1.total > 10",
    "SELECT * FROM orders ORDER BY note, total DESC LIMIT 5",
    "SELECT id, md5(email) FROM customers ORDER BY 2",
    "VACUUM ANALYZE orders",
    "SELECT pg_terminate_backend(999999)",
    "SELECT * FROM pg_stat_activity WHERE xact_start < now() - interval '1 hour'",
    "SELECT E'\\\\xZZ'::bytea",
    "SELECT repeat('x', 3)::varchar(2)::int",
    "SELECT ARRAY[1,2][3]",
    "DO $$ BEGIN RAISE EXCEPTION 'custom failure for order %', 42 USING HINT = 'check the order'; END $$",
    "CHECKPOINT",
    "UPDATE orders SET note = 'rush' WHERE id % 7 = 0",
    "DELETE FROM orders WHERE id % 11 = 0",
]

BOB_ERRORS = [
    "SELECT * FROM customers",
    "DROP TABLE orders",
    "CREATE DATABASE bobdb",
    "SELECT pg_reload_conf()",
]

DEADLOCK_A = (
    "BEGIN; UPDATE customers SET age = 1 WHERE id = 10; SELECT pg_sleep(0.6); "
    "UPDATE customers SET age = 1 WHERE id = 20; COMMIT;"
)
DEADLOCK_B = (
    "BEGIN; UPDATE customers SET age = 2 WHERE id = 20; SELECT pg_sleep(0.6); "
    "UPDATE customers SET age = 2 WHERE id = 10; COMMIT;"
)
LOCKWAIT_A = "BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1.0); COMMIT;"
LOCKWAIT_B = "SET lock_timeout = '600ms'; SELECT count(*) FROM orders;"
LOCKWAIT_C = "SELECT pg_sleep(0.2); SELECT count(*) FROM orders;"


def _env(password: str | None = None, app: str | None = None) -> dict[str, str]:
    env = dict(os.environ, PGCONNECT_TIMEOUT="5")
    env.pop("PGPASSWORD", None)
    if password is not None:
        env["PGPASSWORD"] = password
    if app is not None:
        env["PGAPPNAME"] = app
    return env


def _psql(
    sql: str,
    user: str = "postgres",
    db: str = "postgres",
    password: str | None = None,
    app: str | None = None,
    host: str = "127.0.0.1",
) -> int:
    argv = [str(BIN / "psql"), "-X", "-q", "-h", host, "-p", str(PORT), "-U", user, "-d", db, "-w", "-f", "-"]
    return run(argv, env=_env(password, app), timeout_s=30, input=sql.encode())


def _bg_psql(sql: str, user: str, db: str, password: str, app: str) -> subprocess.Popen[bytes]:
    argv = [str(BIN / "psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(PORT), "-U", user, "-d", db, "-w", "-c", sql]
    return start(argv, env=_env(password, app))


def collect(workdir: Path) -> list[str]:
    data = workdir / "data"
    log = workdir / "postgresql.log"
    shutil.chown(workdir, "postgres", "postgres")
    workdir.chmod(0o755)
    as_pg = {"user": "postgres", "group": "postgres", "extra_groups": [], "cwd": str(workdir)}
    run(
        [str(BIN / "initdb"), "-D", str(data), "-E", "UTF8", "--locale=C.UTF-8", "-U", "postgres"],
        check=True,
        timeout_s=120,
        **as_pg,
    )
    (data / "postgresql.conf").write_text(CONF.format(port=PORT, sock=workdir))
    (data / "pg_hba.conf").write_text(HBA)
    postgres = [str(BIN / "postgres"), "-D", str(data)]
    proc = start(postgres, log, **as_pg)
    try:
        wait_for_port(PORT)
        time.sleep(0.5)
        _psql(SETUP, app="setup")
        _psql(SCHEMA, user="alice", db="shop", password="alice-secret", app="migrate")
        # bad logins: wrong password, missing role, missing database, rejected by pg_hba
        _psql("SELECT 1", user="alice", db="shop", password="wrong")
        _psql("SELECT 1", user="mallory", db="shop", password="x")
        _psql("SELECT 1", user="alice", db="nope", password="alice-secret")
        _psql("SELECT 1", user="alice", db="shop", host=str(workdir))
        for sql in ERRORS:
            _psql(sql, user="alice", db="shop", password="alice-secret", app="billing job")
        for sql in BOB_ERRORS:
            _psql(sql, user="bob", db="shop", password="bob-secret", app="report")
        # lock waits, a lock timeout and a deadlock between concurrent sessions
        procs = [
            _bg_psql(LOCKWAIT_A, "alice", "shop", "alice-secret", "locker"),
            _bg_psql(LOCKWAIT_C, "alice", "shop", "alice-secret", "waiter"),
        ]
        time.sleep(0.1)
        procs.append(_bg_psql(LOCKWAIT_B, "alice", "shop", "alice-secret", "impatient"))
        for p in procs:
            p.wait(30)
        procs = [
            _bg_psql(DEADLOCK_A, "alice", "shop", "alice-secret", "tx-a"),
            _bg_psql(DEADLOCK_B, "alice", "shop", "alice-secret", "tx-b"),
        ]
        for p in procs:
            p.wait(30)
        # a backend terminated by an administrator, a client killed mid-transaction, too many clients
        victim = _bg_psql("BEGIN; SELECT pg_sleep(3); COMMIT;", "alice", "shop", "alice-secret", "victim")
        crasher = _bg_psql(
            "BEGIN; INSERT INTO orders (customer_id, total) VALUES (5, 1); SELECT pg_sleep(5);",
            "alice",
            "shop",
            "alice-secret",
            "crasher",
        )
        time.sleep(0.5)
        _psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'victim'")
        crasher.kill()
        for p in (victim, crasher):
            p.wait(30)
        crowd = [_bg_psql("SELECT pg_sleep(1.5)", "bob", "shop", "bob-secret", f"crowd-{i}") for i in range(12)]
        for p in crowd:
            p.wait(30)
        # churn for autovacuum, then a reload with changed settings
        _psql(
            "UPDATE orders SET total = total + 1; DELETE FROM customers WHERE id > 400 AND id NOT IN "
            "(SELECT customer_id FROM orders)",
            user="alice",
            db="shop",
            password="alice-secret",
        )
        time.sleep(3)
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("log_statement = 'all'\nlog_min_duration_statement = 0\nwork_mem = 4MB\nno_such_setting = 1\n")
        conf_text = (data / "postgresql.conf").read_text()
        proc.send_signal(signal.SIGHUP)
        time.sleep(1)
        (data / "postgresql.conf").write_text(conf_text.replace("no_such_setting = 1\n", ""))
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        _psql(
            "SELECT count(*) FROM big_orders; SELECT shout('after reload')",
            user="alice",
            db="shop",
            password="alice-secret",
            app="after reload",
        )
        _psql("SELECT pg_cancel_backend(pg_backend_pid())", user="alice", db="shop", password="alice-secret")
        # a checkpoint, then a crash (immediate shutdown) and a recovery, then a fast shutdown
        _psql("CHECKPOINT")
        proc.send_signal(signal.SIGQUIT)
        proc.wait(30)
        proc = start(postgres, log, **as_pg)
        wait_for_port(PORT)
        time.sleep(0.5)
        _psql("SELECT count(*) FROM orders", user="alice", db="shop", password="alice-secret", app="after crash")
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        proc = start(postgres, log, **as_pg)
        wait_for_port(PORT)
        _psql("SELECT 1", user="bob", db="shop", password="bob-secret")
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return read_lines([log])
