r"""Dovecot 2.3 IMAP/POP3/LMTP server, logging to a file.

Runs in the foreground (``dovecot -F``) with its own config in the work directory:
IMAP on 127.0.0.1:20143 (STARTTLS) and 20993 (implicit TLS, self-signed cert),
POP3 on 20110, LMTP on 20024; users from a ``passwd-file``; maildir under the work
directory; the ``mail_log`` plugin logging mailbox events; ``auth_verbose`` with
truncated password hashes; ``verbose_ssl``; ``mail_debug`` only for LMTP. Traffic:
LMTP deliveries (known and unknown recipients), IMAP sessions (good and bad
passwords, unknown user, STARTTLS, implicit TLS, append/flag/copy/rename/expunge/
delete, too many connections), POP3 sessions, raw protocol errors, a plain-text
handshake on the TLS port, a delivery by ``dovecot-lda``, ``doveadm reload`` and
``doveadm stop``.

Line layout (``log_path`` file; ``src/lib/failures.c``; prefix set per process)::

    Mon DD HH:MM:SS SERVICE: LEVEL: MESSAGE
    Mon DD HH:MM:SS SERVICE(USER)<PID><SESSION>: LEVEL: MESSAGE
    Mon DD HH:MM:SS SERVICE(PID): LEVEL: MESSAGE

``Mon DD HH:MM:SS`` is ``log_timestamp = "%b %d %H:%M:%S "`` (the default; day
zero-padded, ``Dec 05``). ``SERVICE`` is the process name: ``master``, ``auth``,
``imap-login``, ``pop3-login``, ``imap``, ``pop3``, ``lmtp``, ``lda``. Mail
processes add ``(USER)`` (the user name, ``alice`` or ``alice@example.test``),
``<PID>`` and ``<SESSION>`` (the session id, a base64 string such as
``<nxoPROphMsJ/AAAB>``; LMTP recipients beyond the first add ``:R2``,
``<3xONEuyLFGvcPwAAg+zDdQ:R2>``): service, user, pid and session are separate
values, each bracket pair enclosing one. ``LEVEL`` is ``Info``, ``Warning``,
``Error``, ``Fatal``, ``Panic`` or ``Debug``.

Login messages (``login_log_format = %$: %s``, here with
``login_log_format_elements = user=<%u> method=%m rip=%r lip=%l mpid=%e %c
session=<%{session}>``, the elements joined by ``, ``)::

    imap-login: Info: Login: user=<alice>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, mpid=16350, secured, session=<nxoPROphMsJ/AAAB>
    imap-login: Info: Disconnected: Aborted login by logging out (auth failed, 1 attempts in 2 secs): user=<alice>, method=PLAIN, rip=127.0.0.1, lip=127.0.0.1, secured, session=<...>

``key=value`` pairs: ``user=<alice>`` is a key and a bracketed value (``user=<>``
when empty), ``rip``/``lip`` remote/local address, ``mpid`` mail process id;
``secured``/``TLS``/``TLS handshaking: ...`` a bare word.

Mail process disconnects: ``imap(alice)<pid><session>: Info: Disconnected:
Logged out in=538 out=1855 deleted=1 expunged=1 trashed=0 hdr_count=2
hdr_bytes=37 body_count=0 body_bytes=0`` (``imap_logout_format``: ``key=value``
counters) and ``pop3(bob)...: Info: Disconnected: Logged out top=0/0, retr=1/180,
del=1/2, size=328`` (``pop3_logout_format``: ``count/bytes`` pairs, one value each).

mail_log plugin (``mail_log_fields = uid box msgid size from subject flags``)::

    imap(alice)<...>: Info: save: box=INBOX, uid=3, msgid=<app-alice@example.test>, size=163, from=Carol <carol@example.test>, subject=appended, flags=()
    imap(alice)<...>: Info: copy from INBOX: box=Projects, uid=1, ..., flags=(\Flagged \Seen)
    imap(alice)<...>: Info: Mailbox renamed: Projects -> Archive

events ``save``, ``copy from BOX``, ``flag_change``, ``delete``, ``expunge``,
``Mailbox created``/``deleted``/``renamed``; ``msgid=<...>`` a key and bracketed
value; ``from=`` is the raw header value up to the next ``, `` (a display name and
an address in angle brackets); ``subject=`` the raw subject; ``flags=(...)`` a
parenthesised list of IMAP flags. LMTP/LDA deliveries log ``msgid=<first@example.test>:
saved mail to INBOX``.

Auth (``auth_verbose``, ``auth_verbose_passwords = sha1:6``)::

    auth: Info: passwd-file(alice,127.0.0.1,<BboPROphNsJ/AAAB>): Password mismatch (SHA1 of given password: 6eb67d)
    auth: Info: passwd-file(nobody@example.test,127.0.0.1): unknown user

``passwd-file(USER,RIP,<SESSION>)`` is the passdb name with the user, remote
address and bracketed session id in parentheses (comma-separated values); lines
may end with a trailing space. ``verbose_ssl`` adds ``imap-login: Debug: SSL:
where=0x2001, ret=1: SSLv3/TLS write server hello`` (OpenSSL state strings) and
``SSL_accept() failed: error:0A00010B:SSL routines::wrong version number`` (an
OpenSSL error code and reason joined by ``:``). LMTP debug lines (``mail_debug``)
read ``lmtp(alice@example.test)<pid><session>: Debug: lmtp-server: conn
127.0.0.1:52600 [2]: rcpt alice@example.test: Mailbox INBOX: ...`` (nested
prefixes, each ending in ``: ``; ``127.0.0.1:52600`` address and port joined by
``:``, ``[2]`` a connection number in brackets) and include ``auth-master:
userdb lookup(alice@example.test): Finished userdb lookup (username=... uid=65534
gid=65534 home=/path)``. Master lines: ``master: Info: Dovecot v2.3.19.1
(9b53102964) starting up for imap, pop3, lmtp (core dumps disabled)``, ``master:
Warning: SIGHUP received - reloading configuration``, ``master: Warning: Killed
with signal 15 (by pid=19992 uid=0 code=kill)``.
"""

