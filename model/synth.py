"""Synthetic delimiter-labelled log lines for the log formats Loghub lacks.

The tagger is trained on 11 Loghub systems but must label systems it has never
seen (web servers, databases, package managers, logfmt and JSON-lines services,
...). This module writes such lines together with their labels, correct by
construction under ``shared/spec/labels.md``: every line is assembled from
pieces, each either constant text of a format or template (alphanumerics ``O``,
everything else ``D``) or the value of a header field or template variable
(whitespace ``D``, everything else ``O``). Each piece also carries its kind
(``C`` constant, ``F`` header field, ``V`` template variable), so every row has
the spec's ``kinds`` too. :func:`piece_labels` and :func:`piece_kinds` label a
piece; :func:`assemble` joins pieces, so line, labels and kinds never drift.

Values and templates are realistic rather than random so that the model learns
the labelling rules (a ``:`` inside ``10.0.0.1:8080`` is part of the value, the
``:`` after ``Listening on`` is not) instead of the generator's quirks.

Usage::

    from logdelim.model.synth import FAMILIES, generate
    rows = generate(50_000, seed=1)   # [{"system": "synthetic/logfmt", "line": ..., "labels": ..., "kinds": ...}]
"""

from __future__ import annotations

import functools
import json
import random
import re
from collections.abc import Callable, Mapping, Sequence

from .charclass import class_string
from .templates import labels_of_kinds

CONST, FIELD, VAR = "C", "F", "V"
Piece = tuple[str, str]
"""``(text, kind)``: a run of a line and its kind: ``CONST`` constant text, ``FIELD`` a header
field's value, ``VAR`` a template variable's value."""

Rng = random.Random
Gen = Callable[[Rng], str]
FieldValue = str | list[Piece]
"""A template field: a variable value, or ready-made pieces (a nested message)."""


# ---------------------------------------------------------------------------
# Labels by construction
# ---------------------------------------------------------------------------


def piece_labels(text: str, variable: bool) -> str:
    """The ``O``/``D`` labels of one piece, per the spec's rules 1-3.

    Args:
        text: the piece's characters.
        variable: True for a header field value or template variable (every
            non-whitespace character ``O``), False for constant format or
            template text (alphanumerics ``O``, everything else ``D``).
    """
    if variable:
        if _SPACE.search(text) is None:  # the common case, and much faster
            return "O" * len(text)
        return class_string(text).translate(_VARIABLE_LABELS)
    return _constant_labels(text)


_SPACE = re.compile(r"\s")
# Labels by character class (charclass): a variable's characters are O but its whitespace,
# constant text's are O only where alphanumeric.
_VARIABLE_LABELS = str.maketrans("asp", "ODO")
_CONSTANT_LABELS = str.maketrans("asp", "ODD")


@functools.lru_cache(maxsize=8192)
def _constant_labels(text: str) -> str:
    # Constant pieces repeat a lot (template words, separators), hence the cache.
    return class_string(text).translate(_CONSTANT_LABELS)


def piece_kinds(text: str, kind: str) -> str:
    """The spec's ``kinds`` of one piece: whitespace ``D``; in constant text every other
    non-alphanumeric ``D`` too; every remaining character ``kind``."""
    return piece_labels(text, kind != CONST).replace("O", kind)


def assemble(pieces: Sequence[Piece]) -> tuple[str, str, str]:
    """Join pieces into ``(line, labels, kinds)``, trimming outer whitespace like the Loghub files.

    Raises:
        ValueError: if a piece holds a line break (a line must be one line).
    """
    line = "".join(text for text, _ in pieces)
    if "\n" in line or "\r" in line:
        raise ValueError(f"generated line holds a line break: {line!r}")
    kinds = "".join(piece_kinds(text, kind) for text, kind in pieces)
    labels = labels_of_kinds(kinds)
    start = len(line) - len(line.lstrip())
    end = len(line.rstrip())
    return line[start:end], labels[start:end], kinds[start:end]


# ---------------------------------------------------------------------------
# Templates: "{field}" is a variable, everything else constant ("{{" is a brace)
# ---------------------------------------------------------------------------

_FIELD = re.compile(r"\{\{|\}\}|\{(\w+)(?::([<>^]?\d+))?\}")


@functools.lru_cache(maxsize=4096)  # bounded: composed messages make templates on the fly
def _parse(template: str) -> tuple[tuple[str, str | None, str], ...]:
    """Split a template into ``(constant text, field name or None, format spec)`` parts."""
    parts: list[tuple[str, str | None, str]] = []
    pos = 0
    constant = ""
    for m in _FIELD.finditer(template):
        constant += template[pos : m.start()]
        pos = m.end()
        if m.group(1) is None:
            constant += m.group(0)[0]
            continue
        parts.append((constant, m.group(1), m.group(2) or ""))
        constant = ""
    parts.append((constant + template[pos:], None, ""))
    return tuple(parts)


def render(r: Rng, template: str, fields: Mapping[str, FieldValue] | None = None, kind: str = FIELD) -> list[Piece]:
    """Pieces of ``template``, each ``{name}`` filled from ``fields`` or the value generator ``name``.

    A field may carry a format spec for padding (``{level:<5}``, ``{thread:>15}``);
    padding is whitespace, which is ``D`` whether it counts as value or not.

    Args:
        r: the random source.
        template: constant text with ``{name}`` fields.
        fields: explicit values (a string is one variable value, a list is
            ready-made pieces such as a message); others come from ``VALUES``.
        kind: the kind of the values: ``FIELD`` for a format's header, ``VAR`` for
            an event template's variables.
    """
    pieces: list[Piece] = []
    for constant, name, spec in _parse(template):
        if constant:
            pieces.append((constant, CONST))
        if name is None:
            continue
        value = fields[name] if fields and name in fields else VALUES[name](r)
        if isinstance(value, list):
            pieces.extend(value)
        else:
            pieces.append((format(value, spec) if spec else value, kind))
    return pieces


def _pick(*options: str) -> Gen:
    """A generator choosing uniformly among fixed realistic values."""
    return lambda r: r.choice(options)


def _escape(pieces: Sequence[Piece], escape: Callable[[str], str]) -> list[Piece]:
    """Escape each piece separately (escaping is per character, so labels stay per piece)."""
    return [(escape(text), kind) for text, kind in pieces]


