"""dpkg and APT logs (Debian ``dpkg`` 1.21, ``apt`` 2.6): what a few installs and removals append.

The driver installs, reinstalls, removes and purges a few small packages with ``apt-get`` and
``dpkg`` and returns the lines appended meanwhile to three files, one file after the other.
Other programs' installs running at the same time on this machine may add their own lines.

1. ``/var/log/dpkg.log`` (dpkg's ``--log``; format in dpkg(1), "LOG FORMAT")::

       2026-12-05 22:00:00 startup archives unpack
       2026-12-05 22:00:00 install sl:amd64 <none> 5.02-1+b1
       2026-12-05 22:00:00 status half-installed sl:amd64 5.02-1+b1
       2026-12-05 22:00:01 status unpacked sl:amd64 5.02-1+b1
       2026-12-05 22:00:01 configure sl:amd64 5.02-1+b1 <none>
       2026-12-05 22:00:01 status installed sl:amd64 5.02-1+b1
       2026-12-05 22:00:01 trigproc man-db:amd64 2.11.2-2 <none>
       2026-12-05 22:00:02 remove figlet:amd64 2.2.5-3+b1 <none>
       2026-12-05 22:00:02 purge nano:amd64 7.2-1+deb12u1 <none>
       2026-12-05 22:00:02 status config-files nano:amd64 7.2-1+deb12u1
       2026-12-05 22:00:02 status not-installed nano:amd64 <none>

   ``YYYY-MM-DD HH:MM:SS`` local time, then one of ``startup <type> <command>``,
   ``status <state> <pkg> <installed-version>``, ``<action> <pkg> <installed-version>
   <available-version>`` (action: ``install``, ``upgrade``, ``configure``, ``trigproc``,
   ``disappear``, ``remove``, ``purge``) or ``conffile <filename> <decision>``. Fields are
   separated by single spaces and none contains a space. What is ONE value: ``<pkg>`` is
   ``name:arch`` (``sl:amd64``, ``tzdata:all``), two values (package name and architecture)
   joined by ``:``; a version is one value even with an epoch, a revision and ``+`` / ``~``
   (``1:2.3.19.1+dfsg1-2.1+deb12u7``, ``3.0.22-1~deb12u2``); ``<none>`` marks a missing
   version. A reinstall is logged as ``upgrade`` from a version to the same version.

2. ``/var/log/apt/history.log`` (APT's ``Dir::Log::History``), one stanza per APT run,
   ``Key: value`` lines, stanzas separated by an empty line (dropped here)::

       Start-Date: 2026-12-05  22:00:00
       Commandline: apt-get -o DPkg::Lock::Timeout=300 install -y sl figlet
       Install: sl:amd64 (5.02-1+b1), figlet:amd64 (2.2.5-3+b1), libcaca0:amd64 (0.99.beta20-3, automatic)
       Reinstall: sl:amd64 (5.02-1+b1)
       Remove: figlet:amd64 (2.2.5-3+b1)
       Purge: nano:amd64 (7.2-1+deb12u1)
       Upgrade: openssl:amd64 (3.0.19-1~deb12u2, 3.0.22-1~deb12u2)
       Error: Sub-process /usr/bin/dpkg returned an error code (1)
       End-Date: 2026-12-05  22:00:03

   The date is ``YYYY-MM-DD  HH:MM:SS`` with TWO spaces between date and time.
   ``Commandline`` is the whole command line as one value. The package lists are
   ``, ``-separated entries ``name:arch (version)`` or ``name:arch (version, automatic)``;
   ``Upgrade``/``Downgrade`` entries hold ``(old, new)``; a package purged from the
   ``config-files`` state shows an empty version, ``Purge: nano:amd64 ()``.

3. ``/var/log/apt/term.log`` (``Dir::Log::Terminal``): the terminal output of the dpkg
   runs APT started, between ``Log started: 2026-12-05  22:00:00`` and ``Log ended:
   2026-12-05  22:00:03`` lines (two spaces again) - dpkg's and the maintainer scripts' own
   messages: ``Selecting previously unselected package sl.``, ``(Reading database ... 45123
   files and directories currently installed.)``, ``Preparing to unpack
   .../sl_5.02-1+b1_amd64.deb ...``, ``Unpacking sl (5.02-1+b1) ...``, ``Setting up sl
   (5.02-1+b1) ...``, ``Removing figlet (2.2.5-3+b1) ...``, ``Processing triggers for
   man-db (2.11.2-2) ...``, ``update-alternatives: using /usr/bin/nano to provide
   /usr/bin/editor (editor) in auto mode``. Here a package is ``name (version)`` (the
   parenthesized version one value) and file names are printed as they are. dpkg's
   progress ``(Reading database ... 5%`` steps are separated by carriage returns in the
   file; they are split into lines here (``str.splitlines``), one step a line.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

FORMAT_SOURCE = (
    "dpkg(1) LOG FORMAT (https://manpages.debian.org/bookworm/dpkg/dpkg.1.en.html); "
    "apt.conf(5) Dir::Log (https://manpages.debian.org/bookworm/apt/apt.conf.5.en.html); "
    "apt-pkg/deb/dpkgpm.cc (history.log and term.log writers)"
)
PACKAGES: list[str] = []

LOGS = [Path("/var/log/dpkg.log"), Path("/var/log/apt/history.log"), Path("/var/log/apt/term.log")]
# Small packages the driver installs and removes (and purges at the end if they were not there).
OURS = ["sl", "cowsay", "figlet", "tree", "toilet", "nano"]
ENV = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}
LOCK = ["-o", "DPkg::Lock::Timeout=300"]


def _apt(*args: str, cwd: Path | None = None) -> int:
    result = subprocess.run(
        ["apt-get", *LOCK, "-y", "-q", *args],
        env=ENV,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=150,
        check=False,
    )
    return result.returncode


def _dpkg(*args: str, cwd: Path | None = None) -> int:
    # dpkg has no lock timeout of its own: wait for apt's lock first by asking apt for nothing.
    _apt("check")
    result = subprocess.run(
        ["dpkg", *args],
        env=ENV,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    return result.returncode


def _installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True, check=False, env=ENV
    )
    return result.stdout.strip() == "install ok installed"


def collect(workdir: Path) -> list[str]:
    sizes = {path: path.stat().st_size if path.exists() else 0 for path in LOGS}
    before = {package for package in OURS if _installed(package)}
    try:
        _apt("install", "sl", "figlet")
        _apt("install", "--reinstall", "sl")
        _apt("install", "cowsay", "tree", "toilet", "nano")
        _apt("install", "no-such-package-corpus")  # fails before dpkg runs
        _apt("remove", "figlet")
        _apt("remove", "nano")  # leaves its conffile: config-files state
        _apt("purge", "nano")
        _apt("install", "nano")
        _apt("purge", "--autoremove", "toilet")
        # dpkg by hand: a downloaded .deb unpacked, configured, removed and purged.
        _apt("download", "figlet", cwd=workdir)
        debs = sorted(str(path) for path in workdir.glob("figlet_*.deb"))
        if debs:
            _dpkg("--unpack", debs[0])
            _dpkg("--configure", "figlet")
            _dpkg("--remove", "figlet")
            _dpkg("-i", debs[0])
            _dpkg("--purge", "figlet")
        _apt("install", "--reinstall", "tree", "cowsay")
        _apt("remove", "--purge", "cowsay", "tree")
    finally:
        leftovers = [package for package in OURS if package not in before and _installed(package)]
        if leftovers:
            _apt("purge", "--autoremove", *leftovers)
    lines: list[str] = []
    for path in LOGS:
        if not path.exists():
            continue
        with path.open("rb") as handle:
            size = path.stat().st_size
            handle.seek(sizes[path] if sizes[path] <= size else 0)
            lines.extend(handle.read().decode("utf-8", errors="replace").splitlines())
    return lines
