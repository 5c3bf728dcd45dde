"""Mosquitto 2.0 MQTT broker log (``log_dest file``, ``log_type all``, ``connection_messages true``).

``log_timestamp true`` with no ``log_timestamp_format``, so each line is the Unix time in seconds, a colon and a
space, then the message::

    1714564800: New client connected from 127.0.0.1:43210 as sensor-1 (p2, c1, k60, u'alice').

Messages (src/logging.c, src/handle_*.c, src/send_*.c); one value each, unless noted:

- client ids are free strings (``sensor-1``, ``auto-C95E38BA-B8E8-5898-155A-1834F6F2287E`` generated ones,
  ``<unknown>`` before CONNECT is read; ``Sending CONNACK to 127.0.0.1 (0, 5)`` names the peer's IP when the
  client was refused); addresses are ``127.0.0.1:43210`` (IP and port, two values joined by ``:``).
- ``New client connected from 127.0.0.1:43210 as sensor-1 (p2, c1, k60, u'alice').``: the flags in parentheses
  are ``p`` protocol version (``p2`` MQTT 3.1.1, ``p5`` MQTT 5), ``c`` clean start, ``k`` keepalive seconds,
  ``u'alice'`` the user name in single quotes (absent when none).
- packet traces (``log_type debug``): ``Received PUBLISH from sensor-1 (d0, q1, r0, m3, 'home/kitchen/temp', ...
  (4 bytes))`` -- ``d`` dup flag, ``q`` QoS, ``r`` retain, ``m`` message id, the topic in single quotes (one
  value, ``/``-separated levels), the payload length; ``Sending PUBACK to sensor-1 (m3, rc0)``, ``Received
  SUBSCRIBE from dash``, then a TAB-indented line ``\\thome/# (QoS 1)`` per topic filter, ``dash 1 home/#``
  (client, QoS, filter), ``Sending SUBACK to dash``, ``Received PINGREQ from sensor-1``, ``Received DISCONNECT
  from sensor-1``, ``Client sensor-1 disconnected.``, ``Sending CONNACK to sensor-1 (0, 0)`` (session present
  flag, reason code), ``Received PUBACK from dash (Mid: 1, RC:0)``, ``Will message specified (7 bytes) (r1,
  q1).`` followed by the TAB-indented will topic, ``No will message specified.``. ``$SYS/broker/uptime`` and
  ``$share/workers/home/+/cmd`` are topic filters (one value each).
- errors and notices: ``Client alice-pub disconnected, not authorised.``, ``Denied PUBLISH from bob-pub (d0, q0,
  r0, m0, 'admin/reboot', ... (3 bytes))``, ``Client sensor-9 has exceeded timeout, disconnecting.``, ``Client
  <unknown> disconnected due to malformed packet.``, ``Client sensor-1 closed its connection.``, ``Client ...
  already connected, closing old connection.``, ``Outgoing messages are being dropped for client ...``.
- broker life: ``mosquitto version 2.0.11 starting``, ``Config loaded from /path/mosquitto.conf.``, ``Opening
  ipv4 listen socket on port 19883.``, ``mosquitto version 2.0.11 running``, ``Reloading config.``, ``Saving
  in-memory database to /path/mosquitto.db.``, ``mosquitto version 2.0.11 terminating``.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from programs._support import read_lines, run, start, stop, wait_for_port

FORMAT_SOURCE = "man 5 mosquitto.conf (log_dest, log_type, log_timestamp); https://github.com/eclipse/mosquitto/blob/v2.0.11/src/logging.c"
PACKAGES = ["mosquitto", "mosquitto-clients"]

PORT = 19883

CONF = """
per_listener_settings false
listener {port} 127.0.0.1
allow_anonymous false
password_file {work}/passwd
acl_file {work}/acl
log_dest file {work}/mosquitto.log
log_type all
log_timestamp true
connection_messages true
persistence true
persistence_location {work}/
autosave_interval 2
max_keepalive 120
max_inflight_messages 5
max_queued_messages 20
message_size_limit 4096
"""

ACL = """
user alice
topic readwrite home/#
topic read $SYS/#
topic write admin/#

user bob
topic read home/#
topic write home/bob/#