def _json_escape(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _quote_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


# ---------------------------------------------------------------------------
# Timestamps (each call draws a fresh moment)
# ---------------------------------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class _Moment:
    """A random calendar moment, with the pieces that timestamp formats need."""

    __slots__ = ("year", "month", "day", "hour", "minute", "second", "micro", "weekday")

    def __init__(self, r: Rng) -> None:
        self.year = r.randint(2012, 2026)
        self.month = r.randint(1, 12)
        self.day = r.randint(1, _DAYS_IN_MONTH[self.month - 1])
        self.hour, self.minute, self.second = r.randrange(24), r.randrange(60), r.randrange(60)
        self.micro = r.randrange(1_000_000)
        self.weekday = r.randrange(7)  # not tied to the date: no parser checks it

    @property
    def date(self) -> str:
        return f"{self.year}-{self.month:02d}-{self.day:02d}"

    @property
    def time(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}:{self.second:02d}"

    @property
    def mon(self) -> str:
        return _MONTHS[self.month - 1]

    @property
    def dow(self) -> str:
        return _DAYS[self.weekday]

    def epoch(self) -> int:
        return (
            1_325_376_000
            + (((self.year - 2012) * 365 + (self.month - 1) * 30 + self.day) * 24 + self.hour) * 3600
            + self.minute * 60
            + self.second
        )


def _tz(r: Rng, colon: bool) -> str:
    if r.random() < 0.4:
        return "Z"
    hours = r.choice((0, 1, 2, 5, 8, 9, -3, -4, -5, -7, -8))
    sign = "-" if hours < 0 else "+"
    minutes = r.choice(("00", "00", "30"))
    return f"{sign}{abs(hours):02d}{':' if colon else ''}{minutes}"


def _frac(r: Rng, m: _Moment, sep: str = ".") -> str:
    digits = r.choice((0, 3, 3, 6, 9))
    return "" if digits == 0 else sep + f"{m.micro:06d}{r.randrange(1000):03d}"[:digits]


def ts_iso(r: Rng) -> str:
    """ISO 8601 / RFC 3339: ``2024-01-02T03:04:05.123+01:00``, ``...05Z``, ``...05.123456``."""
    m = _Moment(r)
    tz = _tz(r, colon=r.random() < 0.8) if r.random() < 0.85 else ""
    return f"{m.date}T{m.time}{_frac(r, m)}{tz}"


def ts_date_time(r: Rng) -> str:
    """``2024-01-02 03:04:05,123`` (log4j/Python) or ``.123`` or no fraction."""
    m = _Moment(r)
    return f"{m.date} {m.time}{_frac(r, m, r.choice(',.'))}"


def ts_syslog(r: Rng) -> str:
    """RFC 3164: ``Jan  2 03:04:05`` (day space-padded) or journald's ``Jan 02 03:04:05.123456``."""
    m = _Moment(r)
    if r.random() < 0.3:
        return f"{m.mon} {m.day:02d} {m.time}{'.' + f'{m.micro:06d}' if r.random() < 0.4 else ''}"
    return f"{m.mon} {m.day:2d} {m.time}"


def ts_apache(r: Rng) -> str:
    """Common Log Format: ``10/Oct/2000:13:55:36 -0700``."""
    m = _Moment(r)
    return f"{m.day:02d}/{m.mon}/{m.year}:{m.time} {_tz(r, colon=False).replace('Z', '+0000')}"


def ts_slash(r: Rng) -> str:
    """Go log / nginx: ``2024/01/02 03:04:05`` with an optional fraction."""
    m = _Moment(r)
    return f"{m.year}/{m.month:02d}/{m.day:02d} {m.time}{_frac(r, m) if r.random() < 0.4 else ''}"


def ts_ctime(r: Rng) -> str:
    """ctime / Apache error log: ``Tue Oct 10 13:55:36 2023`` (optionally with microseconds)."""
    m = _Moment(r)
    frac = f".{m.micro:06d}" if r.random() < 0.5 else ""
    return f"{m.dow} {m.mon} {m.day:02d} {m.time}{frac} {m.year}"


def ts_epoch(r: Rng) -> str:
    """Epoch seconds, milliseconds or seconds with a fraction."""
    m = _Moment(r)
    style = r.randrange(3)
    if style == 0:
        return str(m.epoch())
    if style == 1:
        return f"{m.epoch()}{m.micro // 1000:03d}"
    return f"{m.epoch()}.{m.micro:06d}"[: 11 + r.choice((4, 7))]


def ts_clock(r: Rng) -> str:
    """A bare time of day: ``03:04:05,678``, ``03:04:05.678123`` or ``03:04:05``."""
    m = _Moment(r)
    return f"{m.time}{_frac(r, m, r.choice(',.'))}"


def ts_rfc1123(r: Rng) -> str:
    """HTTP date: ``Tue, 02 Jan 2024 03:04:05 GMT``."""
    m = _Moment(r)
    return f"{m.dow}, {m.day:02d} {m.mon} {m.year} {m.time} GMT"


def ts_dmy(r: Rng) -> str:
    """Redis style: ``02 Jan 2024 03:04:05.123``."""
    m = _Moment(r)
    return f"{m.day:02d} {m.mon} {m.year} {m.time}.{m.micro // 1000:03d}"


_COMPACT_FORMATS: tuple[Callable[[_Moment], str], ...] = (
    lambda m: f"{m.year % 100:02d}{m.month:02d}{m.day:02d} {m.hour:2d}:{m.minute:02d}:{m.second:02d}",
    lambda m: f"{m.year}{m.month:02d}{m.day:02d} {m.time}",
    lambda m: f"{m.year % 100:02d}/{m.month:02d}/{m.day:02d} {m.time}",
    lambda m: f"{m.year}{m.month:02d}{m.day:02d}-{m.time}:{m.micro // 1000}",
    lambda m: f"{m.month:02d}.{m.day:02d} {m.time}",
    lambda m: f"{m.date}-{m.hour:02d}.{m.minute:02d}.{m.second:02d}.{m.micro:06d}",
)


def ts_compact(r: Rng) -> str:
    """Compact dates: ``240102  3:04:05`` (old MySQL), ``20240102 03:04:05``, ``17/06/09 20:10:53``,
    ``20240102-03:04:05:123``, ``01.02 03:04:05``, ``2024-01-02-03.04.05.123456``."""
    return r.choice(_COMPACT_FORMATS)(_Moment(r))


_TIMESTAMPS: tuple[Gen, ...] = (
    ts_iso,
    ts_iso,
    ts_date_time,
    ts_date_time,
    ts_syslog,
    ts_apache,
    ts_slash,
    ts_ctime,
    ts_epoch,
    ts_clock,
    ts_rfc1123,
    ts_dmy,
    ts_compact,
)


def ts_any(r: Rng) -> str:
    """A timestamp in any of the formats above."""
    return r.choice(_TIMESTAMPS)(r)


# ---------------------------------------------------------------------------
# Values of variables and header fields
# ---------------------------------------------------------------------------

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"


def _hexs(r: Rng, n: int) -> str:
    return f"{r.getrandbits(4 * n):0{n}x}"


def _ipv4(r: Rng) -> str:
    first = r.choice((10, 10, 172, 192, 127, 8, 34, 52, 100, 203, 91, 185))
    return f"{first}.{r.randrange(256)}.{r.randrange(256)}.{r.randint(1, 254)}"


def _ipv6(r: Rng) -> str:
    style = r.randrange(7)
    if style == 0:
        return "::1"
    if style == 1:
        return f"fe80::{r.randrange(16**4):x}:{r.randrange(16**4):x}%{r.choice(('eth0', 'en0', 'wlan0', 'ens3'))}"
    if style == 2:
        return f"fe80::{r.randrange(1, 16**2):x}"
    if style == 3:
        return f"::ffff:{_ipv4(r)}"
    groups = [f"{r.randrange(16**4):x}" for _ in range(8)]
    if style == 4:
        return ":".join(groups)
    head = r.choice(("2001:db8", "2a02:6b8", "2606:4700", "fd00"))
    return f"{head}:{groups[0]}::{groups[1]}" if style == 5 else f"{head}::{groups[2]}"


def _port(r: Rng) -> str:
    return str(
        r.choice(
            (
                22,
                80,
                443,
                3306,
                5432,
                6379,
                8080,
                8443,
                9092,
                9200,
                2181,
                27017,
                r.randint(1024, 65535),
                r.randint(32768, 60999),
            )
        )
    )


def _host(r: Rng) -> str:
    style = r.randrange(5)
    if style == 4:
        # Infrastructure inventory names: a device word and a rack/slot id, one value.
        device = r.choice(
            (
                "Switch",
                "Rack",
                "Chassis",
                "Blade",
                "PDU",
                "Router",
                "Core",
                "Edge",
                "ESX",
                "Storage",
                "Gateway",
                "fabric",
                "leaf",
                "spine",
                "ups",
                "Enclosure",
            )
        )
        slot = r.choice(
            (
                str(r.randrange(1, 64)),
                f"{r.randrange(10)}{r.choice('ABNT')}{r.randrange(100):02d}",
                f"{r.choice('ABCD')}{r.randrange(1, 40):02d}",
                f"{r.randrange(1, 9)}{r.choice('ab')}",
            )
        )
        return f"{device}-{slot}"
    if style == 0:
        return r.choice(
            (
                "localhost",
                "web-01",
                "db-primary",
                "cache-2",
                "node7",
                "LabSZ",
                "combo",
                "worker-3f9c",
                "build-agent-12",
                "kafka-0",
                "DESKTOP-7Q2M4KD",
                "raspberrypi",
            )
        )
    if style == 1:
        return f"ip-{r.randrange(256)}-{r.randrange(256)}-{r.randrange(256)}-{r.randrange(256)}"
    tld = r.choice(
        (
            "example.com",
            "internal",
            "svc.cluster.local",
            "prod.example.net",
            "corp.local",
            "eu-west-1.compute.internal",
            "github.com",
            "amazonaws.com",
            "debian.org",
        )
    )
    name = r.choice(("api", "auth", "mail", "db", "redis", "search", "cdn", "registry", "deb", "gateway"))
    return f"{name}{r.choice(('', '-1', '-2', '.eu', str(r.randrange(30))))}.{tld}"


def _hostport(r: Rng) -> str:
    """``ip:port``, ``host:port``, ``[ipv6]:port`` or a listen address such as ``:8080``."""
    address = r.choice((_ipv4(r), _host(r), f"[{_ipv6(r)}]", r.choice(("", "0.0.0.0", "[::]", "localhost"))))
    return f"{address}:{_port(r)}"


def _ip(r: Rng) -> str:
    return _ipv6(r) if r.random() < 0.25 else _ipv4(r)


_WORDS = (
    "users",
    "orders",
    "api",
    "v1",
    "v2",
    "static",
    "images",
    "login",
    "health",
    "metrics",
    "index.html",
    "assets",
    "app.js",
    "favicon.ico",
    "search",
    "items",
    "cart",
    "admin",
    "wp-login.php",
    "robots.txt",
    "download",
    "reports",
    "status",
    "graphql",
    "docs",
)


def _httppath(r: Rng) -> str:
    path = "/" + "/".join(
        r.choice(_WORDS) if r.random() < 0.8 else str(r.randrange(100000)) for _ in range(r.randint(0, 4))
    )
    if r.random() < 0.35:
        params = [
            f"{r.choice(('q', 'page', 'id', 'sort', 'limit', 'token', 'lang', 'utm_source'))}="
            f"{r.choice(('1', '20', 'desc', 'en-US', 'abc%20def', _hexs(r, 8), 'true'))}"
            for _ in range(r.randint(1, 3))
        ]
        path += "?" + "&".join(params)
    return path


def _url(r: Rng) -> str:
    scheme = r.choice(("http", "https", "https", "https", "ws", "grpc", "hdfs", "postgres", "redis"))
    port = f":{_port(r)}" if r.random() < 0.35 else ""
    host = f"[{_ipv6(r)}]" if r.random() < 0.08 else r.choice((_host(r), _host(r), _ipv4(r)))
    auth = r.choice(("user:secret@", "admin@")) if scheme in ("postgres", "redis") and r.random() < 0.5 else ""
    return f"{scheme}://{auth}{host}{port}{_httppath(r)}{'#' + r.choice(_WORDS) if r.random() < 0.05 else ''}"


_DIRS = (
    "usr",
    "lib",
    "var",
    "log",
    "etc",
    "opt",
    "home",
    "srv",
    "tmp",
    "data",
    "app",
    "share",
    "nginx",
    "postgresql",
    "14",
    "main",
    "x86_64-linux-gnu",
    "site-packages",
    "python3.11",
    "node_modules",
    ".cache",
    "conf.d",
    "systemd",
    "system",
    "run",
    "ubuntu",
    "alice",
    "jürgen",
    "releases",
    "v2.3.1",
    "mnt",
    "hadoop",
    "dfs",
    "current",
    "subdir32",
    "docker",
    "overlay2",
)
_FILES = (
    "nginx.conf",
    "access.log",
    "error.log",
    "app.py",
    "main.go",
    "server.js",
    "index.html",
    "libc.so.6",
    "config.yaml",
    "settings.json",
    "pg_hba.conf",
    "my.cnf",
    "id_rsa",
    "data.db",
    "00-default.conf",
    "package.json",
    "requirements.txt",
    "core.1234",
    "blk_1350741653957819140",
    "report 2024.pdf",
    "ファイル.txt",
    "README.md",
    "sshd_config",
    "cert.pem",
    "Dockerfile",
)


def _path(r: Rng) -> str:
    parts = [r.choice(_DIRS) for _ in range(r.randint(0, 4))]
    leaf = r.choice(_FILES) if r.random() < 0.75 else r.choice(_DIRS)
    prefix = r.choice(("/", "/", "/", "./", "../", "~/"))
    return prefix + "/".join(parts + [leaf])


def _winpath(r: Rng) -> str:
    drive = r.choice(("C:", "C:", "D:", r"\\fileserver\share"))
    dirs = r.choice(
        (
            r"Windows\System32",
            r"Program Files\Common Files",
            r"Program Files (x86)\Steam",
            r"Users\Alice\AppData\Local\Temp",
            r"Windows\WinSxS",
            r"ProgramData\Microsoft",
            r"inetpub\wwwroot",
            r"Windows\servicing\Packages",
            r"Users\Public\Documents",
        )
    )
    leaf = r.choice(
        (
            "kernel32.dll",
            "svchost.exe",
            "setup.log",
            "CBS.log",
            "web.config",
            "x",
            "msedge.exe",
            "update.mum",
            "New Text Document.txt",
            "ntdll.dll",
        )
    )
    return f"{drive}\\{dirs}\\{leaf}"


def _uuid(r: Rng) -> str:
    return f"{_hexs(r, 8)}-{_hexs(r, 4)}-4{_hexs(r, 3)}-{r.choice('89ab')}{_hexs(r, 3)}-{_hexs(r, 12)}"


def _hex(r: Rng) -> str:
    width = r.choice((1, 2, 4, 8, 8, 12, 16))
    text = _hexs(r, width)
    return "0x" + (text.upper() if r.random() < 0.25 else text)


def _int(r: Rng) -> str:
    return str(
        r.choice((r.randrange(10), r.randrange(100), r.randrange(10_000), r.randrange(10**7), r.randrange(10**10)))
    )


def _neg(r: Rng) -> str:
    return f"-{r.randint(1, r.choice((9, 100, 10_000)))}"


def _decimal(r: Rng) -> str:
    value = r.uniform(-50, 5000) if r.random() < 0.2 else r.uniform(0, 1000)
    return f"{value:.{r.choice((1, 2, 3, 6))}f}"


def _exp(r: Rng) -> str:
    mantissa = f"{r.uniform(1, 9.99):.{r.randint(1, 4)}f}"
    exponent = r.randint(-12, 12)
    sign = "-" if exponent < 0 else r.choice(("+", ""))
    return f"{'-' if r.random() < 0.15 else ''}{mantissa}{r.choice('eE')}{sign}{abs(exponent):0{r.choice((1, 2))}d}"


def _number(r: Rng) -> str:
    return r.choice((_int, _int, _int, _neg, _decimal, _decimal, _exp))(r)


def _duration(r: Rng) -> str:
    style = r.randrange(7)
    if style == 0:
        return f"{r.uniform(0.01, 999):.{r.randint(0, 3)}f}ms"
    if style == 1:
        return f"{r.randint(1, 59)}m{r.randint(0, 59)}s"
    if style == 2:
        return f"{r.randint(1, 23)}h{r.randint(0, 59)}m{r.uniform(0, 59):.{r.randint(0, 3)}f}s"
    if style == 3:
        return f"{r.uniform(0, 120):.{r.randint(1, 6)}f}s"
    if style == 4:
        return f"{r.randint(1, 999)}{r.choice(('µs', 'us', 'ns'))}"
    if style == 5:
        # Clock-style elapsed times: ``00:01`` (minutes:seconds), ``1:02:03.456``.
        return f"{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"
    return f"{r.randint(0, 23):{r.choice(('02d', 'd'))}}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}" + r.choice(
        ("", "", f".{r.randint(0, 999):03d}")
    )


def _size(r: Rng) -> str:
    unit = r.choice(("B", "KB", "kB", "MB", "GB", "KiB", "MiB", "GiB", "TiB", "K", "M", "G"))
    number = r.choice((str(r.randint(1, 4096)), f"{r.uniform(0.1, 999):.{r.randint(1, 2)}f}"))
    return number + unit


def _thousands(r: Rng) -> str:
    return f"{r.randint(1, 99_999):,}"


def _pct(r: Rng) -> str:
    return f"{r.uniform(0, 100):.{r.randint(0, 2)}f}%"


def _pct_number(r: Rng) -> str:
    # A percentage whose "%" the format string prints as a literal ("%.1f%%"): constant text.
    return _pct(r)[:-1]


def _mac(r: Rng) -> str:
    return ":".join(_hexs(r, 2) for _ in range(6))


def _version(r: Rng) -> str:
    core = f"{r.randint(0, 12)}.{r.randint(0, 40)}.{r.randint(0, 30)}"
    return r.choice((core, core, "v" + core, core + r.choice(("-rc1", "-beta.2", "+build.7", ".post1"))))


def _debver(r: Rng) -> str:
    core = f"{r.randint(0, 3)}.{r.randint(0, 40)}.{r.randint(0, 12)}"
    epoch = f"{r.randint(1, 2)}:" if r.random() < 0.2 else ""
    rev = r.choice(("-1", "-9", "-1~deb12u2", "-2ubuntu0.1", "-1.1", "+dfsg-3", "-4+deb12u4", "-0ubuntu1~22.04.3"))
    return epoch + core + rev


def _pkg_arch(r: Rng) -> str:
    # dpkg and APT print a package as one value, name:arch (dpkg's pkg_name(pkg, pnaw_always),
    # APT's FullName()), as corpus/formats/dpkg.yaml and the 27-program annotations label it.
    return f"{VALUES['pkg'](r)}:{VALUES['arch'](r)}"


def _deb_file(r: Rng) -> str:
    # APT's "Preparing to unpack" prints the archive's shortened path with one %s.
    return f".../{VALUES['small'](r)}-{VALUES['pkg'](r)}_{_debver(r)}_{VALUES['arch'](r)}.deb"


def _srcline(r: Rng) -> str:
    name = r.choice(
        (
            "main.go",
            "server.go",
            "handler.go",
            "controller.go",
            "app.py",
            "views.py",
            "taskinstance.py",
            "index.js",
            "Main.java",
            "kubelet.go",
            "reflector.go",
            "StorageService.java",
            "connection.rb",
            "worker.rs",
            "pool.c",
        )
    )
    prefix = r.choice(("", "", "server/", "internal/api/", "pkg/controller/", "k8s.io/client-go/tools/cache/"))
    return f"{prefix}{name}:{r.randint(1, 2400)}"


def _thread(r: Rng) -> str:
    """A thread name as Java/Python loggers print it (may hold spaces, ``|`` or ``(``)."""
    return r.choice(
        (
            "main",
            "main-1",
            f"http-nio-8080-exec-{r.randint(1, 200)}",
            f"pool-{r.randint(1, 9)}-thread-{r.randint(1, 64)}",
            f"worker-{r.randint(0, 31)}",
            f"ForkJoinPool.commonPool-worker-{r.randint(1, 15)}",
            f"grpc-default-executor-{r.randint(0, 9)}",
            f"Thread-{r.randint(0, 300)}",
            "scheduling-1",
            f"kafka-producer-network-thread | producer-{r.randint(1, 5)}",
            "RMI TCP Connection(2)-10.0.0.5",
            "AsyncLogger-1",
            f"Executor task launch worker for task {r.randint(0, 900)}",
        )
    )


_JAVA_PACKAGES = (
    "org.apache.kafka.clients",
    "org.apache.catalina.core",
    "org.springframework.web.servlet",
    "com.zaxxer.hikari.pool",
    "io.netty.channel",
    "org.hibernate.engine.jdbc",
    "com.example.orders.service",
    "org.apache.hadoop.hdfs.server.datanode",
    "org.eclipse.jetty.server",
)
_JAVA_CLASSES = (
    "NetworkClient",
    "StandardWrapperValve",
    "DispatcherServlet",
    "HikariPool",
    "PoolBase",
    "DefaultChannelPipeline",
    "SqlExceptionHelper",
    "OrderService",
    "DataNode",
    "Server",
    "ConsumerCoordinator",
    "ContainerBase",
    "AbstractConnector",
)


def _java_logger(r: Rng) -> str:
    pkg, cls = r.choice(_JAVA_PACKAGES), r.choice(_JAVA_CLASSES)
    if r.random() < 0.15:
        cls += "$" + r.choice(("Inner", "Worker", "1", "Sender", "PacketResponder"))
    if r.random() < 0.2:
        pkg = ".".join(part[0] for part in pkg.split("."))
    return f"{pkg}.{cls}"


def _java_frame(r: Rng) -> str:
    method = r.choice(
        (
            "invoke",
            "run",
            "doFilter",
            "lambda$main$0",
            "<init>",
            "handleRequest",
            "poll",
            "execute",
            "channelRead",
            "getConnection",
        )
    )
    return f"{_java_logger(r)}.{method}"


def _java_source(r: Rng) -> str:
    if r.random() < 0.15:
        return r.choice(("Native Method", "Unknown Source"))
    return f"{r.choice(_JAVA_CLASSES)}.java:{r.randint(20, 2000)}"


def _sha(r: Rng) -> str:
    return _hexs(r, r.choice((7, 12, 40, 64)))


def _container(r: Rng) -> str:
    return _hexs(r, r.choice((12, 64)))


def _pod(r: Rng) -> str:
    base = r.choice(("coredns", "nginx-deployment", "api-server", "redis-master", "kube-proxy", "web"))
    return f"{base}-{_hexs(r, r.choice((9, 10)))}-{''.join(r.choice(_ALNUM) for _ in range(5))}"


def _image(r: Rng) -> str:
    return r.choice(
        (
            "docker.io/library/nginx:1.25.3",
            "registry.k8s.io/pause:3.9",
            "ghcr.io/acme/api:v2.3.1",
            "quay.io/prometheus/node-exporter:v1.7.0",
            "postgres:16-alpine",
            f"redis@sha256:{_hexs(r, 64)}",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:latest",
        )
    )


def _email(r: Rng) -> str:
    local = r.choice(("alice", "bob.smith", "ops+alerts", "noreply", "j_doe"))
    return f"{local}@{r.choice(('example.com', 'mail.corp.local', 'gmail.com'))}"


def _sql(r: Rng) -> str:
    table = r.choice(("users", "orders", "public.accounts", "sessions", "line_items"))
    return r.choice(
        (
            f"SELECT * FROM {table} WHERE id = $1",
            f"SELECT id, name FROM {table} WHERE created_at > now() - interval '1 day' LIMIT 50",
            f"UPDATE {table} SET status = 'paid' WHERE id = {r.randint(1, 99999)}",
            f"INSERT INTO {table} (id, email) VALUES ($1, $2)",
            "BEGIN",
            "COMMIT",
            f"DELETE FROM {table} WHERE expires_at < NOW()",
            "VACUUM ANALYZE",
        )
    )


def _guid(r: Rng) -> str:
    text = _uuid(r).upper()
    return "{" + text + "}" if r.random() < 0.6 else text


def _sid(r: Rng) -> str:
    if r.random() < 0.4:
        return r.choice(("S-1-5-18", "S-1-5-19", "S-1-5-32-544"))
    domain = "-".join(str(r.randint(10**8, 4 * 10**9)) for _ in range(3))
    return f"S-1-5-21-{domain}-{r.randint(500, 2000)}"


VALUES: dict[str, Gen] = {
    # Timestamps.
    "ts": ts_any,
    "iso": ts_iso,
    "datetime": ts_date_time,
    "syslogts": ts_syslog,
    "apachets": ts_apache,
    "slashts": ts_slash,
    "ctime": ts_ctime,
    "epoch": ts_epoch,
    "clock": ts_clock,
    "httpdate": ts_rfc1123,
    "dmyts": ts_dmy,
    "compactts": ts_compact,
    # Numbers and identifiers.
    # Identifiers as values: snake_case names (modules, functions, job kinds) and prefixed ids.
    "ident": lambda r: r.choice(
        (
            "_".join(
                r.sample(
                    (
                        "switch",
                        "module",
                        "task",
                        "runner",
                        "max",
                        "retries",
                        "job",
                        "queue",
                        "io",
                        "node",
                        "state",
                        "change",
                        "ctrl",
                        "disk",
                        "pool",
                        "worker",
                        "read",
                        "write",
                    ),
                    r.randint(2, 3),
                )
            ),
            f"{r.choice(('job', 'attempt', 'task', 'container', 'app', 'run', 'blk'))}_{r.randint(10**6, 10**13)}"
            f"_{r.randint(1, 9999):04d}",
        )
    ),
    # Component or tag names of a header (Android tags, app modules): CamelCase words, sometimes
    # joined by "_", "-" or "." (``Step_StandReportReceiver``): one header value, so O.
    "component": lambda r: r.choice(("_", "", "-", ".")).join(
        "".join(
            w.capitalize() if r.random() < 0.8 else w.upper()
            for w in r.sample(
                (
                    "step",
                    "stand",
                    "report",
                    "receiver",
                    "sensor",
                    "service",
                    "manager",
                    "activity",
                    "window",
                    "power",
                    "sync",
                    "adapter",
                    "worker",
                    "pool",
                    "cache",
                    "ext",
                    "sdm",
                    "lsc",
                    "sp",
                    "utils",
                    "hw",
                    "bt",
                    "wifi",
                    "scheduler",
                    "monitor",
                    "daemon",
                    "store",
                    "audio",
                    "net",
                    "stat",
                ),
                r.randint(1, 3),
            )
        )
        for _ in range(r.randint(1, 2))
    ),
    # A field's "no value" placeholder (access logs, alert flags): a value, so O.
    "flag": _pick("-", "-", "-", "--", "*", "N/A", "?"),
    "int": _int,
    "small": lambda r: str(r.randint(0, 20)),
    "neg": _neg,
    "decimal": _decimal,
    "exp": _exp,
    "number": _number,
    "pct": _pct,
    "pctnum": _pct_number,
    # PostgreSQL quotes a constraint's name, one value ("%s"), here its default name.
    "pkey": lambda r: VALUES["table"](r) + "_pkey",
    # The program path (my_progname) is one value, as in corpus/formats/mariadb.yaml.
    "mysqld": lambda r: "/usr/sbin/mysqld",
    # Apache's server description (ap_get_server_description) and command line, one %s each.
    "apachedesc": lambda r: f"Apache/{VALUES['version'](r)} (Debian) OpenSSL/{VALUES['version'](r)}",
    "apachecmd": lambda r: "/usr/sbin/apache2",
    # sshd prints a key's fingerprint with one %s, its hash name included.
    "fingerprint": lambda r: "SHA256:" + VALUES["sha"](r),
    # sudo's "TTY=%s" and cron's "CMD (%s)": the tty name and the command line are one value.
    "tty": lambda r: "pts/" + VALUES["small"](r),
    "croncmd": lambda r: VALUES["path"](r) + " > /dev/null 2>&1",
    # BIND formats a socket address as one string, address#port (isc_sockaddr_format).
    "sockaddr": lambda r: VALUES["ipv4"](r) + "#" + VALUES["port"](r),
    # APT's history.log "Commandline: %s".
    "aptcmd": lambda r: "apt-get install -y " + VALUES["pkg"](r),
    "hex": _hex,
    "sha": _sha,
    "uuid": _uuid,
    "pid": lambda r: str(r.randint(1, 65535)),
    "thousands": _thousands,
    "count": lambda r: str(r.randint(0, 5000)),
    "guid": _guid,
    "sid": _sid,
    "reqid": lambda r: r.choice(
        (
            _uuid(r),
            "req-" + _hexs(r, 12),
            _hexs(r, 32),
            "".join(r.choice("0123456789ABCDEFGHJKMNPQRSTVWXYZ") for _ in range(26)),
        )
    ),
    "duration": _duration,
    "size": _size,
    "version": _version,
    "mac": _mac,
    # Network.
    "ipv4": _ipv4,
    "ipv6": _ipv6,
    "ip": _ip,
    "port": _port,
    "host": _host,
    "hostport": _hostport,
    "url": _url,
    "httppath": _httppath,
    "email": _email,
    "method": _pick("GET", "GET", "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"),
    "status": _pick(
        "200", "200", "200", "201", "204", "301", "302", "304", "400", "401", "403", "404", "429", "500", "502", "503"
    ),
    "proto": _pick("HTTP/1.1", "HTTP/1.1", "HTTP/2.0", "HTTP/1.0", "HTTP/2"),
    # A media type is one header value, its parameters included.
    "mime": _pick(
        "text/html; charset=utf-8",
        "text/plain; charset=utf-8",
        "application/json",
        "image/png",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=----7MA4YWxkTrZu0gW",
    ),
    # DNS tools print a name fully qualified, its root dot part of the name.
    "fqdn": lambda r: _host(r) + ".",
    "rrtype": _pick("A", "A", "AAAA", "MX", "TXT", "PTR", "NS", "SOA", "CNAME", "SRV"),
    "ua": _pick(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "curl/8.5.0",
        "python-requests/2.31.0",
        "Go-http-client/1.1",
        "kube-probe/1.28",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "Prometheus/2.48.1",
        "-",
    ),
    "referer": lambda r: r.choice(("-", "-", _url(r))),
    "iface": _pick("eth0", "ens3", "wlan0", "lo", "docker0", "enp0s31f6", "br-3f9c2a1b"),
    # Files and code.
    "path": _path,
    "winpath": _winpath,
    "srcline": _srcline,
    "thread": _thread,
    "logger": _java_logger,
    "frame": _java_frame,
    "javasrc": _java_source,
    "pylogger": _pick(
        "root",
        "django.request",
        "uvicorn.error",
        "uvicorn.access",
        "sqlalchemy.engine.Engine",
        "myapp.db.pool",
        "celery.worker.strategy",
        "airflow.task",
        "urllib3.connectionpool",
        "app",
        "__main__",
        "botocore.credentials",
        "asyncio",
        "werkzeug",
    ),
    "file": _pick(*_FILES),
    "func": _pick("main", "handle_request", "run", "connect", "ServeHTTP", "process_batch", "<module>", "__init__"),
    "javaexc": _pick(
        "java.lang.NullPointerException",
        "java.io.IOException",
        "java.net.SocketTimeoutException",
        "org.apache.kafka.common.errors.TimeoutException",
        "java.lang.IllegalStateException",
        "java.sql.SQLTransientConnectionException",
        "java.lang.OutOfMemoryError",
    ),
    "pyexc": _pick(
        "ValueError",
        "KeyError",
        "ConnectionResetError",
        "TimeoutError",
        "RuntimeError",
        "requests.exceptions.ConnectionError",
        "psycopg2.OperationalError",
        "FileNotFoundError",
    ),
    # Accounts, units, packages, containers.
    "user": _pick(
        "root",
        "admin",
        "alice",
        "bob",
        "deploy",
        "www-data",
        "postgres",
        "ubuntu",
        "jenkins",
        "git",
        "nobody",
        "svc_backup",
        "j.smith",
        "josé",
        "test123",
        "oracle",
        "pi",
        "-",
    ),
    "uid": lambda r: str(r.choice((0, 33, 1000, 1001, 65534, r.randint(100, 60000)))),
    "unit": _pick(
        "nginx.service",
        "ssh.service",
        "docker.service",
        "apt-daily.timer",
        "session-12.scope",
        "user@1000.service",
        "systemd-journald.service",
        "cron.service",
        "snap.lxd.daemon.service",
        "postgresql@16-main.service",
        "logrotate.timer",
        "dev-sda1.device",
    ),
    "proc": _pick(
        "sshd",
        "CRON",
        "kernel",
        "systemd",
        "dhclient",
        "NetworkManager",
        "postfix/smtpd",
        "sudo",
        "dockerd",
        "containerd",
        "kubelet",
        "nginx",
        "su",
        "rsyslogd",
        "systemd-resolved",
        "named",
    ),
    "pkg": _pick(
        "libssl3",
        "openssl",
        "libc6",
        "nginx",
        "tzdata",
        "python3.11",
        "curl",
        "libcurl4",
        "linux-image-6.1.0-17-amd64",
        "ca-certificates",
        "git",
        "postgresql-16",
        "libsystemd0",
        "vim-common",
    ),
    "debver": _debver,
    "pkgarch": _pkg_arch,
    "debfile": _deb_file,
    "arch": _pick("amd64", "amd64", "all", "arm64", "i386"),
    "suite": _pick("bookworm/main", "bookworm-updates/main", "jammy/universe", "bookworm-security/main", "noble/main"),
    "pypkg": _pick(
        "requests",
        "urllib3",
        "numpy",
        "Django",
        "charset-normalizer",
        "idna",
        "certifi",
        "typing_extensions",
        "pydantic-core",
        "zope.interface",
        "ruamel.yaml",
    ),
    "pyreq": lambda r: r.choice(
        (
            "requests==2.31.0",
            "urllib3<3,>=1.21.1",
            "numpy>=1.24",
            "idna<4,>=2.5",
            "Django~=4.2",
            "pydantic[email]",
            "charset-normalizer<4,>=2",
            f"certifi>={r.randint(2017, 2024)}.4.17",
        )
    ),
    "wheel": _pick(
        "requests-2.31.0-py3-none-any.whl",
        "numpy-1.26.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "urllib3-2.1.0-py3-none-any.whl",
        "Django-4.2.9.tar.gz",
        "pydantic_core-2.14.6-cp312-none-win_amd64.whl",
    ),
    "npmpkg": _pick(
        "inflight@1.0.6",
        "glob@7.2.3",
        "@babel/core@7.23.7",
        "rimraf@3.0.2",
        "lodash@4.17.21",
        "@types/node@20.10.6",
        "uuid@3.4.0",
        "request@2.88.2",
    ),
    "pod": _pod,
    "namespace": _pick("default", "kube-system", "monitoring", "ingress-nginx", "prod", "cert-manager"),
    "podref": lambda r: f"{VALUES['namespace'](r)}/{_pod(r)}",
    "image": _image,
    "container": _container,
    "node": _pick("node-1", "ip-10-0-3-17.eu-west-1.compute.internal", "worker-a", "minikube"),
    # Databases.
    "db": _pick("postgres", "app_production", "mydb", "orders", "template1", "analytics"),
    "table": _pick("users", "orders", "public.accounts", "sessions", "pg_catalog.pg_class", "line_items"),
    "sql": _sql,
    "sqlstate": _pick("23505", "42P01", "40001", "57014", "08006", "42703"),
    "myerr": lambda r: f"MY-{r.randint(10000, 13999):06d}",
    # Words.
    "scheme": _pick("http", "https", "https"),
    "key": _pick("max_connections", "timeout", "shared_buffers", "log_level", "retries", "cache.size", "listen_addr"),
    "word": _pick("ok", "failed", "timeout", "canceled", "success", "pending", "degraded", "true", "false", "none"),
    "topic": _pick("orders", "events.v1", "logs-raw", "__consumer_offsets", "payments-dlq"),
    "region": _pick("us-east-1", "eu-west-1", "ap-southeast-2"),
    "s3url": lambda r: (
        f"s3://{r.choice(('my-bucket', 'logs-archive-2024', 'backups.example.com'))}"
        f"/{r.choice(_DIRS)}/{r.choice(_FILES)}"
    ),
    "kb": lambda r: f"KB{r.randint(2_000_000, 5_100_000)}",
    "device": _pick("sda1", "nvme0n1p2", "dm-0", "vda", "sdb", "md0", "loop3"),
    "signal": _pick("SIGTERM", "SIGKILL", "SIGHUP", "SIGSEGV", "SIGINT", "15", "9"),
}


# ---------------------------------------------------------------------------
# Event templates (constant text + variables)
# ---------------------------------------------------------------------------

_APP_MESSAGES = (
    "Starting server on {hostport}",
    "Listening on {url}",
    "listening on {hostport} (pid {pid})",
    "Server started in {duration}",
    "Connected to database at {hostport}",
    "Connection from {ip} port {port}",
    "connection reset by peer: {hostport}",
    "Failed to connect to {hostport}: connection refused",
    "dial tcp {hostport}: i/o timeout",
    "user {user} logged in from {ip}",
    "User {email} authenticated via {word}",
    "Loaded {count} rules from {path}",
    "Reading configuration from {path}",
    "Reloading config file {path}",
    "Opened database {path} (size {size})",
    "cache miss for key {reqid}, fetching from {url}",
    "retrying in {duration} (attempt {small}/{small})",
    "request {reqid} completed in {duration}",
    "{method} {httppath} -> {status} ({duration})",
    "{method} {httppath} returned {status} in {duration}",
    "worker {thread} started with pid {pid}",
    "Job {uuid} finished with status {word} after {duration}",
    "Uploaded {size} to {s3url}",
    'invalid value "{word}" for parameter {key}',
    "checksum mismatch: expected {sha} got {sha}",
    "memory usage {size} of {size} ({pct})",
    "GC pause {duration}, heap {size}->{size}",
    "Resolved {host} to {ipv6}",
    "Binding to [{ipv6}]:{port}",
    "peer {hostport} disconnected after {duration}",
    "temperature {decimal}C exceeds threshold {decimal}C",
    "learning rate={exp} loss={decimal} step={int}",
    "Processed {thousands} records in {duration} ({decimal} rec/s)",
    "offset {int} committed for partition {small} of topic {topic}",
    "Rebalancing consumer group, generation {int}, members={small}",
    "Health check passed for {url}",
    "Health check failed: {url} returned {status}",
    "Scheduled task {func} took {duration}",
    "Cleaned up {count} expired sessions",
    "Received signal {signal}, shutting down",
    "Shutdown complete.",
    "Token for {user} expires at {iso}",
    "Writing snapshot to {path} ({size})",
    "Loaded file {winpath} ({size})",
    "Mounted {device} on {path}",
    "Balance adjusted by {neg} to {decimal}",
    "value out of range: {number} (min {neg}, max {int})",
    "Found {small} nodes: {ip}, {ip}, {ip}",
    "Certificate for {host} expires in {int} days",
    "Queue {topic} depth={int} lag={int}",
    "Session {hex} opened for {user}@{host}",
    "Container {container} exited with code {small}",
    'Pulling image "{image}"',
    "Rate limit exceeded for {ip}: {int} requests in {duration}",
    "Saved {thousands} bytes to {path}",
    "Trace {sha} span {hex} sampled",
    "Migrating {table}: {pct} done",
    "Unhandled exception in {func}: {pyexc}",
    "Sending heartbeat to {url}",
    "Timeout after {duration} waiting for lock on {path}",
    "ConnectionPool.acquire: waited {duration} for a connection to {hostport}",
    "SessionManager.expire() removed {count} sessions",
    "HttpClient.send failed after {small} retries: {errmsg}",
    "Cache.get({reqid}) -> miss",
    "Is {host} reachable? ping took {duration}",
    "Config loaded. Using {small} workers.",
    "BlockManager.removeBlock: block {sha} not found on {hostport}.",
    "Scheduler.tick(): {count} jobs due, {count} running, next at {clock}",
)

_ERROR_MESSAGES = (
    "dial tcp {hostport}: connect: connection refused",
    "context deadline exceeded",
    "open {path}: no such file or directory",
    "read tcp {hostport}->{hostport}: read: connection reset by peer",
    "unexpected EOF",
    "permission denied: {path}",
    "x509: certificate has expired or is not yet valid",
    "invalid character '{word}' looking for beginning of value",
    "lookup {host} on {ip}:53: no such host",
    'pq: duplicate key value violates unique constraint "{pkey}"',
)

_SYSLOG_MESSAGES = (
    "Accepted publickey for {user} from {ip} port {port} ssh2: RSA {fingerprint}",
    "Accepted password for {user} from {ip} port {port} ssh2",
    "Failed password for invalid user {user} from {ip} port {port} ssh2",
    "Invalid user {user} from {ip} port {port}",
    "Received disconnect from {ip} port {port}:11: Bye Bye [preauth]",
    "Disconnected from authenticating user {user} {ip} port {port} [preauth]",
    "pam_unix(sshd:session): session opened for user {user}(uid={uid}) by (uid=0)",
    "pam_unix(cron:session): session closed for user {user}",
    "({user}) CMD ({croncmd})",
    "{user} : TTY={tty} ; PWD={path} ; USER=root ; COMMAND={path}",
    "DHCPACK of {ipv4} from {ipv4}",
    "DHCPREQUEST for {ipv4} on {iface} to {ipv4} port 67",
    "Started {unit} - Daily apt download activities.",
    "Started Session {int} of User {user}.",
    "Stopped {unit}.",
    "{unit}: Deactivated successfully.",
    "{unit}: Consumed {duration} CPU time.",
    "{unit}: Main process exited, code=exited, status={small}/FAILURE",
    "New session {int} of user {user}.",
    "Removed session {int}.",
    "[UFW BLOCK] IN={iface} OUT= MAC={mac} SRC={ipv4} DST={ipv4} LEN={int} TTL={small} ID={int} PROTO=TCP SPT={port} DPT={port}",
    "Out of memory: Killed process {pid} ({proc}) total-vm:{int}kB, anon-rss:{int}kB",
    "EXT4-fs ({device}): mounted filesystem with ordered data mode. Quota mode: none.",
    "{iface}: Link is Up - {int}Mbps/Full - flow control off",
    "connect from unknown[{ipv4}]",
    "client {sockaddr} ({host}): query: {host} IN A + ({ipv4})",
    "[{fqdn}] zone file parsed, serial {int}",
    "query {fqdn} {rrtype} IN from {ip}",
    "answer: {fqdn} {int} IN {rrtype} {ipv4}",
    "validation failure <{fqdn} {rrtype} IN>: no signatures from {ip}",
    "Reloading.",
    "error: kex_exchange_identification: Connection closed by remote host",
    "Server listening on {ip} port {port}.",
    'audit: type=1400 audit({epoch}:{int}): apparmor="DENIED" operation="open" profile="{path}" name="{path}" pid={pid}',
)

_KERNEL_MESSAGES = (
    "usb {small}-{small}: new high-speed USB device number {small} using xhci_hcd",
    "Linux version {version}-{small}-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0)",
    "EXT4-fs ({device}): re-mounted. Quota mode: none.",
    "e1000e {int}:00:1f.6 {iface}: NIC Link is Up 1000 Mbps Full Duplex",
    "Memory: {int}K/{int}K available ({int}K kernel code)",
    "ACPI: PM-Timer IO Port: {hex}",
    "{proc}[{pid}]: segfault at {hex} ip {hex} sp {hex} error {small} in {file}[{hex}+{hex}]",
    "CPU{small}: Core temperature above threshold, cpu clock throttled (total events = {int})",
    "nvme nvme0: I/O {int} QID {small} timeout, reset controller",
    "audit: type=1130 audit({epoch}:{int}): pid=1 uid=0 msg='unit={unit} res=success'",
)

_JAVA_MESSAGES = (
    "Started Application in {decimal} seconds (process running for {decimal})",
    "Tomcat started on port(s): {port} (http) with context path ''",
    "Initializing Spring DispatcherServlet 'dispatcherServlet'",
    "HikariPool-{small} - Start completed.",
    "HikariPool-{small} - Connection is not available, request timed out after {int}ms.",
    "[Consumer clientId=consumer-{small}, groupId={topic}] Resetting offset for partition {topic}-{small} to position FetchPosition{{offset={int}, offsetEpoch=Optional.empty}}.",
    "[Producer clientId=producer-{small}] Node {neg} disconnected.",
    "Servlet.service() for servlet [dispatcherServlet] threw exception",
    "SQL Error: {int}, SQLState: {sqlstate}",
    "Completed initialization in {int} ms",
    "Fetching data from {url} failed with status {status}",
    "Processing order {uuid} for customer {int}",
    "Cache {word} hit ratio {decimal}",
    "{javaexc}: {errmsg}",
)

_PYTHON_MESSAGES = (
    "Starting new HTTPS connection (1): {host}:{port}",
    '{scheme}://{host}:{port} "{method} {httppath} {proto}" {status} {count}',
    "Task {func}[{uuid}] succeeded in {decimal}s: None",
    "Received task: {func}[{uuid}]",
    "Dependencies all met for <TaskInstance: {func}.{func} {iso} [queued]>",
    "Marking task as SUCCESS. dag_id={func}, task_id={func}, execution_date={iso}",
    "Internal Server Error: {httppath}",
    "Watching for file changes with StatReloader",
    "Booting worker with pid: {pid}",
    "Found credentials in environment variables.",
    "{pyexc}: {errmsg}",
    "Application startup complete.",
    "Uvicorn running on {url} (Press CTRL+C to quit)",
)

_PYTHON_SERVICE_MESSAGES = _PYTHON_MESSAGES + _APP_MESSAGES

_WINDOWS_MESSAGES = (
    "The {word} service entered the running state.",
    "The Windows Modules Installer service entered the stopped state.",
    "An account was successfully logged on. Subject: Security ID: {sid} Logon Type: {small}",
    "Installation Successful: Windows successfully installed the following update: {kb}",
    "Faulting application name: {file}, version: {version}, time stamp: {hex}",
    "Loaded Servicing Stack v{version} with Core: {winpath}",
    "Session: {int}_{int} initialized by client WindowsUpdateAgent.",
    "Failed to get next element [HRESULT = {hex} - CBS_E_MANIFEST_INVALID_ITEM]",
    "Read out cached package applicability for package: Package_for_{kb}~31bf3856ad364e35~amd64~~{version}, ApplicableState: {int}, CurrentState:{int}",
    "Registry key {guid} opened under HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
    "The driver {winpath} failed to load for the device {guid}.",
    "Application popup: {file} - System Error : {errmsg}",
)

_POSTGRES_MESSAGES = (
    "database system is ready to accept connections",
    'listening on IPv4 address "{ipv4}", port {port}',
    'listening on IPv6 address "{ipv6}", port {port}',
    "checkpoint starting: time",
    "checkpoint complete: wrote {int} buffers ({pctnum}%); {small} WAL file(s) added, {small} removed, {small} recycled; write={decimal} s, sync={decimal} s, total={decimal} s",
    "duration: {decimal} ms  statement: {sql}",
    "duration: {decimal} ms",
    'relation "{table}" does not exist at character {int}',
    "connection authorized: user={user} database={db} application_name={func}",
    "connection received: host={ip} port={port}",
    "could not receive data from client: Connection reset by peer",
    'automatic vacuum of table "{db}.{table}": index scans: {small}',
    "deadlock detected",
    "terminating connection due to administrator command",
)

_MYSQL_MESSAGES = (
    "{mysqld} (mysqld {version}) starting as process {pid}",
    "InnoDB initialization has started.",
    "InnoDB: Buffer pool(s) load completed at {compactts}",
    "CA certificate ca.pem is self signed.",
    "Access denied for user '{user}'@'{ip}' (using password: YES)",
    "Aborted connection {int} to db: '{db}' user: '{user}' host: '{ip}' (Got timeout reading communication packets)",
    "X Plugin ready for connections. Bind-address: '{ip}' port: {port}, socket: {path}",
    "Slave SQL thread initialized, starting replication in log 'mysql-bin.{int}' at position {int}",
)

_KLOG_MESSAGES = (
    '"Successfully synced" pod="{podref}" duration="{duration}"',
    '"Error syncing pod, skipping" err="failed to \\"StartContainer\\"" pod="{podref}"',
    "Watch close - *v1.Pod total {int} items received",
    '"Starting" version="{version}"',
    'Successfully pulled image "{image}" in {duration}',
    "Listening and serving HTTPS on {hostport}",
    'Failed to list *v1.Endpoints: Get "{url}": dial tcp {hostport}: connect: connection refused',
    "Updating ready status of pod {pod} to true",
    "attempting to acquire leader lease {namespace}/kube-controller-manager...",
    '"SyncLoop (PLEG): event for pod" pod="{podref}" event={{ID:{uuid} Type:ContainerStarted Data:{container}}}',
)

_REDIS_MESSAGES = (
    "Ready to accept connections tcp",
    "Server initialized",
    "Background saving started by pid {pid}",
    "DB saved on disk",
    "{int} changes in {int} seconds. Saving...",
    "Redis version={version}, bits=64, commit={sha}, modified=0, pid={pid}, just started",
    "Connection with replica {hostport} lost.",
    "RDB: {int} MB of memory used by copy-on-write",
)

_OPENSTACK_MESSAGES = (
    '{ip} "{method} {httppath} {proto}" status: {status} len: {count} time: {decimal}',
    "[instance: {uuid}] VM Started (Lifecycle Event)",
    "[instance: {uuid}] Took {decimal} seconds to build instance.",
    "[instance: {uuid}] Attempting claim: memory {int} MB, disk {small} GB, vcpus {small} CPU",
    "Total usable vcpus: {small}, total allocated vcpus: {small}",
    "Auditing locally available compute resources for node {host}",
    "Compute_service record updated for {host}:{host}",
    "Running periodic task ComputeManager._poll_unconfirmed_resizes",
    'Acquiring lock "{uuid}" by "nova.compute.manager.{func}"',
    'Lock "compute_resources" released by "{func}" :: held {decimal}s',
)

_ES_MESSAGES = (
    "started",
    "[{node}] version[{version}], pid[{pid}], build[default/tar/{sha}/{iso}], OS[Linux/{version}/amd64]",
    "adding index lifecycle policy [{key}]",
    "[gc][{int}] overhead, spent [{duration}] collecting in the last [{duration}]",
    "updating number_of_replicas to [{small}] for indices [{topic}]",
    "high disk watermark [90%] exceeded on [{uuid}][{node}][{path}] free: {size}[{pct}]",
)


# Words for composed messages: realistic English and code names, recombined so that the
# model sees punctuation in contexts no fixed template list covers.
_NOUNS = (
    "connection",
    "request",
    "session",
    "block",
    "worker",
    "task",
    "job",
    "file",
    "user",
    "packet",
    "query",
    "lease",
    "replica",
    "node",
    "socket",
    "message",
    "container",
    "volume",
    "snapshot",
    "token",
    "partition",
    "segment",
    "index",
    "checkpoint",
    "heartbeat",
    "channel",
    "upstream",
)
_VERBS = (
    "opened",
    "closed",
    "failed",
    "received",
    "sent",
    "started",
    "stopped",
    "accepted",
    "rejected",
    "dropped",
    "created",
    "deleted",
    "updated",
    "flushed",
    "scheduled",
    "expired",
    "retried",
    "committed",
    "timed out",
    "registered",
    "evicted",
    "restored",
    "skipped",
)
_ADJECTIVES = ("stale", "invalid", "new", "pending", "duplicate", "corrupt", "slow", "idle", "unknown", "remote")
_PREPOSITIONS = ("from", "to", "on", "for", "in", "at", "with", "after", "via", "by", "of")
_CODE_CLASSES = _JAVA_CLASSES + ("BlockReceiver", "SessionManager", "ConnectionPool", "LeaseRenewer", "Scheduler")
_CODE_METHODS = ("open", "close", "run", "init", "flush", "handleRequest", "acquire", "release", "sync", "poll")
_VARIABLE_KINDS = (
    "ip",
    "hostport",
    "path",
    "url",
    "int",
    "int",
    "decimal",
    "neg",
    "hex",
    "uuid",
    "duration",
    "size",
    "user",
    "host",
    "version",
    "iso",
    "clock",
    "winpath",
    "email",
    "count",
    "sha",
    "pct",
    "exp",
    "ipv6",
    "thread",
    "pod",
    "reqid",
    "word",
    "mac",
    "table",
    "ident",
    "ident",
)
_CLAUSES = (
    "{Noun} {var} {verb}",
    "{Verb} {noun} {var}",
    "{Noun} {verb} {prep} {var}",
    "{Verb} {noun} {prep} {var}",
    "{Adj} {noun} {var}",
    "{Noun} {verb}",
    "{Adj} {noun} {verb} {prep} {var}",
)
_ATTACHMENTS = (
    ", {key}={var}",
    " ({key}: {var})",
    " [{var}]",
    ": {var}",
    " - {var}",
    "; {key} {var}",
    " {key}={var}",
    " <{var}>",
    " '{var}'",
    ' "{var}"',
    " {key} {var}",
    ", {key}: {var}",
    " ({var})",
    " #{var}",
    " {prep} {var}",
    " -> {var}",
    ", {noun} {var}",
    " {key} = {var}",
    " {key}:{var}",
    ", {key} = {var}",
    " {key}[{var}]",
)
_CODE_PREFIXES = (
    "{cls}.{method}: ",
    "{method}(): ",
    "[{cls}] ",
    "{cls}::{method} ",
    "{cls}#{method} - ",
    "{snake}: ",
    "{cls}.{method}() ",
)
_COMPOSED_SHARE = 0.2  # share of messages composed from words rather than drawn from a template list


def _compose(r: Rng) -> list[Piece]:
    """A message composed from English words, code names and variables, with punctuation between.

    The words are constant text, the ``{kind}`` slots variables; the template is built
    first and rendered like any other, so labels follow the same rules.
    """

    def var() -> str:
        return "{" + r.choice(_VARIABLE_KINDS) + "}"

    words = {
        "noun": r.choice(_NOUNS),
        "verb": r.choice(_VERBS),
        "adj": r.choice(_ADJECTIVES),
        "prep": r.choice(_PREPOSITIONS),
    }
    words.update({key.title(): value.capitalize() if r.random() < 0.6 else value for key, value in words.items()})
    text = r.choice(_CLAUSES).format(var=var(), **words)
    for _ in range(r.choice((0, 1, 1, 2, 3))):
        key, kind = r.choice(_CONTEXT_KEYS)
        text += r.choice(_ATTACHMENTS).format(
            key=key, var="{" + kind + "}", prep=r.choice(_PREPOSITIONS), noun=r.choice(_NOUNS)
        )
    if r.random() < 0.25:
        text = (
            r.choice(_CODE_PREFIXES).format(
                cls=r.choice(_CODE_CLASSES),
                method=r.choice(_CODE_METHODS),
                snake=f"{r.choice(_NOUNS)}_{r.choice(_VERBS).split()[0]}",
            )
            + text
        )
    return render(r, text + r.choice(("", "", "", ".", "!", "...", " ok", " (done)")), kind=VAR)


def _msg(r: Rng, templates: Sequence[str]) -> list[Piece]:
    """Pieces of a random event template from ``templates`` (nested ``{errmsg}`` expanded),
    or now and then a composed message."""
    if r.random() < _COMPOSED_SHARE:
        return _compose(r)
    template = r.choice(templates)
    fields = {"errmsg": render(r, r.choice(_ERROR_MESSAGES), kind=VAR)} if "{errmsg}" in template else None
    return render(r, template, fields, kind=VAR)


# ---------------------------------------------------------------------------
# Structured syntaxes: JSON and logfmt
# ---------------------------------------------------------------------------

JsonValue = str | list[Piece] | dict | tuple
"""A JSON value to write: ``str`` a raw scalar variable (number, bool, null), a list of
pieces a string (quoted, escaped), a dict a nested object, a tuple an array."""


class DataKeys(dict):
    """A JSON object whose keys are data, not the program's constants: an HTTP header map
    (Go's ``http.Header`` as zap prints it), where each name is a value of the request."""


def json_pieces(obj: Mapping[str, JsonValue], spaced: bool) -> list[Piece]:
    """Pieces of a JSON object: its syntax and keys are constant (``DataKeys``: variable), its values variable.

    Args:
        obj: keys to values (see ``JsonValue``).
        spaced: ``{"a": 1, "b": 2}`` when True, compact ``{"a":1,"b":2}`` when False.
    """
    colon, comma = (": ", ", ") if spaced else (":", ",")
    key_kind = VAR if isinstance(obj, DataKeys) else CONST
    pieces: list[Piece] = [("{", CONST)]
    for i, (key, value) in enumerate(obj.items()):
        pieces += [((comma if i else "") + '"', CONST), (_json_escape(key), key_kind), ('"' + colon, CONST)]
        pieces.extend(_json_value(value, spaced))
    pieces.append(("}", CONST))
    return pieces


_JSON_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def json_scalar(value: str) -> JsonValue:
    """A context value as JSON: a bare number when it reads as one, else a string."""
    return value if _JSON_NUMBER.fullmatch(value) else [(value, VAR)]


def _json_value(value: JsonValue, spaced: bool) -> list[Piece]:
    if isinstance(value, str):
        return [(value, VAR)]
    if isinstance(value, dict):
        return json_pieces(value, spaced)
    if isinstance(value, tuple):
        pieces: list[Piece] = [("[", CONST)]
        for i, item in enumerate(value):
            if i:
                pieces.append((", " if spaced else ",", CONST))
            pieces.extend(_json_value(item, spaced))
        return pieces + [("]", CONST)]
    return [('"', CONST)] + _escape(value, _json_escape) + [('"', CONST)]


# Keys of structured logs whose values are the record's header (time, level, source), not its event.
_HEADER_KEYS = frozenset(
    ("time", "ts", "t", "timestamp", "@timestamp", "level", "lvl", "severity", "log.level", "caller", "logger")
)


def logfmt_pieces(r: Rng, items: Sequence[tuple[str, FieldValue]], sep: str = " ") -> list[Piece]:
    """Pieces of ``key=value`` pairs; values with spaces, quotes or ``=`` are quoted.

    A string value is a header field under a header key (time, level, caller), else a
    variable; a list of pieces is a message template (its constant words stay
    constant inside the quotes). Quotes are constant syntax.
    """
    pieces: list[Piece] = []
    for i, (key, value) in enumerate(items):
        kind = FIELD if key in _HEADER_KEYS else VAR
        pieces.append(((sep if i else "") + key + "=", CONST))
        if isinstance(value, list):
            pieces += [('"', CONST)] + _escape(value, _quote_escape) + [('"', CONST)]
        elif value == "" or any(c in value for c in ' "=') or r.random() < 0.05:
            pieces += [('"', CONST), (_quote_escape(value), kind), ('"', CONST)]
        else:
            pieces.append((value, kind))
    return pieces


# Context keys of structured logs and the generator of each value.
_CONTEXT_KEYS: tuple[tuple[str, str], ...] = (
    ("request_id", "reqid"),
    ("user_id", "int"),
    ("remote_addr", "hostport"),
    ("client_ip", "ip"),
    ("duration", "duration"),
    ("latency_ms", "decimal"),
    ("path", "httppath"),
    ("method", "method"),
    ("status", "status"),
    ("bytes", "int"),
    ("peer", "hostport"),
    ("trace_id", "sha"),
    ("span_id", "hex"),
    ("host", "host"),
    ("file", "path"),
    ("count", "count"),
    ("component", "word"),
    ("url", "url"),
    ("user", "user"),
    ("http.status_code", "status"),
    ("k8s.pod", "pod"),
    ("db.statement", "sql"),
    ("attempt", "small"),
    ("offset", "int"),
    ("ratio", "exp"),
    ("delta", "neg"),
    ("version", "version"),
    ("topic", "topic"),
    ("error.kind", "pyexc"),
    ("size", "size"),
    ("elapsed", "duration"),
)


def _context(r: Rng, low: int, high: int) -> list[tuple[str, str]]:
    """A few context ``(key, value)`` pairs, in random order."""
    return [(key, VALUES[gen](r)) for key, gen in r.sample(_CONTEXT_KEYS, r.randint(low, high))]


def _level(r: Rng, style: str) -> str:
    """A level name: ``upper`` INFO, ``lower`` info, ``title`` Info, ``short`` I, ``mixed`` any."""
    name = r.choice(
        (
            "info",
            "info",
            "info",
            "warn",
            "warning",
            "error",
            "debug",
            "trace",
            "fatal",
            "critical",
            "notice",
            "err",
            "crit",
            "panic",
        )
    )
    if style == "mixed":
        style = r.choice(("upper", "lower", "title"))
    return {"upper": name.upper(), "lower": name, "title": name.title(), "short": name[0].upper()}[style]


# ---------------------------------------------------------------------------
# Families: one function per log format, each returning a line's pieces
# ---------------------------------------------------------------------------


def fam_logfmt(r: Rng) -> list[Piece]:
    """Go logrus/slog/docker ``time=... level=info msg="..." key=value``."""
    items: list[tuple[str, FieldValue]] = []
    if r.random() < 0.9:
        items.append((r.choice(("time", "ts", "t")), r.choice((ts_iso, ts_iso, ts_epoch))(r)))
    items.append((r.choice(("level", "lvl", "severity")), _level(r, r.choice(("lower", "upper")))))
    if r.random() < 0.3:
        items.append(("caller", VALUES["srcline"](r)))
    items.append((r.choice(("msg", "message")), _msg(r, _APP_MESSAGES)))
    items.extend(_context(r, 0, 4))
    if r.random() < 0.2:
        items.append(("err", _msg(r, _ERROR_MESSAGES)))
    if r.random() < 0.1:
        r.shuffle(items)
    return logfmt_pieces(r, items)


def fam_jsonlines(r: Rng) -> list[Piece]:
    """JSON-lines loggers (zap, bunyan, pino, structlog, MongoDB, ECS)."""
    obj: dict[str, JsonValue] = {}
    ts_key = r.choice(("ts", "time", "timestamp", "@timestamp", "t"))
    obj[ts_key] = ts_epoch(r) if r.random() < 0.3 else [(ts_iso(r), FIELD)]
    level = _level(r, r.choice(("lower", "upper")))
    level_key = r.choice(("level", "lvl", "severity", "log.level"))
    obj[level_key] = str(r.choice((30, 40, 50))) if r.random() < 0.1 else [(level, FIELD)]
    if r.random() < 0.4:
        obj["logger"] = [(r.choice((VALUES["logger"], VALUES["pylogger"]))(r), FIELD)]
    if r.random() < 0.3:
        obj["caller"] = [(VALUES["srcline"](r), FIELD)]
    obj[r.choice(("msg", "message"))] = _msg(r, _APP_MESSAGES)
    # Some loggers spell their keys in kebab case (etcd's "local-member-id"): still the
    # program's constants, so their hyphens are delimiters, unlike a header map's names.
    kebab = r.random() < 0.25
    for key, value in _context(r, 0, 4):
        obj[key.replace("_", "-") if kebab else key] = json_scalar(value)
    if r.random() < 0.25:
        obj[r.choice(("http", "ctx", "attr"))] = {
            "method": [(VALUES["method"](r), VAR)],
            "status": VALUES["status"](r),
            "ok": r.choice(("true", "false")),
        }
    if r.random() < 0.15:
        obj["tags"] = tuple([(tag, VAR)] for tag in r.sample(("prod", "api", "canary", "eu", "v2"), r.randint(1, 3)))
    if r.random() < 0.2:
        obj.update(_json_http(r))
    if r.random() < 0.1:
        obj["error"] = _msg(r, _ERROR_MESSAGES) if r.random() < 0.7 else "null"
    return json_pieces(obj, spaced=r.random() < 0.3)


# HTTP header names with a value generator: a request's headers as Go servers log them.
_HTTP_HEADERS: tuple[tuple[str, Gen], ...] = (
    ("User-Agent", VALUES["ua"]),
    ("Accept", _pick("*/*", "*/*", "application/json", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")),
    ("Accept-Encoding", _pick("gzip", "gzip, deflate, br", "identity")),
    ("Accept-Language", _pick("en-US,en;q=0.9", "de-DE,de;q=0.8,en;q=0.5")),
    ("Content-Type", VALUES["mime"]),
    ("Content-Length", lambda r: str(r.randint(0, 100_000))),
    ("X-Forwarded-For", VALUES["ipv4"]),
    ("X-Forwarded-Proto", _pick("http", "https")),
    ("X-Request-Id", _uuid),
    ("Date", ts_rfc1123),
    ("Last-Modified", ts_rfc1123),
    ("Cache-Control", _pick("no-cache", "max-age=0", "public, max-age=3600")),
    ("Connection", _pick("keep-alive", "close")),
    ("Etag", lambda r: f'"{r.getrandbits(40):x}"'),
)


def _json_headers(r: Rng) -> DataKeys:
    """An ``http.Header`` map: names are data (the client's), each value a list of strings."""
    return DataKeys((name, ([(gen(r), VAR)],)) for name, gen in r.sample(_HTTP_HEADERS, r.randint(1, 6)))


def _json_http(r: Rng) -> dict[str, JsonValue]:
    """The request fields of a Go HTTP server's JSON log line (Caddy, Traefik, zap middleware)."""
    request: dict[str, JsonValue] = {
        "remote_ip": [(VALUES["ip"](r), VAR)],
        "remote_port": [(VALUES["port"](r), VAR)],
        "proto": [(VALUES["proto"](r), VAR)],
        "method": [(VALUES["method"](r), VAR)],
        "host": [(r.choice((VALUES["host"], VALUES["hostport"]))(r), VAR)],
        "uri": [(VALUES["httppath"](r), VAR)],
        "headers": _json_headers(r),
    }
    fields: dict[str, JsonValue] = {"request": request, "duration": VALUES["decimal"](r)}
    if r.random() < 0.5:
        fields["status"] = VALUES["status"](r)
        fields["size"] = str(r.randint(0, 500_000))
        fields["resp_headers"] = _json_headers(r)
    return fields


def fam_web_access(r: Rng) -> list[Piece]:
    """Apache/nginx common and combined access logs."""
    template = r.choice(
        (
            '{ip} - {user} [{apachets}] "{method} {httppath} {proto}" {status} {bytes}',
            '{ip} - {user} [{apachets}] "{method} {httppath} {proto}" {status} {bytes} "{referer}" "{ua}"',
            '{ip} - {user} [{apachets}] "{method} {httppath} {proto}" {status} {bytes} "{referer}" "{ua}" rt={decimal} uct="{decimal}"',
            '{host}:{port} {ip} - - [{apachets}] "{method} {httppath} {proto}" {status} {bytes} "{referer}" "{ua}"',
        )
    )
    size = str(r.randint(0, 500_000)) if r.random() < 0.9 else "-"
    pieces = render(r, template, {"bytes": size, "user": r.choice(("-", "-", "-", VALUES["user"](r)))})
    # Client, user and time are the header; the request and its outcome are the event's variables.
    request = next(i for i, (text, kind) in enumerate(pieces) if kind == CONST and '"' in text)
    return pieces[:request] + [(text, VAR if kind == FIELD else kind) for text, kind in pieces[request:]]


def fam_nginx_error(r: Rng) -> list[Piece]:
    """nginx error log: ``2024/01/02 03:04:05 [error] 1234#5678: *90 message, client: ...``."""
    message = r.choice(
        (
            'open() "{path}" failed (2: No such file or directory), client: {ip}, server: {host}, request: "{method} {httppath} {proto}", host: "{host}"',
            'connect() failed (111: Connection refused) while connecting to upstream, client: {ip}, server: {host}, request: "{method} {httppath} {proto}", upstream: "{url}", host: "{host}"',
            'upstream timed out (110: Connection timed out) while reading response header from upstream, client: {ip}, server: {host}, upstream: "{url}"',
            "client intended to send too large body: {int} bytes, client: {ip}, server: {host}",
            'using the "epoll" event method',
            "start worker process {pid}",
            "signal {small} ({signal}) received from {pid}, reconfiguring",
            "{int} worker_connections are not enough",
        )
    )
    fields = {"level": r.choice(("error", "warn", "notice", "crit", "info", "alert")), "msg": render(r, message)}
    return render(r, "{slashts} [{level}] {pid}#{small}: " + ("*{int} " if r.random() < 0.6 else "") + "{msg}", fields)


def fam_apache_error(r: Rng) -> list[Piece]:
    """Apache 2.4 error log: ``[Tue Oct 10 13:55:36.123456 2023] [core:error] [pid 1:tid 2] [client ...] AH...: msg``."""
    # ErrorLogFormat "[%-m:%l]": the module and the level are two fields.
    module = r.choice(("core", "ssl", "mpm_event", "proxy", "authz_core", "php7", "cgi"))
    fields: dict[str, FieldValue] = {
        "module": module,
        "level": r.choice(("error", "notice", "warn", "info", "debug")),
        "code": f"AH{r.randint(0, 3999):05d}",
        "msg": _msg(
            r,
            (
                "File does not exist: {path}",
                "client denied by server configuration: {path}",
                # AH00489 and AH00094 print the server's description and command line with one %s.
                "{apachedesc} configured -- resuming normal operations",
                "Command line: '{apachecmd}'",
                "caught SIGTERM, shutting down",
                "Timeout waiting for output from CGI script {path}",
                "script '{path}' not found or unable to stat",
            ),
        ),
    }
    client = "[client {ip}:{port}] " if r.random() < 0.6 else ""
    return render(r, "[{ctime}] [{module}:{level}] [pid {pid}:tid {int}] " + client + "{code}: {msg}", fields)


def fam_postgres(r: Rng) -> list[Piece]:
    """PostgreSQL server log with common ``log_line_prefix`` shapes."""
    prefix = r.choice(
        (
            "{datetime} {tz} [{pid}] ",
            "{datetime} {tz} [{pid}] {user}@{db} ",
            "{datetime} {tz} [{pid}] {user}@{db} {pghost} ({pgapp}) ",
            "{datetime} {tz} [{pid}-{small}] ",
            "[{pid}] ",
            "{datetime} {tz} [{pid}]: [{small}-1] user={user},db={db},app={func},client={ip} ",
        )
    )
    level = r.choice(("LOG", "LOG", "LOG", "ERROR", "WARNING", "FATAL", "STATEMENT", "DETAIL", "HINT"))
    if level == "STATEMENT":
        msg = [(VALUES["sql"](r), VAR)]
    else:
        msg = _msg(r, _POSTGRES_MESSAGES)
    # Before authentication PostgreSQL prints "[unknown]" for the user, database and
    # application, and "[local]" for a Unix-socket client: one value each (elog.c).
    unknown = r.random() < 0.2
    fields = {
        "tz": r.choice(("UTC", "CET", "EST", "+00", "PDT")),
        "user": "[unknown]" if unknown else VALUES["user"](r),
        "db": "[unknown]" if unknown else VALUES["db"](r),
        "pghost": r.choice(("[local]", VALUES["ip"](r))),
        "pgapp": r.choice(("[unknown]", "psql", "pg_dump", VALUES["func"](r))),
        "level": level,
        "msg": msg,
        "datetime": f"{ts_date_time(r).split(',')[0]}",
    }
    return render(r, prefix + "{level}:" + r.choice(("  ", " ")) + "{msg}", fields)


def fam_mysql(r: Rng) -> list[Piece]:
    """MySQL 8 error log and the older ``240102  3:04:05 [Note]`` shape."""
    level = r.choice(("System", "Warning", "Note", "ERROR"))
    fields: dict[str, FieldValue] = {
        "level": level,
        "msg": _msg(r, _MYSQL_MESSAGES),
        "subsystem": r.choice(("Server", "InnoDB", "Repl", "Xplugin")),
    }
    if r.random() < 0.7:
        return render(r, "{iso} {small} [{level}] [{myerr}] [{subsystem}] {msg}", fields)
    return render(r, "{compactts} [{level}] {msg}", fields)


def fam_apt(r: Rng) -> list[Piece]:
    """apt/apt-get terminal output and ``/var/log/apt/history.log``."""
    template = r.choice(
        (
            "Get:{small} {url} {suite} {arch} {pkg} {arch} {debver} [{thousands} kB]",
            "Hit:{small} {url} {suite} InRelease",
            "Ign:{small} {url} {suite} InRelease",
            "Fetched {thousands} kB in {small}s ({thousands} kB/s)",
            "Unpacking {pkgarch} ({debver}) over ({debver}) ...",
            "Preparing to unpack {debfile} ...",
            "Setting up {pkgarch} ({debver}) ...",
            "Setting up {pkg} ({debver}) ...",
            "Processing triggers for {pkg} ({debver}) ...",
            "Selecting previously unselected package {pkg}.",
            "Reading package lists... Done",
            "{int} upgraded, {int} newly installed, {int} to remove and {int} not upgraded.",
            "Need to get {thousands} kB of archives.",
            "After this operation, {decimal} MB of additional disk space will be used.",
            "E: Unable to locate package {pkg}",
            "W: GPG error: {url} {suite} InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY {sha}",
            "Start-Date: {datetime}",
            "Commandline: {aptcmd}",
            "Upgrade: {pkgarch} ({debver}, {debver})",
        )
    )
    # Terminal output has no header: every value is the event's variable.
    return render(r, template, {"datetime": f"{ts_date_time(r)[:10]}  {ts_clock(r)[:8]}"}, kind=VAR)


def fam_dpkg(r: Rng) -> list[Piece]:
    """``/var/log/dpkg.log``: ``2024-01-02 03:04:05 status installed libc6:amd64 2.36-9``."""
    template = r.choice(
        (
            "{datetime} status {state} {pkgarch} {debver}",
            "{datetime} upgrade {pkgarch} {debver} {debver}",
            "{datetime} install {pkgarch} {none} {debver}",
            "{datetime} configure {pkgarch} {debver} {none}",
            "{datetime} startup {stage} {action}",
            "{datetime} trigproc {pkgarch} {debver} {none}",
        )
    )
    fields = {
        "datetime": ts_date_time(r)[:19],
        "none": r.choice(("<none>", VALUES["debver"](r))),
        "state": r.choice(
            ("installed", "half-configured", "unpacked", "half-installed", "triggers-pending", "config-files")
        ),
        "stage": r.choice(("archives", "packages")),
        "action": r.choice(("unpack", "configure", "remove")),
    }
    # The date and time are the header; the rest is the event.
    datetime, *event = render(r, template, fields, kind=VAR)
    return [(datetime[0], FIELD), *event]


def fam_pip(r: Rng) -> list[Piece]:
    """pip install output."""
    template = r.choice(
        (
            "Collecting {pyreq}",
            "  Downloading {wheel} ({decimal} kB)",
            "  Downloading {wheel} ({decimal} MB)",
            "  Using cached {wheel} ({int} kB)",
            "Requirement already satisfied: {pyreq} in {path} (from {pypkg}) ({version})",
            "Requirement already satisfied: {pypkg} in {path} ({version})",
            "Installing collected packages: {pypkg}, {pypkg}, {pypkg}",
            "Successfully installed {pypkg}-{version} {pypkg}-{version} {pypkg}-{version}",
            "Successfully built {pypkg}",
            "ERROR: Could not find a version that satisfies the requirement {pyreq} (from versions: {version}, {version})",
            "ERROR: No matching distribution found for {pyreq}",
            "WARNING: Retrying (Retry(total={small}, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError': {httppath}",
            "Building wheel for {pypkg} (pyproject.toml) ... done",
            "  Created wheel for {pypkg}: filename={wheel} size={int} sha256={sha}",
            "Looking in indexes: {url}",
        )
    )
    return render(r, template, kind=VAR)


def fam_npm(r: Rng) -> list[Piece]:
    """npm install output."""
    template = r.choice(
        (
            "npm WARN deprecated {npmpkg}: This module is not supported, and leaks memory.",
            "npm WARN deprecated {npmpkg}: Rimraf versions prior to v4 are no longer supported",
            "npm ERR! code {errcode}",
            "npm ERR! 404 Not Found - GET {url} - Not found",
            "npm ERR! A complete log of this run can be found in: {path}",
            "npm notice New minor version of npm available! {version} -> {version}",
            "added {count} packages, and audited {count} packages in {duration}",
            "added {count} packages in {duration}",
            "found {small} vulnerabilities",
            "{small} packages are looking for funding",
            "npm http fetch GET {status} {url} {count}ms (cache {word})",
            "> {npmpkg} {word}",
        )
    )
    errcode = r.choice(("ENOENT", "E404", "ERESOLVE", "EACCES", "ETIMEDOUT", "ELIFECYCLE"))
    return render(r, template, {"errcode": errcode}, kind=VAR)


def fam_syslog(r: Rng) -> list[Piece]:
    """RFC 3164 syslog and journalctl short/short-iso/short-precise output."""
    ts = r.choice((ts_syslog, ts_syslog, ts_iso))(r)
    proc = VALUES["proc"](r)
    head = "{ts} {host} {proc}[{pid}]: " if r.random() < 0.8 else "{ts} {host} {proc}: "
    if r.random() < 0.15:
        head = "<{pri}>" + head
    fields: dict[str, FieldValue] = {
        "ts": ts,
        "proc": proc,
        "pri": str(r.randint(0, 191)),
        "msg": _msg(r, _SYSLOG_MESSAGES if proc != "kernel" else _KERNEL_MESSAGES),
    }
    return render(r, head + "{msg}", fields)


def _nil_or(r: Rng, gen: str) -> str:
    """RFC 5424's nil value ``-`` (itself a field value) or a value of generator ``gen``."""
    return "-" if r.random() < 0.3 else VALUES[gen](r)


def fam_syslog5424(r: Rng) -> list[Piece]:
    """RFC 5424: ``<34>1 2003-10-11T22:14:15.003Z host app procid msgid [sd] msg``."""
    fields: dict[str, FieldValue] = {
        "pri": str(r.randint(0, 191)),
        "app": _nil_or(r, "proc"),
        "procid": _nil_or(r, "pid"),
        "msgid": r.choice(("-", "ID47", "TCPIN", "audit")),
        "msg": _msg(r, _APP_MESSAGES),
        "sd": [("-", FIELD)],
    }
    if r.random() < 0.5:
        # Structured data: SD-ID and parameter values are fields; names, "=", quotes and brackets syntax.
        params = r.sample(
            (("iut", "small"), ("eventSource", "word"), ("eventID", "int"), ("ip", "ip"), ("user", "user")), 2
        )
        template = "[{sdid} " + " ".join(f'{name}="{{{gen}}}"' for name, gen in params) + "]"
        fields["sd"] = render(r, template, {"sdid": r.choice(("exampleSDID@32473", "meta", "origin", "timeQuality"))})
    return render(r, "<{pri}>1 {iso} {host} {app} {procid} {msgid} {sd} {msg}", fields)


def fam_dmesg(r: Rng) -> list[Piece]:
    """Kernel ring buffer: ``[    1.234567] usb 1-1: ...``."""
    uptime = f"{r.uniform(0, 99999):.6f}"
    return render(r, "[{uptime:>12}] {msg}", {"uptime": uptime, "msg": _msg(r, _KERNEL_MESSAGES)})


def fam_klog(r: Rng) -> list[Piece]:
    """Kubernetes klog: ``I0102 03:04:05.123456    1 file.go:123] msg``."""
    m = _Moment(r)
    fields: dict[str, FieldValue] = {
        "lvl": r.choice("IIIIWEF"),
        "mmdd": f"{m.month:02d}{m.day:02d}",
        "clock": f"{m.time}.{m.micro:06d}",
        "tid": str(r.randint(1, 99999)),
        "msg": _msg(r, _KLOG_MESSAGES),
    }
    return render(r, "{lvl}{mmdd} {clock} {tid:>7} {srcline}] {msg}", fields)


def fam_java(r: Rng) -> list[Piece]:
    """Java loggers: logback, log4j, Spring Boot, and stack trace lines."""
    fields: dict[str, FieldValue] = {
        "level": _level(r, "upper"),
        "msg": _msg(r, _JAVA_MESSAGES),
        "ts": r.choice((ts_date_time, ts_iso))(r),
    }
    style = r.randrange(6)
    if style == 0:
        template = "{ts} [{thread}] {level:<5} {logger} - {msg}"
    elif style == 1:
        template = "{ts} {level:<5} [{thread}] {logger}:{line} - {msg}"
    elif style == 2:
        template = "{ts} {level:>5} {pid} --- [{thread:>15}] {logger:<40} : {msg}"
    elif style == 3:
        template = "{level:<5} [{thread}] {ts} {javasrc} - {msg}"
    elif style == 4:
        template = r.choice(
            (
                "at {frame}({javasrc})",
                "Caused by: {javaexc}: {errmsg}",
                "... {small} more",
                'Exception in thread "{thread}" {javaexc}: {errmsg}',
            )
        )
        fields["errmsg"] = _msg(r, _ERROR_MESSAGES)
    else:
        template = "[{ts}][{level:<5}][{logger:<25}] [{node}] {msg}"
        fields["msg"] = _msg(r, _ES_MESSAGES)
    fields["line"] = str(r.randint(1, 900))
    return render(r, template, fields)


def fam_openstack(r: Rng) -> list[Piece]:
    """OpenStack services (oslo.log): ``2017-05-16 00:00:00.008 25746 INFO nova.x [req-... - - -] msg``."""
    tenant = _hexs(r, 32)
    context = r.choice(("-", f"req-{_uuid(r)} - - - - -", f"req-{_uuid(r)} {tenant} {tenant} - - -"))
    service = r.choice(("nova-api", "nova-compute", "neutron-server"))
    fields = {
        "datetime": ts_date_time(r).replace(",", "."),
        "level": _level(r, "upper"),
        "module": r.choice(
            (
                "nova.osapi_compute.wsgi.server",
                "nova.compute.manager",
                "neutron.agent.l3.agent",
                "oslo_concurrency.lockutils",
                "keystone.common.wsgi",
                "nova.virt.libvirt.imagecache",
            )
        ),
        "context": context,
        "msg": _msg(r, _OPENSTACK_MESSAGES),
        "logfile": f"{service}.log.{r.randint(1, 3)}.{ts_date_time(r)[:10]}_{ts_clock(r)[:8]}",
    }
    template = r.choice(("", "{logfile} ")) + "{datetime} {pid} {level} {module} "
    template += r.choice(("[{context}] ", "[{context}] ", ""))
    return render(r, template + "{msg}", fields)


def fam_python(r: Rng) -> list[Piece]:
    """Python logging defaults, gunicorn, uvicorn, Airflow, loguru, and tracebacks."""
    fields: dict[str, FieldValue] = {
        "level": _level(r, "upper"),
        "msg": _msg(r, _PYTHON_SERVICE_MESSAGES),
        "lineno": str(r.randint(1, 2000)),
    }
    template = r.choice(
        (
            "{datetime} - {pylogger} - {level} - {msg}",
            "{level}:{pylogger}:{msg}",
            "[{datetime}] {{{file}:{lineno}}} {level} - {msg}",
            "[{datetime} {tz}] [{pid}] [{level}] {msg}",
            '{level}:     {hostport} - "{method} {httppath} {proto}" {status} {reason}',
            "{datetime} | {level:<8} | {pylogger}:{func}:{lineno} - {msg}",
            '  File "{path}", line {lineno}, in {func}',
            "{pyexc}: {errmsg}",
            "{datetime} {level} [{pylogger}] {msg}",
        )
    )
    fields.update(
        datetime=ts_date_time(r),
        tz=r.choice(("+0000", "-0500", "+0100")),
        errmsg=_msg(r, _ERROR_MESSAGES),
        reason=r.choice(("OK", "Not Found", "Internal Server Error", "Created", "Unprocessable Entity")),
    )
    return render(r, template, fields)


def fam_go(r: Rng) -> list[Piece]:
    """Go std log and zap's console encoder (tab-separated, trailing JSON context)."""
    if r.random() < 0.4:
        prefix = r.choice(("", "", "[api] ", "server: "))
        return render(
            r,
            prefix + "{slashts} {srcline}: {msg}" if r.random() < 0.5 else prefix + "{slashts} {msg}",
            {"msg": _msg(r, _APP_MESSAGES)},
        )
    pieces = render(
        r,
        "{iso}\t{level}\t{srcline}\t{msg}",
        {"level": _level(r, r.choice(("upper", "lower"))), "msg": _msg(r, _APP_MESSAGES)},
    )
    if r.random() < 0.7:
        context = {key: json_scalar(value) for key, value in _context(r, 1, 3)}
        pieces += [("\t", CONST)] + json_pieces(context, spaced=True)
    return pieces


def fam_windows(r: Rng) -> list[Piece]:
    """Windows event exports (tab separated), CBS.log-like lines and ``Key: value`` event text."""
    style = r.randrange(3)
    fields: dict[str, FieldValue] = {
        "msg": _msg(r, _WINDOWS_MESSAGES),
        "level": r.choice(("Information", "Warning", "Error")),
        "source": r.choice(
            (
                "Service Control Manager",
                "Microsoft-Windows-Security-Auditing",
                "Application Error",
                "MsiInstaller",
                "Microsoft-Windows-Kernel-General",
                "EventLog",
            )
        ),
        "eventid": str(r.choice((7036, 4624, 1000, 11707, 6005, 4625, r.randint(1, 9999)))),
    }
    if style == 0:
        m = _Moment(r)
        clock = f"{m.hour % 12 or 12}:{m.minute:02d}:{m.second:02d} {'AM' if m.hour < 12 else 'PM'}"
        fields.update(when=f"{m.month}/{m.day}/{m.year} {clock}", category=r.choice(("None", "Logon", "(12544)")))
        if r.random() < 0.2:
            fields["level"] = "Audit Success"
        template = "{level}\t{when}\t{source}\t{eventid}\t{category}\t{msg}"
    elif style == 1:
        fields.update(
            date=ts_date_time(r)[:10],
            clock=ts_clock(r)[:8],
            level=r.choice(("Info", "Warning", "Error")),
            comp=r.choice(("CBS", "CSI", "DISM", "DPX", "SQM")),
        )
        template = "{date} {clock}, {level:<20} {comp:<6} {msg}"
    else:
        fields["logname"] = r.choice(("System", "Application", "Security"))
        template = r.choice(
            (
                "Log Name: {logname} Source: {source} Date: {iso} Event ID: {eventid} Level: {level} Computer: {host}",
                "EventID={eventid} Source={source} Computer={host} Description: {msg}",
            )
        )
    return render(r, template, fields)


def fam_redis(r: Rng) -> list[Piece]:
    """Redis: ``1:M 02 Jan 2024 03:04:05.123 * Ready to accept connections``."""
    return render(
        r,
        "{pid}:{role} {dmyts} {mark} {msg}",
        {"role": r.choice("MSCX"), "mark": r.choice(("*", "#", "-", ".")), "msg": _msg(r, _REDIS_MESSAGES)},
    )


# Header fields of made-up formats: a template each, so compound fields such as
# ``proc[pid]`` keep their constant brackets.
_HEADER_ITEMS = (
    "{host}",
    "{pid}",
    "{thread}",
    "{logger}",
    "{pylogger}",
    "{srcline}",
    "{reqid}",
    "{proc}",
    "{proc}[{pid}]",
    "{host}/{proc}",
    "{logger}:{small}",
    "{proc}({pid})",
    "pid={pid}",
    "{user}@{host}",
    "#{int}",
    "{unit}",
    "{podref}",
    "{ip}",
    "{flag}",
    "{ident}",
    "{component}",
    "{component}",
)
_HEADER_TIMESTAMPS: tuple[Gen, ...] = (
    ts_iso,
    ts_iso,
    ts_date_time,
    ts_date_time,
    ts_syslog,
    ts_epoch,
    ts_clock,
    ts_slash,
    ts_apache,
    ts_ctime,
    ts_compact,
    ts_dmy,
)


def _header(r: Rng) -> list[list[Piece]]:
    """The header fields of a made-up format: usually a timestamp and a level, then 0-3 others."""
    fields = {"ts": r.choice(_HEADER_TIMESTAMPS)(r), "level": _level(r, r.choice(("upper", "mixed", "short")))}
    items = [render(r, item, fields) for item in r.sample(_HEADER_ITEMS, r.randint(0, 3))]
    if r.random() < 0.8:
        items.insert(r.choice((0, 0, 0, len(items))), render(r, "{level}", fields))
    if r.random() < 0.85:
        items.insert(0 if r.random() < 0.9 else len(items), render(r, "{ts}", fields))
    if r.random() < 0.1:
        # Some formats open with a flag field before the timestamp (BGL-style alert flags).
        items.insert(0, render(r, "{flag}", fields))
    return items or [render(r, "{host}")]


def fam_delimited(r: Rng) -> list[Piece]:
    """Application logs whose header fields are separated by one of ``|``, ``;``, tab or ``,``."""
    sep = [(r.choice((" | ", "|", ";", "\t", ", ", " ; ", " || ")), CONST)]
    pieces: list[Piece] = []
    for item in _header(r):
        pieces += item + sep
    return pieces + _msg(r, _APP_MESSAGES)


def fam_composed(r: Rng) -> list[Piece]:
    """Made-up header shapes: fields bare or in brackets, with assorted separators, then a message."""
    pieces: list[Piece] = []
    for item in _header(r):
        opening, closing = r.choice(
            (
                (" ", " "),
                (" ", " "),
                ("[", "] "),
                ("[", "]"),
                ("(", ") "),
                ("<", "> "),
                ("{", "} "),
                (" ", ": "),
                (" ", " - "),
                (" ", " | "),
                (" ", "\t"),
            )
        )
        pieces += [(opening, CONST)] + item + [(closing, CONST)]
    pieces.append((r.choice((" ", ": ", " - ", " -- ", " > ", " :: ", " ")), CONST))
    return pieces + _msg(r, _APP_MESSAGES + _ERROR_MESSAGES)


_FAMILY_FUNCTIONS: dict[str, Callable[[Rng], list[Piece]]] = {
    "logfmt": fam_logfmt,
    "jsonlines": fam_jsonlines,
    "web_access": fam_web_access,
    "nginx_error": fam_nginx_error,
    "apache_error": fam_apache_error,
    "postgres": fam_postgres,
    "mysql": fam_mysql,
    "apt": fam_apt,
    "dpkg": fam_dpkg,
    "pip": fam_pip,
    "npm": fam_npm,
    "syslog": fam_syslog,
    "syslog5424": fam_syslog5424,
    "dmesg": fam_dmesg,
    "klog": fam_klog,
    "java": fam_java,
    "python": fam_python,
    "openstack": fam_openstack,
    "go": fam_go,
    "windows": fam_windows,
    "redis": fam_redis,
    "delimited": fam_delimited,
    "composed": fam_composed,
}

FAMILIES: tuple[str, ...] = tuple(_FAMILY_FUNCTIONS)
"""Names of the generator families; a row's ``system`` is ``synthetic/<family>``."""
_WIDEN_LINE_SHARE = 0.1  # share of lines whose constant spaces may widen into runs


def widen_spaces(r: Rng, pieces: list[Piece], rate: float) -> list[Piece]:
    """Widen some single spaces of constant pieces into runs, as padded and hand-aligned logs do."""
    return [
        (
            re.sub(" ", lambda _: " " * r.randint(2, 4) if r.random() < rate else " ", text)
            if kind == CONST and " " in text
            else text,
            kind,
        )
        for text, kind in pieces
    ]


def generate_family(family: str, r: Rng) -> dict[str, str]:
    """One labelled row of ``family`` drawn from ``r`` (spec format)."""
    pieces = _FAMILY_FUNCTIONS[family](r)
    if r.random() < _WIDEN_LINE_SHARE:
        pieces = widen_spaces(r, pieces, rate=0.15)
    line, labels, kinds = assemble(pieces)
    return {"system": f"synthetic/{family}", "line": line, "labels": labels, "kinds": kinds}


def generate(n: int, seed: int = 0) -> list[dict]:
    """n labelled examples {"system": "synthetic/<family>", "line": str, "labels": str} (spec format).

    Families are drawn uniformly; the same ``(n, seed)`` always gives the same rows,
    and a longer run with the same seed starts with the rows of a shorter one.
    """
    r = random.Random(seed)
    rows: list[dict] = []
    while len(rows) < n:
        row = generate_family(r.choice(FAMILIES), r)
        if row["line"]:
            rows.append(row)
    return rows