from __future__ import annotations

import imaplib
import os
import poplib
import smtplib
import socket
import ssl
import subprocess
import time
from pathlib import Path

from programs._support import read_lines, run, start, stop, wait_for_port

FORMAT_SOURCE = "https://doc.dovecot.org/2.3/admin_manual/logging/ (log_path, log_timestamp, login_log_format_elements, mail_log plugin)"
PACKAGES = ["dovecot-core", "dovecot-imapd", "dovecot-pop3d", "dovecot-lmtpd", "openssl"]

IMAP_PORT = 20143
IMAPS_PORT = 20993
POP3_PORT = 20110
LMTP_PORT = 20024

USERS = {"alice": "alicepass", "bob": "bobpass"}

MESSAGE = (
    "From: Carol <carol@example.test>\r\nTo: {user}@example.test\r\nSubject: {subject}\r\n"
    "Message-ID: <{msgid}@example.test>\r\nDate: Fri, 05 Dec 2025 10:00:00 +0000\r\n\r\nHello {user}.\r\n"
)


def _config(workdir: Path) -> str:
    return f"""
base_dir = {workdir}/run
state_dir = {workdir}/state
log_path = {workdir}/dovecot.log
log_timestamp = "%b %d %H:%M:%S "
protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <{workdir}/cert.pem
ssl_key = <{workdir}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5
auth_verbose = yes
auth_verbose_passwords = sha1:6
auth_debug = no
verbose_ssl = yes
mail_location = maildir:~/Maildir
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
mail_plugins = $mail_plugins mail_log notify
login_log_format_elements = user=<%u> method=%m rip=%r lip=%l mpid=%e %c session=<%{{session}}>
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {workdir}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={workdir}/home/%n
}}
service imap-login {{
  inet_listener imap {{
    port = {IMAP_PORT}
  }}
  inet_listener imaps {{
    port = {IMAPS_PORT}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {POP3_PORT}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {LMTP_PORT}
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@example.test
  mail_debug = yes
}}
protocol imap {{
  mail_max_userip_connections = 5
}}
namespace inbox {{
  inbox = yes
  mailbox Drafts {{
    special_use = \\Drafts
  }}
  mailbox Trash {{
    special_use = \\Trash
  }}
}}
plugin {{
  mail_log_events = delete undelete expunge copy mailbox_create mailbox_delete mailbox_rename flag_change save
  mail_log_fields = uid box msgid size from subject flags
}}
"""


