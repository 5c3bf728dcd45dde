r"""Postfix 3.7 MTA, logging through postlogd to a file (``maillog_file``).

Runs as ``postfix -c CONFDIR start-fg`` (master in the foreground, its own session)
with main.cf/master.cf in the work directory: smtpd on 127.0.0.1:20025 and a
submission smtpd (``syslog_name=postfix/submission``, TLS required) on 20587, a
spool under the work directory, virtual mailboxes for ``example.test`` (maildir,
uid nobody), virtual aliases, transport maps with ``discard:``, ``error:`` and
``retry:`` transports, sender/recipient access maps, header/body checks,
``message_size_limit``, STARTTLS with a self-signed certificate
(``smtpd_tls_loglevel = 1``) and a ``relayhost`` on a loopback port where nothing
listens (mail for other domains is deferred; DNS lookups disabled). Traffic:
deliveries, rejections at RCPT/MAIL/DATA, relay denied/permitted by
``mynetworks``, REJECT/HOLD/WARN/DISCARD header checks, body check, bounces after
alias expansion, STARTTLS, protocol errors (no HELO, unknown commands, pipelining,
HTTP request, bad HELO name, bad address syntax, a failed TLS handshake, too many
errors, dropped connections), an SMTPUTF8 sender, a multi-message session, a
local ``sendmail`` submission, ``postsuper`` hold/requeue/delete, ``postfix
reload`` and ``postfix stop``.

Line layout (postlogd, ``src/postlogd/postlogd.c`` with ``src/util/msg_logger.c``)::

    Mon DD HH:MM:SS HOST postfix/SERVICE[PID]: TEXT

e.g. ``Dec 05 22:17:28 mail postfix/smtpd[24272]: connect from unknown[127.0.0.1]``.
``Mon DD HH:MM:SS`` with the day zero-padded (``Dec 05``); ``HOST`` is the first
label of ``myhostname`` (``mail``); ``postfix/SERVICE[PID]`` is the
``syslog_name`` (``postfix``, or ``postfix/submission`` from a master.cf ``-o``)
joined by ``/`` to the program name (``smtpd``, ``cleanup``, ``qmgr``,
``virtual``, ``smtp``, ``error``, ``discard``, ``bounce``, ``pickup``,
``anvil``, ``master``, ``postsuper``, ``postfix-script``), then the pid in
brackets. Messages about one queued message start with the queue id and ``: ``
(``E1B9720E2BC: ``: 10-12 upper-case hex digits; ``NOQUEUE`` before a queue file
exists). A client is written ``name[addr]`` (``unknown[127.0.0.1]``: host name and
address, two values; the name is ``unknown`` as peer-name lookup is off).

Message types, with their values::

    connect from unknown[127.0.0.1]
    QUEUEID: client=unknown[127.0.0.1]
    QUEUEID: message-id=<hello-alice.1796509048917561398@client.test>
    QUEUEID: from=<carol@client.test>, size=360, nrcpt=1 (queue active)
    QUEUEID: to=<alice@example.test>, orig_to=<team@example.test>, relay=virtual, delay=0.01, delays=0.01/0/0/0, dsn=2.0.0, status=sent (delivered to maildir)
    QUEUEID: removed
    QUEUEID: sender non-delivery notification: 3D53920E184
    disconnect from unknown[127.0.0.1] ehlo=1 mail=1 rcpt=0/1 rset=1 quit=1 commands=4/5
    NOQUEUE: reject: RCPT from unknown[127.0.0.1]: 550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown in virtual mailbox table; from=<carol@client.test> to=<nobody@example.test> proto=ESMTP helo=<client.test>
    QUEUEID: reject: header Subject: win the lottery from unknown[127.0.0.1]; from=<carol@client.test> to=<alice@example.test> proto=ESMTP helo=<client.test>: 5.7.1 no lottery mail

``key=value`` fields separated by ``, `` (or by ``; `` / spaces in reject
lines); addresses in angle brackets are one value each (``from=<a@b>``: key and
bracketed address; ``from=<>`` the null sender); ``delays=a/b/c/d`` is one value
(four times joined by ``/``); ``dsn=2.0.0`` an enhanced status code;
``status=sent``/``deferred``/``bounced`` followed by the reason in parentheses
(free text, e.g. ``(connect to 127.0.0.1[127.0.0.1]:20998: Connection refused)``,
where ``127.0.0.1[127.0.0.1]:20998`` is host name, address and port);
``relay=none`` or a transport name. Disconnect statistics are ``command=ok/total``
pairs (``rcpt=0/1``: one value). Reject lines carry the SMTP reply code, the
enhanced status code, the rejected item in angle brackets and the reason, then
``; from=<...> to=<...> proto=ESMTP helo=<...>``. Header/body check lines quote
the whole matching header (``header Subject: win the lottery``) or body line as
free text before ``from CLIENT;``.

Other messages: ``Anonymous TLS connection established from unknown[127.0.0.1]:
TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519
server-signature RSA-PSS (2048 bits) server-digest SHA256``; ``warning: TLS
library problem: error:0A00010B:SSL routines::wrong version number:../ssl/record/ssl3_record.c:350:``;
``improper command pipelining after EHLO from unknown[127.0.0.1]:
MAIL FROM:<a@client.test>\r\nRCPT TO:...`` (the pipelined input with escaped
CR/LF); ``warning: non-SMTP command from unknown[127.0.0.1]: GET / HTTP/1.0``;
``warning: Illegal address syntax from unknown[127.0.0.1] in MAIL command:
<carol smith@client.test>``; ``lost connection after RCPT from ...``; ``too many
errors after UNKNOWN from ...``; ``uid=0 from=<root@example.test>`` and
``uid=109 from=<carol@client.test> orig_id=E6B1120E2BD`` (pickup);
``statistics: max connection rate 29/60s for (127.0.0.1:20025:127.0.0.1) at Dec  5
22:17:32`` (anvil: a rate ``N/60s``, a parenthesised ``service:client`` key, and
a ``ctime``-style time with a space-padded day); ``daemon started -- version
3.7.11, configuration /tmp/.../conf``; ``reload -- version 3.7.11, ...``;
``Released from hold: 1 message``, ``Requeued: 2 messages``, ``Deleted: 0
messages`` (postsuper); ``starting the Postfix mail system``, ``stopping the
Postfix mail system``, ``fatal: the Postfix mail system is not running``
(postfix-script).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import subprocess
import time
from pathlib import Path

from programs._support import read_lines, run, start, stop, wait_for_port

FORMAT_SOURCE = "https://www.postfix.org/MAILLOG_README.html (maillog_file, postlogd); https://www.postfix.org/postconf.5.html; src/smtpd/smtpd.c, src/cleanup/cleanup_envelope.c, src/global/log_adhoc.c"
PACKAGES = ["postfix", "openssl"]

SMTP_PORT = 20025
SUBMISSION_PORT = 20587
DEAD_PORT = 20998

MASTER_CF = """\
127.0.0.1:{smtp} inet n - n - - smtpd
127.0.0.1:{submission} inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_client_restrictions=permit_mynetworks,reject
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
  -o syslog_name=postfix/$service_name
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def _main_cf(workdir: Path) -> str:
    return f"""\
compatibility_level = 3.6
queue_directory = {workdir}/spool
data_directory = {workdir}/data
maillog_file = {workdir}/maillog
maillog_file_prefixes = {workdir}
myhostname = mail.example.test
mydomain = example.test
myorigin = $mydomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.2/32
alias_maps =
alias_database =
local_recipient_maps =
relayhost = [127.0.0.1]:{DEAD_PORT}
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtpd_peername_lookup = no
smtp_connect_timeout = 2s
virtual_mailbox_domains = example.test
virtual_mailbox_base = {workdir}/vmail
virtual_mailbox_maps = hash:{workdir}/vmailbox
virtual_alias_maps = hash:{workdir}/virtual
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
transport_maps = hash:{workdir}/transport
smtpd_banner = $myhostname ESMTP
smtpd_helo_required = yes
smtpd_helo_restrictions = reject_invalid_helo_hostname
smtpd_sender_restrictions = check_sender_access hash:{workdir}/sender_access, reject_non_fqdn_sender
smtpd_recipient_restrictions = permit_mynetworks, check_recipient_access hash:{workdir}/recipient_access, reject_non_fqdn_recipient, reject_unauth_destination
smtpd_data_restrictions = reject_unauth_pipelining
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 3
smtpd_hard_error_limit = 6
smtpd_client_connection_rate_limit = 0
anvil_rate_time_unit = 60s
message_size_limit = 20000
header_checks = regexp:{workdir}/header_checks
body_checks = regexp:{workdir}/body_checks
smtpd_tls_cert_file = {workdir}/cert.pem
smtpd_tls_key_file = {workdir}/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtp_tls_security_level = none
delay_warning_time = 0
maximal_queue_lifetime = 1d
notify_classes = resource, software
biff = no
"""


