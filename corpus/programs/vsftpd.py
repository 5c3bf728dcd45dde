"""vsftpd 3.0.3 (Debian ``vsftpd``): its own log with the FTP protocol, then its wu-ftpd xferlog.

Configured with ``xferlog_enable=YES``, ``xferlog_std_format=NO``, ``log_ftp_protocol=YES`` and
``dual_log_enable=YES``: vsftpd writes two files, returned one after the other.

1. ``vsftpd_log_file``, vsftpd's own format (``vsf_log_line`` in ``logging.c``)::

       Sat Dec  5 22:00:00 2026 [pid 4242] CONNECT: Client "127.0.0.1"
       Sat Dec  5 22:00:00 2026 [pid 4241] [ftp] OK LOGIN: Client "127.0.0.1", anon password "corpus@example.org"
       Sat Dec  5 22:00:01 2026 [pid 4243] [ftp] OK UPLOAD: Client "127.0.0.1", "/upload/a.txt", 1234 bytes, 812.49Kbyte/sec
       Sat Dec  5 22:00:01 2026 [pid 4243] [ftp] FAIL DOWNLOAD: Client "127.0.0.1", "/missing.txt", 0.00Kbyte/sec
       Sat Dec  5 22:00:02 2026 [pid 4243] [ftp] FTP command: Client "127.0.0.1", "RETR readme.txt"
       Sat Dec  5 22:00:02 2026 [pid 4243] [ftp] FTP response: Client "127.0.0.1", "150 Opening BINARY mode data connection for readme.txt (42 bytes)."
       Sat Dec  5 22:00:03 2026 [pid 4241] [nosuchuser] FAIL LOGIN: Client "127.0.0.1"

   The timestamp is C ``ctime()``-style local time, ``%a %b %e %H:%M:%S %Y`` (the day of the
   month space-padded to two characters, so days 1-9 show two spaces before them). Then
   ``[pid N]``, then ``[user]`` once a user name is known (the name between the brackets is
   one value; ``ftp`` for anonymous), then the event (``CONNECT``, ``OK LOGIN``,
   ``FAIL LOGIN``, ``OK UPLOAD``, ``FAIL UPLOAD``, ``OK DOWNLOAD``, ``FAIL DOWNLOAD``,
   ``OK MKDIR``, ``FAIL MKDIR``, ``OK DELETE``, ``FAIL DELETE``, ``OK RMDIR``, ``OK RENAME``,
   ``FTP command``, ``FTP response``) and a colon. What is ONE value: each double-quoted
   string is one value, spaces included (``Client "127.0.0.1"`` - the client's address;
   IPv4 here, as ``listen_ipv6=NO`` -, a path ``"/upload/my file.txt"``, a rename
   ``"/a.txt /b.txt"``, the whole FTP command line ``"STOR a.txt"`` or response line
   ``"226 Transfer complete."``; vsftpd does not escape quotes inside, so a response such
   as ``"257 "/" is the current directory"`` is still one value, up to the line's end). A byte count
   (``1234 bytes``) and a rate (``812.49Kbyte/sec``, number and unit glued) follow
   unquoted. A ``PASS`` command is logged with its argument replaced by ``<password>``.

2. ``xferlog_file``, the wu-ftpd xferlog format (one completed transfer per line, fields
   separated by single spaces)::

       Sat Dec  5 22:00:01 2026 1 127.0.0.1 1234 /upload/a.txt b _ i a corpus@example.org ftp 0 * c

   ``current-time`` (ctime-style as above), ``transfer-time`` (whole seconds),
   ``remote-host``, ``file-size`` (bytes), ``filename`` (the path as the FTP client sees it, one
   value - vsftpd replaces each space in it with ``_`` to keep the fields apart), ``transfer-type`` (``a``
   ascii / ``b`` binary), ``special-action-flag`` (``_``), ``direction`` (``o`` outgoing /
   ``i`` incoming), ``access-mode`` (``a`` anonymous / ``r`` real), ``username`` (the
   anonymous password for anonymous users), ``service-name`` (``ftp``),
   ``authentication-method`` (``0``), ``authenticated-user-id`` (``*``) and
   ``completion-status`` (``c`` complete / ``i`` incomplete).
"""

from __future__ import annotations

import contextlib
import ftplib
import io
import os
import shutil
import time
from pathlib import Path

from programs._support import read_lines, start, stop, wait_for_port

FORMAT_SOURCE = (
    "vsftpd.conf(5) (/usr/share/man/man5/vsftpd.conf.5.gz: xferlog_std_format, log_ftp_protocol, dual_log_enable); "
    "https://security.appspot.com/vsftpd.html (logging.c); xferlog(5) for the wu-ftpd format"
)
PACKAGES = ["vsftpd"]

PORT = 21021


def _config(workdir: Path, anon_root: Path) -> str:
    return f"""\
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={PORT}
background=NO
anonymous_enable=YES
anon_root={anon_root}
anon_upload_enable=YES
anon_mkdir_write_enable=YES
anon_other_write_enable=YES
anon_umask=022
write_enable=YES
local_enable=YES
pam_service_name=vsftpd
secure_chroot_dir=/var/run/vsftpd/empty
pasv_enable=YES
pasv_min_port=21022
pasv_max_port=21040
pasv_address=127.0.0.1
xferlog_enable=YES
xferlog_std_format=NO
log_ftp_protocol=YES
dual_log_enable=YES
vsftpd_log_file={workdir / "vsftpd.log"}
xferlog_file={workdir / "xferlog"}
max_login_fails=2
max_per_ip=4
anon_max_rate=2000000
delay_failed_login=0
idle_session_timeout=60
data_connection_timeout=30
ftpd_banner=Welcome to the corpus FTP service.
"""


