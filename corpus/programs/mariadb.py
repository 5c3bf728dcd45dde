"""MariaDB 10.11 server logs: the error log, the general query log, the slow query log and the SQL error log.

The lines are returned file by file (each file's lines in the order written): the error log, then the server's
own stderr (the few error-log-format lines written before ``log_error`` is opened, e.g. ``[Warning] Could not
increase number of max_open_files``), the general log, the slow log, the SQL error log.

1. Error log (``log_error``, ``log_warnings = 4``)::

       2024-05-01 12:00:00 0 [Note] InnoDB: Buffer pool(s) load completed at 240501 12:00:00
       2024-05-01 12:00:03 5 [Warning] Access denied for user 'app'@'localhost' (using password: YES)

   ``YYYY-MM-DD HH:MM:SS`` (local time, one value: date and time separated by a space), the thread (connection)
   id, ``0`` for server threads, then the severity in square brackets: ``[Note]``, ``[Warning]``, ``[ERROR]``.
   Many messages name their subsystem first, ``InnoDB: ``, ``Plugin '...'``, ``/usr/sbin/mariadbd: ``.
   ``'app'@'localhost'`` is an account: user and host, each single-quoted, TWO values joined by ``@``. A
   ``/usr/sbin/mariadbd (mysqld 10.11.x-MariaDB-0+deb12u1) starting as process 123 ...`` line gives program,
   version and pid. InnoDB LSNs are plain integers (``log sequence number 46846``). Some reports span several
   lines with no prefix: the InnoDB deadlock report (``innodb_print_all_deadlocks``) with its ``*** (1)
   TRANSACTION:`` sections, hex record dumps `` 0: len 4; hex 8000000a; asc     ;;``), the ``Version: '...'
   socket: '...'  port: 19306  Debian 12`` line after ``ready for connections.``, and the ``Status
   information:`` dump written on SIGHUP (``Name: value`` tables aligned with spaces).

2. General query log (``general_log``): a header of three lines (``/usr/sbin/mariadbd, Version: ... started
   with:``, ``Tcp port: 19306  Unix socket: /path``, ``Time                Id Command  Argument``), then one
   record per command, columns separated by TABs::

       240501 12:00:00\t    12 Connect\tapp@localhost on shop using TCP/IP
       \t\t    12 Query\tSELECT * FROM orders
       \t\t    12 Quit\t

   The time ``YYMMDD HH:MM:SS`` (one value; ``YYMMDD`` is not padded apart from that) is printed only when it
   differs from the previous record's; otherwise the line starts with two TABs. Then the right-aligned
   connection id, the command (``Connect``, ``Query``, ``Quit``, ``Init DB``, ``Field List``, ``Prepare``,
   ``Execute``, ``Close stmt``, ``Shutdown``, ``Refresh``), a TAB and the argument: the SQL text verbatim (one
   value; a statement that spans lines continues on lines without prefix), ``user@host on db using TCP/IP``
   (or ``using Socket``) for Connect: user and host joined by ``@``, unquoted; the database is empty when none
   was chosen, leaving two spaces (``root@localhost on  using Socket``); ``Access denied for user
   'app'@'localhost' (using password: YES)`` for a failed Connect or Init DB. Quit has an empty argument
   (the line ends with the TAB).

3. Slow query log (``slow_query_log``, ``long_query_time = 0.1``, ``log_slow_verbosity = query_plan,explain``):
   the same three header lines as the general log, then each entry is several ``# `` comment lines, then
   ``use `shop`;`` (when the schema changed; backquoted identifier) and ``SET timestamp=1714564800;`` (Unix
   seconds) and the SQL, ended by ``;``. ``# Time:`` (``YYMMDD HH:MM:SS``) only when the second changed::

       # Time: 240501 12:00:00
       # User@Host: app[app] @ localhost [127.0.0.1]
       # Thread_id: 12  Schema: shop  QC_hit: No
       # Query_time: 0.200252  Lock_time: 0.000042  Rows_sent: 1  Rows_examined: 0
       # Rows_affected: 0  Bytes_sent: 65
       SET timestamp=1714564800;
       SELECT SLEEP(0.2);

   ``User@Host:`` is ``user[effective user] @ host [ip]``; the other fields are ``Name: value`` pairs separated
   by two spaces (Query_time/Lock_time in seconds with 6 decimals; ``Full_scan: Yes`` style flags). A bare
   ``#`` line frames the EXPLAIN output, ``# explain: `` lines whose columns are separated by TABs (``NULL``
   for an empty cell). The host part ``localhost []`` has an empty IP for a Unix-socket client.

4. SQL error log (``sql_errlog`` plugin, ``sql_error_log_filename``): one record per failed statement::

       2024-05-01 12:00:03 app[app] @ localhost [127.0.0.1] ERROR 1146: Table 'shop.nope' doesn't exist : SELECT * FROM nope

   ``YYYY-MM-DD HH:MM:SS``, ``user[priv user] @ host [ip]`` (either part may be empty: ``[app] @ localhost
   [127.0.0.1]`` before authentication, ``[boot] @  []`` during ``mariadb-install-db``), ``ERROR <code>:`` or
   ``WARNING <code>:`` and the message, then `` : `` and the statement verbatim, ``(null)`` when there was none
   (failed logins, dropped connections). The messages single-quote names and values (``Table 'shop.nope'``,
   ``Duplicate entry 'user2@example.com' for key 'email'``, accounts ``'app'@'localhost'``) and backquote
   identifiers (``CONSTRAINT `age_ok` failed for `shop`.`customers```).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

from programs._support import read_lines, run, start, wait_for_port

FORMAT_SOURCE = (
    "https://mariadb.com/kb/en/error-log/ ; https://mariadb.com/kb/en/general-query-log/ ; "
    "https://mariadb.com/kb/en/slow-query-log-overview/ ; https://mariadb.com/kb/en/sql-error-log-plugin/"
)
PACKAGES = ["mariadb-server", "mariadb-client"]

PORT = 19306

CNF = """
[mariadbd]
user = mysql
datadir = {work}/data
socket = {work}/mysqld.sock
pid-file = {work}/mysqld.pid
port = {port}
bind-address = 127.0.0.1
log_error = {work}/error.log
log_warnings = 4
general_log = 1
general_log_file = {work}/general.log
slow_query_log = 1
slow_query_log_file = {work}/slow.log
long_query_time = 0.1
log_slow_verbosity = query_plan,explain
log_queries_not_using_indexes = 1
plugin_load_add = sql_errlog
sql_error_log_filename = {work}/sql_errors.log
innodb_print_all_deadlocks = 1
innodb_buffer_pool_size = 32M
innodb_log_file_size = 16M
lc_messages = en_US
max_connections = 10
"""

SETUP = """
CREATE DATABASE shop;
CREATE USER 'app'@'localhost' IDENTIFIED BY 'app-secret';
CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app-secret';
CREATE USER 'reader'@'127.0.0.1' IDENTIFIED BY 'reader-secret';
GRANT ALL ON shop.* TO 'app'@'localhost', 'app'@'127.0.0.1';
USE shop;
CREATE TABLE customers (id INT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(100) NOT NULL UNIQUE, age INT,
                        CONSTRAINT age_ok CHECK (age >= 0)) ENGINE=InnoDB;
CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2),
                     note VARCHAR(20), FOREIGN KEY (customer_id) REFERENCES customers(id)) ENGINE=InnoDB;
INSERT INTO customers (email, age) SELECT CONCAT('user', seq, '@example.com'), seq % 90 FROM seq_1_to_300;
INSERT INTO orders (customer_id, total) SELECT 1 + seq % 300, seq * 1.25 FROM seq_1_to_2000;
GRANT SELECT ON shop.customers TO 'reader'@'127.0.0.1';
"""

APP_QUERIES = [
    "SELEC 1",
    "SELECT * FROM nope",
    "SELECT nosuchcolumn FROM customers",
    "INSERT INTO customers (id, email, age) VALUES (1, 'dup@example.com', 5)",
    "INSERT INTO customers (email, age) VALUES ('user2@example.com', 3)",
    "INSERT INTO orders (customer_id, total) VALUES (99999, 1)",
    "INSERT INTO customers (email, age) VALUES (NULL, 1)",
    "INSERT INTO customers (email, age) VALUES ('neg@example.com', -4)",
    "DELETE FROM customers WHERE id = 1",
    "UPDATE orders SET note = 'this note is far too long for the column' WHERE id = 3",
    "SELECT SLEEP(0.2)",
    "SELECT COUNT(*) FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.age > 30",
    "SELECT * FROM orders WHERE total > 2000 ORDER BY note",
    "CREATE TABLE customers (id INT)",
    "DROP TABLE IF EXISTS not_there",
    "SELECT nosuchfunc(1)",
    "USE nodb",
    "SET SESSION max_statement_time = 0.1; SELECT SLEEP(1)",
    "SELECT 1; SHOW WARNINGS",
    "CALL missing_proc()",
    "SHOW TABLES; DESCRIBE orders; SHOW CREATE TABLE customers\\G",
    "SELECT JSON_EXTRACT('{\"a\": [1, 2]}', '$.a[1]')",
    "LOCK TABLES orders WRITE; UNLOCK TABLES",
    "ANALYZE TABLE orders; OPTIMIZE TABLE customers",
    "KILL 999999",
]

READER_QUERIES = [
    "SELECT email FROM customers WHERE id = 7",
    "SELECT * FROM orders",
    "DELETE FROM customers",
    "CREATE DATABASE readerdb",
]

DEADLOCK_A = (
    "BEGIN; UPDATE customers SET age = 1 WHERE id = 10; SELECT SLEEP(0.5); "
    "UPDATE customers SET age = 1 WHERE id = 20; COMMIT;"
)
DEADLOCK_B = (
    "BEGIN; UPDATE customers SET age = 2 WHERE id = 20; SELECT SLEEP(0.5); "
    "UPDATE customers SET age = 2 WHERE id = 10; COMMIT;"
)


def _client(user: str | None, password: str | None, db: str | None, work: Path, tcp: bool = True) -> list[str]:
    argv = ["mariadb", "--no-defaults", "--force", "--connect-timeout=5"]
    if tcp:
        argv += ["--protocol=TCP", "-h", "127.0.0.1", "-P", str(PORT)]
    else:
        argv += ["--protocol=SOCKET", "-S", str(work / "mysqld.sock")]
    if user:
        argv += ["-u", user]
    if password is not None:
        argv += [f"-p{password}"]
    if db:
        argv += [db]
    return argv


def _sql(
    work: Path, sql: str, user: str | None = None, password: str | None = None, db: str | None = None, tcp: bool = True
) -> int:
    return run(_client(user, password, db, work, tcp), input=sql.encode(), timeout_s=30)


def collect(workdir: Path) -> list[str]:
    work = workdir
    shutil.chown(work, "mysql", "mysql")
    work.chmod(0o755)
    cnf = work / "my.cnf"
    cnf.write_text(CNF.format(work=work, port=PORT))
    cnf.chmod(0o644)
    run(
        [
            "mariadb-install-db",
            f"--defaults-file={cnf}",
            "--user=mysql",
            "--auth-root-authentication-method=socket",
            "--skip-test-db",
        ],
        check=True,
        timeout_s=120,
        cwd=str(work),
    )
    server = ["/usr/sbin/mariadbd", f"--defaults-file={cnf}"]
    as_mysql = {"user": "mysql", "group": "mysql", "extra_groups": [], "cwd": str(work)}
    stderr_log = work / "stderr.log"
    proc = start(server, stderr_log, **as_mysql)
    try:
        wait_for_port(PORT)
        _sql(work, SETUP, tcp=False)
        # bad logins: wrong password, unknown user, unknown database, a user without rights on a database
        _sql(work, "SELECT 1", "app", "wrong")
        _sql(work, "SELECT 1", "mallory", "x")
        _sql(work, "SELECT 1", "app", "app-secret", "nodb")
        _sql(work, "SELECT 1", "reader", "reader-secret", "mysql")
        _sql(work, "SELECT 1", "app", None)
        for sql in APP_QUERIES:
            _sql(work, sql, "app", "app-secret", "shop")
        _sql(work, "\n".join(q + ";" for q in READER_QUERIES), "reader", "reader-secret", "shop")
        # prepared statements and a client that goes away without saying goodbye
        _sql(
            work,
            "PREPARE s FROM 'SELECT email FROM customers WHERE id = ?'; SET @i = 5; EXECUTE s USING @i; "
            "DEALLOCATE PREPARE s;",
            "app",
            "app-secret",
            "shop",
        )
        gone = start(_client("app", "app-secret", "shop", work) + ["-e", "SELECT SLEEP(5)"])
        time.sleep(0.5)
        gone.kill()
        gone.wait()
        # a deadlock between two sessions, and a lock wait timeout
        a = start(_client("app", "app-secret", "shop", work) + ["-e", DEADLOCK_A])
        b = start(_client("app", "app-secret", "shop", work) + ["-e", DEADLOCK_B])
        a.wait(30)
        b.wait(30)
        holder = start(
            _client("app", "app-secret", "shop", work)
            + ["-e", "BEGIN; SELECT * FROM customers WHERE id = 30 FOR UPDATE; SELECT SLEEP(2);"]
        )
        time.sleep(0.3)
        _sql(
            work,
            "SET innodb_lock_wait_timeout = 1; UPDATE customers SET age = 3 WHERE id = 30;",
            "app",
            "app-secret",
            "shop",
        )
        holder.wait(30)
        # too many connections
        crowd = [start(_client("app", "app-secret", "shop", work) + ["-e", "SELECT SLEEP(1.5)"]) for _ in range(12)]
        for p in crowd:
            p.wait(30)
        # reload and flush, a status dump (SIGHUP), a clean shutdown, a crash and a restart
        run(["mariadb-admin", "--no-defaults", "-S", str(work / "mysqld.sock"), "flush-logs", "reload"], timeout_s=30)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        _sql(work, "SET GLOBAL max_connections = 20; SET GLOBAL no_such_var = 1; SHUTDOWN;", tcp=False)
        proc.wait(60)
        proc = start(server, stderr_log, **as_mysql)
        wait_for_port(PORT)
        _sql(
            work,
            "INSERT INTO orders (customer_id, total) VALUES (5, 5); SELECT COUNT(*) FROM orders;",
            "app",
            "app-secret",
            "shop",
        )
        proc.kill()
        proc.wait()
        proc = start(server, stderr_log, **as_mysql)
        wait_for_port(PORT)
        _sql(work, "SELECT COUNT(*) FROM orders; CHECK TABLE orders;", "app", "app-secret", "shop")
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return read_lines(
        [work / "error.log", stderr_log, work / "general.log", work / "slow.log", work / "sql_errors.log"]
    )