pattern readwrite devices/%c/#
"""


def _pub(*args: str, **kwargs: object) -> int:
    return run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(PORT), *args], timeout_s=15, **kwargs)


def _sub(*args: str) -> subprocess.Popen[bytes]:
    return start(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(PORT), *args])


def _raw(payload: bytes, wait: float = 0.3) -> None:
    with socket.create_connection(("127.0.0.1", PORT), timeout=3) as sock:
        sock.sendall(payload)
        time.sleep(wait)
        try:
            sock.recv(4096)
        except OSError:
            pass


def _connect_packet(client_id: str, keepalive: int, user: str, password: str) -> bytes:
    def s(text: str) -> bytes:
        return len(text).to_bytes(2, "big") + text.encode()

    body = s("MQTT") + bytes([4, 0xC2]) + keepalive.to_bytes(2, "big") + s(client_id) + s(user) + s(password)
    return bytes([0x10, len(body)]) + body


def collect(workdir: Path) -> list[str]:
    work = workdir
    shutil.chown(work, "mosquitto", "mosquitto")
    work.chmod(0o755)
    conf = work / "mosquitto.conf"
    conf.write_text(CONF.format(port=PORT, work=work))
    (work / "acl").write_text(ACL)
    passwd = work / "passwd"
    run(["mosquitto_passwd", "-c", "-b", str(passwd), "alice", "alice-secret"], check=True)
    run(["mosquitto_passwd", "-b", str(passwd), "bob", "bob-secret"], check=True)
    for path in (passwd, work / "acl", conf):
        shutil.chown(path, "mosquitto", "mosquitto")
        path.chmod(0o600)
    log = work / "mosquitto.log"
    stderr_log = work / "stderr.log"
    broker = start(["mosquitto", "-c", str(conf)], stderr_log)
    subs: list[subprocess.Popen[bytes]] = []
    try:
        wait_for_port(PORT)
        alice = ["-u", "alice", "-P", "alice-secret"]
        bob = ["-u", "bob", "-P", "bob-secret"]
        subs.append(_sub(*alice, "-i", "dashboard", "-t", "home/#", "-q", "1", "-t", "$SYS/broker/uptime"))
        subs.append(_sub(*bob, "-i", "bob-phone", "-t", "home/+/temp", "-q", "2", "-c", "-V", "mqttv5"))
        subs.append(_sub(*bob, "-i", "bob-admin-spy", "-t", "admin/#"))
        time.sleep(0.5)
        for qos in ("0", "1", "2"):
            _pub(*alice, "-i", f"sensor-kitchen-q{qos}", "-t", "home/kitchen/temp", "-m", "21.5", "-q", qos)
        _pub(*alice, "-i", "sensor-hall", "-t", "home/hall/door", "-m", "open", "-r", "-q", "1")
        _pub(
            *alice,
            "-t",
            "home/garden/humidity",
            "-m",
            '{"rh": 63, "unit": "%"}',
            "-V",
            "mqttv5",
            "-D",
            "publish",
            "content-type",
            "application/json",
            "-D",
            "publish",
            "message-expiry-interval",
            "60",
        )
        _pub(*bob, "-i", "bob-pub", "-t", "home/bob/light", "-m", "on")
        _pub(*bob, "-i", "bob-pub", "-t", "admin/reboot", "-m", "now")
        _pub(*bob, "-i", "bob-pub", "-t", "home/kitchen/temp", "-m", "99", "-q", "1")
        _pub(*alice, "-i", "alice-admin", "-t", "admin/reboot", "-m", "later", "-q", "2")
        _pub("-u", "bob", "-P", "devices", "-i", "thermostat-7", "-t", "devices/thermostat-7/state", "-m", "ok")
        _pub(*bob, "-i", "thermostat-7", "-t", "devices/thermostat-7/state", "-m", "ok", "-q", "1")
        _pub(*bob, "-i", "thermostat-8", "-t", "devices/thermostat-7/state", "-m", "spoof")
        _pub(*alice, "-t", "home/big", "-s", input=b"x" * 6000)
        _pub(*alice, "-t", "home/empty", "-n", "-r")
        _pub(*alice, "-t", "home/bad#topic", "-m", "x")
        subs.append(_sub(*alice, "-i", "worker-a", "-t", "$share/workers/home/+/cmd", "-q", "1", "-V", "mqttv5"))
        subs.append(_sub(*alice, "-i", "worker-b", "-t", "$share/workers/home/+/cmd", "-q", "1", "-V", "mqttv5"))
        time.sleep(0.3)
        for room in ("kitchen", "hall", "attic"):
            _pub(*alice, "-t", f"home/{room}/cmd", "-m", "refresh", "-q", "1", "-V", "mqttv5")
        run(
            [
                "mosquitto_sub",
                "-h",
                "127.0.0.1",
                "-p",
                str(PORT),
                *alice,
                "-i",
                "tidy",
                "-t",
                "home/old/#",
                "-U",
                "home/old/#",
                "-E",
            ],
            timeout_s=10,
        )
        run(
            ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(PORT), *bob, "-i", "bob-sys", "-t", "$SYS/#", "-E"],
            timeout_s=10,
        )
        # bad logins: wrong password, unknown user, no credentials, an MQTT 5 client refused
        _pub("-u", "alice", "-P", "wrong", "-i", "alice-pub", "-t", "home/x", "-m", "1")
        _pub("-u", "mallory", "-P", "x", "-i", "mallory", "-t", "home/x", "-m", "1")
        _pub("-i", "anonymous-1", "-t", "home/x", "-m", "1")
        _pub("-u", "bob", "-P", "nope", "-i", "bob-v5", "-t", "home/x", "-m", "1", "-V", "mqttv5")
        # a will message from a client that dies, a session taken over, a keepalive timeout, malformed packets
        will = _sub(
            *alice,
            "-i",
            "sensor-porch",
            "-t",
            "home/porch/cmd",
            "-k",
            "5",
            "--will-topic",
            "home/porch/status",
            "--will-payload",
            "offline",
            "--will-retain",
            "--will-qos",
            "1",
        )
        time.sleep(0.5)
        will.kill()
        will.wait()
        twin = _sub(*alice, "-i", "dashboard", "-t", "home/#")
        time.sleep(0.3)
        stop(twin)
        time.sleep(1.2)
        with socket.create_connection(("127.0.0.1", PORT), timeout=5) as sock:
            sock.sendall(_connect_packet("sleepy-sensor", 1, "alice", "alice-secret"))
            time.sleep(4)
        _raw(b"\x10\xff\xff\xff\xff\x01")
        _raw(b"\x30\x05\x00\x10abc")
        _raw(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        _raw(_connect_packet("", 60, "alice", "alice-secret")[:-3])
        # a persistent session queueing messages while offline
        run(
            [
                "mosquitto_sub",
                "-h",
                "127.0.0.1",
                "-p",
                str(PORT),
                *bob,
                "-i",
                "bob-offline",
                "-c",
                "-q",
                "1",
                "-t",
                "home/#",
                "-C",
                "1",
                "-W",
                "2",
            ],
            timeout_s=10,
        )
        for i in range(25):
            _pub(*alice, "-i", "burst", "-t", f"home/burst/{i}", "-m", str(i), "-q", "1")
        run(
            [
                "mosquitto_sub",
                "-h",
                "127.0.0.1",
                "-p",
                str(PORT),
                *bob,
                "-i",
                "bob-offline",
                "-c",
                "-q",
                "1",
                "-t",
                "home/#",
                "-W",
                "1",
            ],
            timeout_s=10,
        )
        # reload (SIGHUP), a database save (SIGUSR1), a restart with the persisted state, then stop
        broker.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        broker.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        for proc in subs:
            stop(proc)
        subs.clear()
        stop(broker)
        broker = start(["mosquitto", "-c", str(conf)], stderr_log)
        wait_for_port(PORT)
        run(
            [
                "mosquitto_sub",
                "-h",
                "127.0.0.1",
                "-p",
                str(PORT),
                *bob,
                "-i",
                "bob-offline",
                "-c",
                "-q",
                "1",
                "-t",
                "home/#",
                "-W",
                "1",
            ],
            timeout_s=10,
        )
        _pub(*alice, "-t", "home/kitchen/temp", "-m", "22", "-q", "1")
        time.sleep(2.5)
        stop(broker)
    finally:
        for proc in subs:
            stop(proc)
        stop(broker)
    return read_lines([log, stderr_log])