MAPS = {
    "vmailbox": "alice@example.test example.test/alice/\nbob@example.test example.test/bob/\n",
    "virtual": (
        "postmaster@example.test alice@example.test\nteam@example.test alice@example.test, bob@example.test\n"
        "gone@example.test gone@bounce.test\nmoved@example.test moved@later.test\n"
    ),
    "transport": (
        "discard.test discard:silently dropped\nbounce.test error:5.1.2 domain does not accept mail\n"
        "later.test retry:4.4.1 try again later\n"
    ),
    "sender_access": "spammer@bad.test REJECT sender blacklisted\nbad.test REJECT\nfriend@good.test OK\n",
    "recipient_access": "blocked@example.test REJECT mailbox disabled\nheld@example.test HOLD\n",
}

HEADER_CHECKS = """\
/^Subject:.*lottery/ REJECT no lottery mail
/^Subject:.*hold me/ HOLD
/^Subject:.*warn me/ WARN
/^Subject:.*discard me/ DISCARD
/^X-Mailer: BadMailer/ REJECT bad mailer
"""

BODY_CHECKS = """\
/forbidden phrase/ REJECT body contains a forbidden phrase
"""


def _message(sender: str, rcpt: str, subject: str, body: str = "Hello.", extra: str = "") -> str:
    return (
        f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n{extra}"
        f"Message-ID: <{subject.replace(' ', '-')}.{time.time_ns()}@client.test>\r\n\r\n{body}\r\n"
    )