def _session(user: str = "anonymous", password: str = "corpus@example.org") -> ftplib.FTP:
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", PORT, timeout=10)
    ftp.login(user, password)
    return ftp


def _anonymous_work() -> None:
    ftp = _session()
    with contextlib.ExitStack() as stack:
        stack.callback(ftp.close)
        ftp.pwd()
        ftp.retrlines("LIST", lambda _: None)
        ftp.retrlines("NLST", lambda _: None)
        ftp.retrbinary("RETR readme.txt", lambda _: None)
        ftp.retrlines("RETR readme.txt", lambda _: None)  # ASCII mode
        ftp.retrbinary("RETR big.bin", lambda _: None)
        for command in ["RETR missing.txt", "RETR secret/none", "CWD nowhere", "DELE readme.txt", "MKD forbidden"]:
            with contextlib.suppress(ftplib.Error):
                ftp.sendcmd(command) if not command.startswith("RETR") else ftp.retrbinary(command, lambda _: None)
        ftp.cwd("upload")
        ftp.storbinary("STOR a.txt", io.BytesIO(b"hello\n" * 200))
        ftp.storlines("STOR notes with spaces.txt", io.BytesIO(b"line one\nline two\n"))
        ftp.storbinary("APPE a.txt", io.BytesIO(b"more\n"))
        ftp.mkd("incoming")
        with contextlib.suppress(ftplib.Error):
            ftp.mkd("incoming")  # exists
        ftp.rename("a.txt", "incoming/b.txt")
        with contextlib.suppress(ftplib.Error):
            ftp.rename("nope.txt", "other.txt")
        ftp.size("incoming/b.txt")
        ftp.sendcmd("MDTM incoming/b.txt")
        ftp.retrbinary("RETR incoming/b.txt", lambda _: None, rest=100)
        ftp.delete("incoming/b.txt")
        with contextlib.suppress(ftplib.Error):
            ftp.delete("incoming/b.txt")  # already gone
        ftp.rmd("incoming")
        with contextlib.suppress(ftplib.Error):
            ftp.rmd("incoming")
        for command in ["SYST", "FEAT", "STAT", "NOOP", "TYPE X", "SITE CHMOD 777 notes with spaces.txt", "BOGUS cmd"]:
            with contextlib.suppress(ftplib.Error):
                ftp.sendcmd(command)
        ftp.set_pasv(False)
        with contextlib.suppress(ftplib.Error, OSError):
            ftp.retrlines("LIST", lambda _: None)  # active mode
        ftp.set_pasv(True)
        ftp.quit()


def collect(workdir: Path) -> list[str]:
    os.chmod(workdir, 0o755)
    anon_root = workdir / "pub"
    (anon_root / "upload").mkdir(parents=True)
    (anon_root / "secret").mkdir()
    (anon_root / "readme.txt").write_text("Read me.\nTwo lines.\n")
    (anon_root / "big.bin").write_bytes(os.urandom(300_000))
    shutil.chown(anon_root / "upload", "ftp", "ftp")
    (anon_root / "secret").chmod(0o700)
    config = workdir / "vsftpd.conf"
    config.write_text(_config(workdir, anon_root))
    process = start(["vsftpd", str(config)], workdir / "vsftpd.stderr")
    try:
        wait_for_port(PORT)
        _anonymous_work()
        _anonymous_work()  # second round: the uploads now exist, some steps fail differently
        for user, password in [("nosuchuser", "x"), ("root", "guess"), ("ftp", "x@y"), ("admin", "admin")]:
            with contextlib.suppress(ftplib.Error, OSError):
                _session(user, password).quit()
        # Too many connections from one address; a download aborted halfway.
        crowd = []
        with contextlib.ExitStack() as stack:
            for _ in range(6):
                with contextlib.suppress(ftplib.Error, OSError):
                    ftp = ftplib.FTP()
                    stack.callback(ftp.close)
                    ftp.connect("127.0.0.1", PORT, timeout=10)
                    crowd.append(ftp)
        time.sleep(1)
        with contextlib.suppress(ftplib.Error, OSError):
            ftp = _session()
            ftp.voidcmd("TYPE I")
            data = ftp.transfercmd("RETR big.bin")
            data.recv(8192)
            data.close()
            ftp.abort()
            ftp.getline()
            ftp.quit()
        # A client that connects and says nothing useful, one that quits before logging in.
        with contextlib.suppress(ftplib.Error, OSError):
            ftp = ftplib.FTP()
            ftp.connect("127.0.0.1", PORT, timeout=10)
            for command in ["HELP", "LIST", "PASS nouser", "USER"]:
                with contextlib.suppress(ftplib.Error):
                    ftp.sendcmd(command)
            ftp.quit()
    finally:
        stop(process)
    return read_lines([workdir / "vsftpd.log", workdir / "xferlog"])