class _IMAP(imaplib.IMAP4):
    """IMAP4 from a chosen loopback source address (failed logins from one address slow it down)."""

    def __init__(self, source: str) -> None:
        self._source = source
        super().__init__("127.0.0.1", IMAP_PORT, timeout=10)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout, source_address=(self._source, 0))


class _POP3(poplib.POP3):
    """POP3 from a chosen loopback source address."""

    def __init__(self, source: str) -> None:
        self._source = source
        super().__init__("127.0.0.1", POP3_PORT, timeout=10)

    def _create_socket(self, timeout: float) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout, source_address=(self._source, 0))


def _imap_session(
    user: str, password: str, *, tls: bool = False, implicit: bool = False, source: str = "127.0.0.1"
) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if implicit:
        imap: imaplib.IMAP4 = imaplib.IMAP4_SSL("127.0.0.1", IMAPS_PORT, ssl_context=context, timeout=10)
    else:
        imap = _IMAP(source)
        if tls:
            imap.starttls(context)
    try:
        imap.login(user, password)
    except imaplib.IMAP4.error:
        imap.logout()
        return
    imap.select("INBOX")
    imap.search(None, "ALL")
    imap.fetch("1:*", "(FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    imap.append("INBOX", None, None, MESSAGE.format(user=user, subject="appended", msgid=f"app-{user}").encode())
    imap.store("1", "+FLAGS", "\\Seen \\Flagged")
    imap.create("Projects")
    imap.copy("1", "Projects")
    imap.rename("Projects", "Archive")
    imap.store("1", "+FLAGS", "\\Deleted")
    imap.expunge()
    imap.delete("Archive")
    try:
        imap.select("NoSuchFolder")
    except imaplib.IMAP4.error:
        pass
    imap.logout()


def _raw(port: int, lines: list[bytes], pause: float = 0.2, source: str = "127.0.0.1") -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as sock:
        sock.recv(4096)
        for line in lines:
            sock.sendall(line)
            time.sleep(pause)
            try:
                sock.recv(4096)
            except OSError:
                break


def _pop3(user: str, password: str, source: str = "127.0.0.1") -> None:
    pop = _POP3(source)
    try:
        pop.user(user)
        pop.pass_(password)
    except poplib.error_proto:
        pop.quit()
        return
    pop.stat()
    count = len(pop.list()[1])
    if count:
        pop.retr(1)
        pop.dele(count)
    pop.quit()


def _lmtp(rcpts: list[str], subject: str) -> None:
    lmtp = smtplib.LMTP("127.0.0.1", LMTP_PORT, timeout=10)
    try:
        lmtp.sendmail(
            "carol@example.test", rcpts, MESSAGE.format(user=rcpts[0].split("@")[0], subject=subject, msgid=subject)
        )
    except smtplib.SMTPException:
        pass
    lmtp.quit()


def _doveadm(conf: Path, *args: str) -> None:
    run(["doveadm", "-c", str(conf), *args], timeout_s=20)


def collect(workdir: Path) -> list[str]:
    workdir.chmod(0o755)
    (workdir / "home").mkdir(mode=0o777)
    (workdir / "home").chmod(0o777)
    (workdir / "users").write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in USERS.items()))
    run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mail.example.test"]
        + ["-keyout", str(workdir / "key.pem"), "-out", str(workdir / "cert.pem")],
        check=True,
    )
    conf = workdir / "dovecot.conf"
    conf.write_text(_config(workdir))
    log = workdir / "dovecot.log"
    process = start(["dovecot", "-F", "-c", str(conf)], log=workdir / "stderr.log")
    try:
        wait_for_port(IMAP_PORT)
        wait_for_port(POP3_PORT)
        wait_for_port(LMTP_PORT)
        _lmtp(["alice@example.test"], "first")
        _lmtp(["alice@example.test", "bob@example.test", "nobody@example.test"], "second")
        _lmtp(["bob@example.test"], "third")
        _imap_session("alice", "alicepass")
        _imap_session("alice", "wrongpass", source="127.0.0.11")
        _imap_session("mallory", "guess", source="127.0.0.12")
        cram = _IMAP("127.0.0.13")
        try:
            cram.login_cram_md5("bob", "wrong")
        except imaplib.IMAP4.error:
            pass
        cram.shutdown()
        _imap_session("bob", "bobpass", tls=True)
        _imap_session("bob", "bobpass", implicit=True)
        _pop3("bob", "bobpass")
        _pop3("bob", "nope", source="127.0.0.14")
        _pop3("alice", "alicepass")
        # More connections from one user and IP than mail_max_userip_connections allows.
        held = []
        for _ in range(6):
            imap = imaplib.IMAP4("127.0.0.1", IMAP_PORT, timeout=10)
            try:
                imap.login("alice", "alicepass")
                imap.select("INBOX")
                held.append(imap)
            except imaplib.IMAP4.error:
                imap.shutdown()
        for imap in held:
            imap.logout()
        # Raw protocol errors and disconnects.
        _raw(IMAP_PORT, [b"a1 NOOP\r\n", b"a2 FOO bar\r\n", b"garbage\r\n", b"a3 LOGOUT\r\n"])
        _raw(IMAP_PORT, [b"a1 CAPABILITY\r\n"])
        _raw(IMAP_PORT, [b'a1 LOGIN alice "bad"\r\n', b'a2 LOGIN alice "bad2"\r\n'], source="127.0.0.15")
        _raw(IMAP_PORT, [b"a1 AUTHENTICATE PLAIN\r\n", b"*\r\n"], source="127.0.0.16")
        _raw(IMAP_PORT, [b"a1 LOGIN alice alicepass\r\n", b"a2 SELECT INBOX\r\n"])
        _raw(POP3_PORT, [b"USER alice\r\n", b"PASS alicepass\r\n", b"FOO\r\n", b"RETR 99\r\n"])
        _raw(POP3_PORT, [b"APOP alice 0123\r\n", b"QUIT\r\n"])
        _raw(
            LMTP_PORT,
            [b"LHLO client.test\r\n", b"MAIL FROM:<x@y.test>\r\n", b"RCPT TO:<ghost@example.test>\r\n"],
            source="127.0.0.17",
        )
        _raw(LMTP_PORT, [b"HELO nope\r\n", b"QUIT\r\n"])
        with socket.create_connection(("127.0.0.1", IMAPS_PORT), timeout=5) as sock:
            sock.sendall(b"not a tls handshake\r\n\r\n")
            time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", IMAP_PORT), timeout=5) as sock:
            sock.recv(1024)
        # Deliveries through the LDA binary log to the same file.
        subprocess.run(
            ["/usr/lib/dovecot/dovecot-lda", "-c", str(conf), "-d", "alice", "-f", "dave@example.test"],
            input=MESSAGE.format(user="alice", subject="via lda", msgid="lda1").encode(),
            capture_output=True,
            timeout=20,
            check=False,
        )
        _doveadm(conf, "who")
        _doveadm(conf, "kick", "alice")
        _doveadm(conf, "log", "reopen")
        _doveadm(conf, "reload")
        time.sleep(1.0)
        wait_for_port(IMAP_PORT)
        _imap_session("alice", "alicepass")
        _doveadm(conf, "stop")
        process.wait(20)
    finally:
        stop(process)
    os.sync()
    return read_lines([log, workdir / "stderr.log"])