def _send(sender: str, rcpts: list[str], subject: str, *, source: str = "127.0.0.1", **kwargs: str) -> None:
    try:
        with smtplib.SMTP(
            "127.0.0.1", SMTP_PORT, local_hostname="client.test", timeout=10, source_address=(source, 0)
        ) as smtp:
            smtp.sendmail(sender, rcpts, _message(sender, ", ".join(rcpts), subject, **kwargs))
    except (smtplib.SMTPException, OSError):
        pass


def _raw(lines: list[bytes], port: int = SMTP_PORT, pause: float = 0.1) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.recv(4096)
            for line in lines:
                sock.sendall(line)
                time.sleep(pause)
                try:
                    sock.recv(4096)
                except OSError:
                    break
    except OSError:
        pass


def _traffic(workdir: Path, conf: Path) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # Deliveries to virtual mailboxes, aliases, several recipients.
    _send("carol@client.test", ["alice@example.test"], "hello alice")
    _send("carol@client.test", ["bob@example.test", "team@example.test"], "team news")
    _send("friend@good.test", ["postmaster@example.test"], "to postmaster")
    # Rejections at RCPT, MAIL, DATA (header/body checks), size.
    _send("carol@client.test", ["nobody@example.test"], "unknown user")
    _send("carol@client.test", ["blocked@example.test", "alice@example.test"], "partly blocked")
    _send("spammer@bad.test", ["alice@example.test"], "from a spammer")
    _send("other@bad.test", ["alice@example.test"], "from bad domain")
    _send("carol", ["alice@example.test"], "unqualified sender")
    _send("carol@client.test", ["someone@elsewhere.test"], "relay attempt")
    _send("carol@client.test", ["alice@example.test"], "win the lottery")
    _send("carol@client.test", ["alice@example.test"], "please hold me")
    _send("carol@client.test", ["alice@example.test"], "warn me about this")
    _send("carol@client.test", ["alice@example.test"], "discard me now")
    _send("carol@client.test", ["alice@example.test"], "mailer", extra="X-Mailer: BadMailer 1.0\r\n")
    _send("carol@client.test", ["bob@example.test"], "body check", body="this has a forbidden phrase in it")
    _send("carol@client.test", ["bob@example.test"], "too big", body="x" * 30000)
    _send("carol@client.test", ["held@example.test"], "recipient hold")
    # Accepted, then bounced or deferred after alias expansion (the bounce itself is deferred too).
    _send("carol@client.test", ["gone@example.test"], "to a gone user")
    _send("carol@client.test", ["moved@example.test"], "to a moved user")
    # Relaying from mynetworks: to the dead relayhost (deferred), discard, error and retry transports.
    _send("carol@client.test", ["someone@elsewhere.test"], "relayed", source="127.0.0.2")
    _send("carol@client.test", ["x@discard.test"], "to discard", source="127.0.0.2")
    _send("carol@client.test", ["x@bounce.test"], "to bounce", source="127.0.0.2")
    _send("carol@client.test", ["x@later.test"], "to retry", source="127.0.0.2")
    # STARTTLS, and the submission port that requires it.
    try:
        with smtplib.SMTP("127.0.0.1", SMTP_PORT, local_hostname="tls.client.test", timeout=10) as smtp:
            smtp.starttls(context=context)
            smtp.sendmail(
                "carol@client.test", ["alice@example.test"], _message("carol@client.test", "alice", "over tls")
            )
    except (smtplib.SMTPException, OSError):
        pass
    _raw([b"EHLO client.test\r\n", b"MAIL FROM:<carol@client.test>\r\n", b"QUIT\r\n"], port=SUBMISSION_PORT)
    try:
        with smtplib.SMTP("127.0.0.1", SUBMISSION_PORT, local_hostname="sub.client.test", timeout=10) as smtp:
            smtp.starttls(context=context)
            smtp.sendmail("carol@client.test", ["bob@example.test"], _message("carol@client.test", "bob", "submitted"))
    except (smtplib.SMTPException, OSError):
        pass
    # Protocol errors: no HELO, bad commands, pipelining, non-SMTP, bad HELO, lost connections.
    _raw([b"MAIL FROM:<a@client.test>\r\n", b"QUIT\r\n"])
    _raw([b"EHLO client.test\r\n", b"FOO\r\n", b"BAR baz\r\n", b"RCPT TO:<alice@example.test>\r\n", b"QUIT\r\n"])
    _raw([b"EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n"])
    _raw([b"GET / HTTP/1.0\r\n", b"Host: x\r\n"])
    _raw([b"HELO bad..name!\r\n", b"QUIT\r\n"])
    _raw([b"EHLO client.test\r\n", b"MAIL FROM:<a@client.test>\r\n", b"RCPT TO:<alice@example.test>\r\n"])
    _raw(
        [
            b"EHLO client.test\r\n",
            b"VRFY alice@example.test\r\n",
            b"ETRN example.test\r\n",
            b"RSET\r\n",
            b"NOOP\r\n",
            b"HELP\r\n",
            b"QUIT\r\n",
        ]
    )
    _raw([b"EHLO client.test\r\n"] + [b"XYZZY\r\n"] * 7)
    _raw([b"EHLO client.test\r\n", b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", b"QUIT\r\n"])
    with socket.create_connection(("127.0.0.1", SMTP_PORT), timeout=5):
        pass
    _raw([b"HELO bad..name!\r\n", b"MAIL FROM:<carol@client.test>\r\n", b"RCPT TO:<alice@example.test>\r\n"])
    _raw(
        [
            b"EHLO client.test\r\n",
            b"MAIL FROM:<carol smith@client.test>\r\n",
            b"MAIL FROM:carol\r\n",
            b"RCPT TO:<alice@example.test>\r\n",
            b"QUIT\r\n",
        ]
    )
    _raw([b"EHLO client.test\r\n", b"STARTTLS\r\n", b"this is not a TLS client hello\r\n\r\n"])
    _raw(
        [
            b"EHLO client.test\r\n",
            "MAIL FROM:<jörg@client.test> SMTPUTF8\r\n".encode(),
            b"RCPT TO:<alice@example.test>\r\n",
            b"DATA\r\n",
            "Subject: grüße\r\nFrom: jörg@client.test\r\n\r\nHallo.\r\n.\r\n".encode(),
            b"QUIT\r\n",
        ]
    )
    # Several messages in one session, from another address.
    try:
        with smtplib.SMTP(
            "127.0.0.1", SMTP_PORT, local_hostname="batch.client.test", timeout=10, source_address=("127.0.0.3", 0)
        ) as smtp:
            for n in range(3):
                smtp.sendmail(
                    f"list{n}@client.test", ["bob@example.test"], _message("list@client.test", "bob", f"batch {n}")
                )
    except (smtplib.SMTPException, OSError):
        pass
    # Local submission through postdrop and pickup.
    subprocess.run(
        ["sendmail", "-C", str(conf), "-f", "root@example.test", "-t"],
        input=_message("root@example.test", "alice@example.test", "local submission").encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    # Queue management: flush, hold/release, delete deferred.
    time.sleep(3)
    run(["postqueue", "-c", str(conf), "-f"], timeout_s=30)
    run(["postsuper", "-c", str(conf), "-H", "ALL"], timeout_s=30)
    run(["postsuper", "-c", str(conf), "-r", "ALL"], timeout_s=30)
    time.sleep(3)
    run(["postsuper", "-c", str(conf), "-d", "ALL", "deferred"], timeout_s=30)
    run(["postsuper", "-c", str(conf), "-d", "ALL", "hold"], timeout_s=30)


def collect(workdir: Path) -> list[str]:
    workdir.chmod(0o755)
    conf = workdir / "conf"
    conf.mkdir()
    (conf / "main.cf").write_text(_main_cf(workdir))
    (conf / "master.cf").write_text(MASTER_CF.format(smtp=SMTP_PORT, submission=SUBMISSION_PORT))
    for name, text in MAPS.items():
        (workdir / name).write_text(text)
        run(["postmap", "-c", str(conf), f"hash:{workdir / name}"], check=True)
    (workdir / "header_checks").write_text(HEADER_CHECKS)
    (workdir / "body_checks").write_text(BODY_CHECKS)
    (workdir / "spool").mkdir(mode=0o755)
    vmail = workdir / "vmail"
    vmail.mkdir()
    subprocess.run(["chown", "65534:65534", str(vmail)], check=True)
    (workdir / "data").mkdir()
    subprocess.run(["chown", "postfix", str(workdir / "data")], check=True)
    run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=mail.example.test"]
        + ["-keyout", str(workdir / "key.pem"), "-out", str(workdir / "cert.pem")],
        check=True,
    )
    stderr_log = workdir / "stderr.log"
    # Its own session: postfix's master signals its whole process group when it stops.
    process = start(["postfix", "-c", str(conf), "start-fg"], log=stderr_log, start_new_session=True)
    try:
        wait_for_port(SMTP_PORT)
        _traffic(workdir, conf)
        run(["postfix", "-c", str(conf), "reload"], timeout_s=30)
        time.sleep(2)
        wait_for_port(SMTP_PORT)
        _send("carol@client.test", ["alice@example.test"], "after reload")
        time.sleep(2)
        run(["postfix", "-c", str(conf), "stop"], timeout_s=30)
        process.wait(30)
    finally:
        stop(process)
        run(["postfix", "-c", str(conf), "abort"], timeout_s=30)
    # stderr holds only the start-fg shell's own messages ("Terminated"): everything is in the maillog.
    return read_lines([workdir / "maillog"])
