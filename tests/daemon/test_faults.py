"""Fault injection: real Tansu, real ``logdelim run`` subprocesses, bounded in time.

Each test kills, cuts off or starves the daemon and then checks the delivery
contract on the output topic: every input offset has a record or a dead letter
(at-least-once), and duplicates stay within the documented bound. Figures
(lines, duplicates, recovery time, peak memory) are printed and appended to the
report file of ``fault_support.record_figures`` (see docs/operations.md).

Network faults go through ``tcp_proxy.TcpProxy``: a dedicated Tansu advertises
the proxy's address, so every client connection (the daemon's and the test's)
runs through it.

Run: ``.venv/bin/python -m pytest tests/daemon/test_faults.py -q -s`` (marked
slow and broker).
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from fault_support import read_topic, record_figures, rss_mb, short_lines
from tcp_proxy import TcpProxy

from logdelim.tools.broker import broker_command, create_topics, free_port, wait_for_port

pytestmark = [pytest.mark.slow, pytest.mark.broker]

SEED = 20261122


def source_counts(messages: list) -> Counter:
    """``(partition, offset)`` of the input -> how many records carry it."""
    counts: Counter = Counter()
    for message in messages:
        source = json.loads(message.value)["source"]
        counts[(source["partition"], source["offset"])] += 1
    return counts


def expected_offsets(lines: int, partitions: int) -> set[tuple[int, int]]:
    """Coordinates of ``lines`` messages produced round-robin over ``partitions``."""
    return {(i % partitions, i // partitions) for i in range(lines)}


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Poll ``condition``; returns the seconds it took, fails naming ``what`` after ``timeout_s``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def all_committed(kafka_io, group: str, topic: str, partitions: int, lines: int) -> Callable[[], bool]:
    """True once ``group`` has committed the end of every partition of a round-robin topic of ``lines``."""
    ends = {p: len(range(p, lines, partitions)) for p in range(partitions)}
    return lambda: kafka_io.committed(group, topic, partitions) == ends


# --------------------------------------------------------------------------- kill -9


KILL_LINES = 100_000
KILL_PARTITIONS = 4
KILLS = 3
MAX_IN_FLIGHT = 4096


def test_kill_9_three_times_loses_nothing(make_topic, kafka_io, unique_name, start_daemon, broker) -> None:
    rng = random.Random(SEED)
    source, output, dead = (
        make_topic("kill-in", KILL_PARTITIONS),
        make_topic("kill-out", KILL_PARTITIONS),
        make_topic("kill-dead"),
    )
    started = time.monotonic()
    kafka_io.produce(source, [line.encode() for line in short_lines(KILL_LINES)])
    produce_s = time.monotonic() - started
    group = unique_name("kill")
    settings = {
        "input_topics": [source],
        "output_topic": output,
        "dead_letter_topic": dead,
        "group_id": group,
        "batching": {"max_in_flight_lines": MAX_IN_FLIGHT},
    }

    started = time.monotonic()
    daemon = start_daemon(**settings)
    kills = []
    for kill in range(KILLS):
        # A random moment: after a random number of records of this incarnation, plus a random delay.
        threshold = rng.randint(2_000, 12_000)
        daemon.wait_for(
            lambda: daemon.metric("logdelim_records_produced_total") >= threshold,
            timeout_s=120,
            what=f"{threshold} records before kill {kill + 1}",
        )
        time.sleep(rng.uniform(0.0, 0.5))
        in_flight = daemon.metric("logdelim_lines_in_flight")
        produced = daemon.metric("logdelim_records_produced_total")
        peak_mb = rss_mb(daemon.process.pid, "VmHWM")
        daemon.process.send_signal(signal.SIGKILL)
        killed_at, killed_at_ms = time.monotonic(), time.time() * 1000
        daemon.process.wait()
        committed = kafka_io.committed(group, source, KILL_PARTITIONS)  # where the next incarnation resumes
        daemon = start_daemon(**settings)
        recovery_s = time.monotonic() - killed_at
        kills.append(
            {
                "records_before_kill": int(produced),
                "in_flight_before_kill": int(in_flight),
                "peak_rss_mb": round(peak_mb, 1),
                "recovery_s": round(recovery_s, 2),
                "killed_at_ms": killed_at_ms,
                "resumed_from": committed,
            }
        )

    wait_until(
        all_committed(kafka_io, group, source, KILL_PARTITIONS, KILL_LINES),
        timeout_s=300,
        what="every input offset committed",
    )
    elapsed_s = time.monotonic() - started
    final_peak_mb = rss_mb(daemon.process.pid, "VmHWM")
    rc, stop_s = daemon.stop(signal.SIGTERM)
    assert rc == 0, daemon.log()

    messages = read_topic(broker.bootstrap_servers, output)
    counts = source_counts(messages)
    assert set(counts) == expected_offsets(KILL_LINES, KILL_PARTITIONS), "every input offset has a record"
    duplicates = sum(counts.values()) - len(counts)
    # Duplicates of each kill: records the killed incarnation wrote at or past the offsets its successor
    # resumed from (the producer's timestamp tells the incarnations apart).
    previous_ms = 0.0
    for kill in kills:
        kill["duplicates"] = sum(
            1
            for m in messages
            if previous_ms < m.timestamp <= kill["killed_at_ms"]
            and json.loads(m.value)["source"]["offset"] >= (kill["resumed_from"][m.partition] or 0)
        )
        previous_ms = kill.pop("killed_at_ms")
        kill.pop("resumed_from")
    record_figures(
        "kill_9",
        lines=KILL_LINES,
        kills=KILLS,
        duplicates=duplicates,
        duplicate_bound=KILLS * MAX_IN_FLIGHT,
        max_in_flight_lines=MAX_IN_FLIGHT,
        per_kill=kills,
        peak_rss_mb=round(max([final_peak_mb] + [k["peak_rss_mb"] for k in kills]), 1),
        produce_s=round(produce_s, 1),
        elapsed_s=round(elapsed_s, 1),
        sigterm_exit_s=round(stop_s, 2),
    )
    assert all(k["duplicates"] <= MAX_IN_FLIGHT for k in kills), f"a kill duplicated more than {MAX_IN_FLIGHT}: {kills}"
    assert duplicates <= KILLS * MAX_IN_FLIGHT, f"{duplicates} duplicates > {KILLS} x {MAX_IN_FLIGHT} in flight"


# --------------------------------------------------------------------------- a broker behind a proxy


@pytest.fixture(scope="module")
def proxy(broker) -> Iterator[TcpProxy]:
    """A Tansu of its own that advertises a :class:`TcpProxy`, so every client connection crosses the proxy.

    (Depends on the session ``broker`` only to share its skip/fail when Tansu is missing.)
    """
    broker_port, proxy_port = free_port(), free_port()
    command = broker_command(broker_port)
    command[command.index("--advertised-listener-url") + 1] = f"tcp://127.0.0.1:{proxy_port}"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    tcp_proxy = None
    try:
        wait_for_port(broker_port, 20, process)
        tcp_proxy = TcpProxy(proxy_port, broker_port).start()
        yield tcp_proxy
    finally:
        if tcp_proxy is not None:
            tcp_proxy.stop()
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def proxied(proxy, kafka_io, daemon_launcher, tmp_path, unique_name):
    """``(io, make_topics, launch)`` bound to the proxied broker: Kafka helpers, topic factory, daemon factory."""
    io = type(kafka_io)(proxy.address)

    def make_topics(**partitions_by_prefix: int) -> list[str]:
        names = {unique_name(prefix): n for prefix, n in partitions_by_prefix.items()}
        asyncio.run(create_topics(proxy.address, names))
        return list(names)

    launcher = daemon_launcher(tmp_path)
    launcher.bootstrap_servers = proxy.address
    try:
        yield io, make_topics, launcher.launch
    finally:
        launcher.kill_all()
        proxy.restore()
        proxy.release()


# --------------------------------------------------------------------------- connection cut


CUT_S = 10.0
CUT_LINES = 20_000


def test_broker_connection_cut_for_10_s(proxy, proxied, unique_name) -> None:
    io, make_topics, launch = proxied
    source, output, dead = make_topics(cut_in=2, cut_out=2, cut_dead=1)
    io.produce(source, [line.encode() for line in short_lines(CUT_LINES)])
    group = unique_name("cut")
    daemon = launch(input_topics=[source], output_topic=output, dead_letter_topic=dead, group_id=group)
    daemon.wait_for(
        lambda: daemon.metric("logdelim_records_produced_total") >= 2_000,
        timeout_s=60,
        what="2,000 records before the cut",
    )

    proxy.cut()
    cut_at = time.monotonic()
    ready_during_cut = []
    while time.monotonic() - cut_at < CUT_S:
        ready_during_cut.append(daemon.get("/readyz")[0])
        assert daemon.process.poll() is None, f"daemon died during the cut:\n{daemon.log()}"
        time.sleep(0.25)
    proxy.restore()
    restored_at = time.monotonic()
    daemon.wait_for(lambda: daemon.get("/readyz")[0] == 200, timeout_s=60, what="ready again after the cut")
    ready_after_s = time.monotonic() - restored_at
    # New input after the outage flows too.
    io.produce(source, [line.encode() for line in short_lines(2_000, start=CUT_LINES)])
    total = CUT_LINES + 2_000
    wait_until(all_committed(io, group, source, 2, total), timeout_s=180, what="every input offset committed")
    recovery_s = time.monotonic() - restored_at
    assert daemon.process.poll() is None, "no crash"
    counts = source_counts(read_topic(proxy.address, output))
    duplicates = sum(counts.values()) - len(counts)
    not_ready_s = sum(0.25 for status in ready_during_cut if status != 200)
    record_figures(
        "connection_cut",
        lines=total,
        cut_s=CUT_S,
        duplicates=duplicates,
        not_ready_during_cut_s=not_ready_s,
        ready_again_s=round(ready_after_s, 2),
        all_committed_after_s=round(recovery_s, 2),
        peak_rss_mb=round(rss_mb(daemon.process.pid, "VmHWM"), 1),
    )
    assert set(counts) == expected_offsets(total, 2), "nothing lost"
    assert any(status != 200 for status in ready_during_cut), (
        f"/readyz stayed 200 through a {CUT_S:.0f} s broker outage: {ready_during_cut}"
    )


# --------------------------------------------------------------------------- group member killed


GROUP_LINES = 30_000
GROUP_PARTITIONS = 6


def assigned_partitions(daemon) -> set[int]:
    """Partitions a daemon reports lag for (it exports the gauge for its assignment only)."""
    from prometheus_client.parser import text_string_to_metric_families

    _, body = daemon.get("/metrics")
    return {
        int(sample.labels["partition"])
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == "logdelim_consumer_lag_messages"
    }


def test_three_daemons_one_killed_its_partitions_are_taken_over(
    make_topic, kafka_io, unique_name, start_daemon, broker
) -> None:
    source = make_topic("grp-in", GROUP_PARTITIONS)
    output, dead = make_topic("grp-out", GROUP_PARTITIONS), make_topic("grp-dead")
    group = unique_name("grp")
    settings = {
        "input_topics": [source],
        "output_topic": output,
        "dead_letter_topic": dead,
        "group_id": group,
        "wait_ready": False,
        "batching": {"max_in_flight_lines": MAX_IN_FLIGHT},
    }
    daemons = [start_daemon(**settings) for _ in range(3)]
    for daemon in daemons:
        daemon.wait_ready()
    wait_until(
        lambda: [len(assigned_partitions(d)) for d in daemons] == [2, 2, 2],
        timeout_s=60,
        what="two partitions per daemon",
    )
    kafka_io.produce(source, [line.encode() for line in short_lines(GROUP_LINES)])

    victim, survivors = daemons[0], daemons[1:]
    victim.wait_for(
        lambda: victim.metric("logdelim_records_produced_total") >= 2_000,
        timeout_s=60,
        what="the victim's first 2,000 records",
    )
    lost = assigned_partitions(victim)
    victim.process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    victim.process.wait()
    takeover_s = wait_until(
        lambda: set().union(*(assigned_partitions(d) for d in survivors)) == set(range(GROUP_PARTITIONS)),
        timeout_s=60,
        what="survivors owning every partition",
    )
    wait_until(
        all_committed(kafka_io, group, source, GROUP_PARTITIONS, GROUP_LINES),
        timeout_s=180,
        what="every input offset committed",
    )
    recovery_s = time.monotonic() - killed_at
    for daemon in survivors:
        assert daemon.process.poll() is None, daemon.log()
    counts = source_counts(read_topic(broker.bootstrap_servers, output))
    duplicates = sum(counts.values()) - len(counts)
    record_figures(
        "group_member_killed",
        lines=GROUP_LINES,
        partitions=GROUP_PARTITIONS,
        daemons=3,
        victim_partitions=sorted(lost),
        duplicates=duplicates,
        takeover_s=round(takeover_s, 2),
        all_committed_after_s=round(recovery_s, 2),
        peak_rss_mb=round(max(rss_mb(d.process.pid, "VmHWM") for d in survivors), 1),
    )
    assert len(lost) == 2
    assert set(counts) == expected_offsets(GROUP_LINES, GROUP_PARTITIONS), "nothing lost"
    assert duplicates <= MAX_IN_FLIGHT, f"{duplicates} duplicates > {MAX_IN_FLIGHT} in flight at the kill"


# --------------------------------------------------------------------------- output stalled


STALL_S = 15.0
STALL_IN_FLIGHT = 2048
STALL_WARMUP_LINES = 5_000
STALL_LINES = 40_000
# Memory allowed while the output is stalled and input keeps coming. The daemon idles near
# 260 MiB (torch, model, aiokafka); the in-flight bound keeps what the stall adds small.
STALL_RSS_BOUND_MB = 450
STALL_RSS_GROWTH_BOUND_MB = 100


def test_output_stalled_consumption_pauses_and_memory_stays_bounded(proxy, proxied, unique_name) -> None:
    io, make_topics, launch = proxied
    source, output, dead = make_topics(stall_in=2, stall_out=2, stall_dead=1)
    group = unique_name("stall")
    daemon = launch(
        input_topics=[source],
        output_topic=output,
        dead_letter_topic=dead,
        group_id=group,
        batching={"max_in_flight_lines": STALL_IN_FLIGHT},
    )
    io.produce(source, [line.encode() for line in short_lines(STALL_WARMUP_LINES)])
    daemon.wait_for(
        lambda: daemon.metric("logdelim_records_produced_total") >= STALL_WARMUP_LINES,
        timeout_s=60,
        what="warm-up records",
    )
    before_mb = rss_mb(daemon.process.pid)

    proxy.stall_produce(daemon.config["kafka"].get("client_id", "logdelim"))
    stalled_at = time.monotonic()
    io.produce(source, [line.encode() for line in short_lines(STALL_LINES, start=STALL_WARMUP_LINES)])
    samples = []
    while time.monotonic() - stalled_at < STALL_S:
        samples.append(
            {
                "rss_mb": rss_mb(daemon.process.pid),
                "consumed": daemon.metric("logdelim_lines_consumed_total"),
                "produced": daemon.metric("logdelim_records_produced_total"),
                "paused": daemon.metric("logdelim_paused_partitions"),
                "lag": daemon.metric("logdelim_consumer_lag_messages"),
            }
        )
        time.sleep(0.5)
    last = samples[-1]
    proxy.release()
    released_at = time.monotonic()
    total = STALL_WARMUP_LINES + STALL_LINES
    wait_until(all_committed(io, group, source, 2, total), timeout_s=180, what="every input offset committed")
    recovery_s = time.monotonic() - released_at
    peak_mb = rss_mb(daemon.process.pid, "VmHWM")
    counts = source_counts(read_topic(proxy.address, output))
    duplicates = sum(counts.values()) - len(counts)
    record_figures(
        "output_stalled",
        lines=total,
        stall_s=STALL_S,
        max_in_flight_lines=STALL_IN_FLIGHT,
        held_produce_requests=proxy.held_requests,
        rss_before_mb=round(before_mb, 1),
        peak_rss_mb=round(peak_mb, 1),
        rss_bound_mb=STALL_RSS_BOUND_MB,
        rss_growth_bound_mb=STALL_RSS_GROWTH_BOUND_MB,
        consumed_at_stall_end=int(last["consumed"]),
        lag_at_stall_end=int(last["lag"]),
        paused_partitions_at_stall_end=int(last["paused"]),
        duplicates=duplicates,
        all_committed_after_s=round(recovery_s, 2),
    )
    assert proxy.held_requests > 0, "the stall held the daemon's produce requests"
    assert max(s["paused"] for s in samples) >= 1, "backpressure paused the partitions"
    # Consumption stopped at the in-flight bound (one fetch may overshoot it by batching.max_lines).
    assert last["consumed"] - last["produced"] <= STALL_IN_FLIGHT + 512, samples
    assert last["consumed"] < total
    assert peak_mb < STALL_RSS_BOUND_MB, f"peak RSS {peak_mb:.0f} MiB >= {STALL_RSS_BOUND_MB} MiB"
    grown_mb = max(s["rss_mb"] for s in samples) - before_mb
    assert grown_mb < STALL_RSS_GROWTH_BOUND_MB, f"RSS grew {grown_mb:.0f} MiB during the stall"
    assert set(counts) == expected_offsets(total, 2), "after the stall everything flows, nothing lost"
    waiting = total - last["consumed"]
    assert last["lag"] >= waiting / 2, f"lag gauge {last['lag']:.0f} while {waiting:.0f} lines waited: it must grow"


# --------------------------------------------------------------------------- bad input corpus


def bad_input_corpus(rng: random.Random) -> list[bytes | None]:
    """Every bad-input class of the daemon issue, awkward but valid text, and seeded random bytes,
    scattered among ordinary lines so they land inside ordinary batches."""
    classes: list[bytes | None] = [
        None,
        b"",
        b"\n",
        b"\r\n",
        b"\xc3\x28 invalid",
        b"\xff\xfe\xfd",
        b"half \xe2\x82",
        b"nul\x00inside",
        b"bell\x07",
        b"del\x7f",
        b"\x1b[31mERROR\x1b[0m\tkept",
        b"x" * (1024 * 1024 + 1),
        b"line=" + b"y" * (2 * 1024 * 1024),
        b'Traceback (most recent call last):\n  File "a.py", line 1\nValueError: bad\n',
        b"one\r\ntwo\rthree\n\nfour",
        "caf\u00e9 \u65e5\u672c \U0001f600 \u202eevil \u0301 \ufeffbom \u2028sep".encode(),
        b" " * 1000,
        b"\t",
        "\u00a0".encode() * 50,
    ]
    random_values = [rng.randbytes(rng.randint(0, 300)) for _ in range(300)]
    # Random bytes that are valid UTF-8 text of random code points (outside surrogates).
    random_text = [
        "".join(
            chr(rng.choice([rng.randint(0x20, 0x7E), rng.randint(0xA0, 0xD7FF), rng.randint(0xE000, 0x10FFFF)]))
            for _ in range(rng.randint(1, 80))
        ).encode("utf-8")
        for _ in range(100)
    ]
    values = [line.encode() for line in short_lines(2_000)]
    for bad in classes + random_values + random_text:
        values.insert(rng.randint(0, len(values)), bad)
    return values


def test_bad_input_corpus_every_message_is_a_record_or_a_dead_letter(
    make_topic, kafka_io, unique_name, start_daemon, broker
) -> None:
    from logdelim.daemon import inputs

    values = bad_input_corpus(random.Random(SEED))
    partitions = 3
    source, output, dead = (
        make_topic("corpus-in", partitions),
        make_topic("corpus-out", partitions),
        make_topic("corpus-dead"),
    )
    kafka_io.produce(source, values)
    group = unique_name("corpus")
    daemon = start_daemon(input_topics=[source], output_topic=output, dead_letter_topic=dead, group_id=group)
    max_line_bytes = 65536  # input.max_line_bytes default
    started = time.monotonic()
    wait_until(
        all_committed(kafka_io, group, source, partitions, len(values)),
        timeout_s=120,
        what="every input offset committed",
    )
    elapsed_s = time.monotonic() - started
    assert daemon.process.poll() is None and daemon.get("/readyz")[0] == 200, daemon.log()

    records = {
        (r["source"]["partition"], r["source"]["offset"]): r
        for r in (json.loads(m.value) for m in read_topic(broker.bootstrap_servers, output))
    }
    letters = {
        (int(dict(m.headers)["logdelim.source.partition"]), int(dict(m.headers)["logdelim.source.offset"])): m
        for m in read_topic(broker.bootstrap_servers, dead)
    }
    assert not set(records) & set(letters), "no message is both a record and a dead letter"
    assert set(records) | set(letters) == expected_offsets(len(values), partitions), "every message accounted for"
    reasons: Counter = Counter()
    for i, value in enumerate(values):
        where = (i % partitions, i // partitions)
        expected = inputs.decode(value, max_line_bytes)
        if isinstance(expected, inputs.Rejection):
            letter = letters.get(where)
            assert letter is not None, f"message {i} ({value!r:.60}) should be a dead letter"
            assert dict(letter.headers)["logdelim.reason"] == expected.reason.encode()
            assert letter.value == value, f"message {i}: dead letter keeps the original bytes"
            reasons[expected.reason] += 1
        else:
            record = records.get(where)
            assert record is not None, f"message {i} ({value!r:.60}) should be a record"
            assert record["line"] == expected
            assert all(expected[t["start"] : t["end"]] == t["text"] for t in record["tokens"])
            reasons["record"] += 1
    record_figures(
        "bad_input_corpus",
        messages=len(values),
        records=reasons.pop("record"),
        dead_letters=dict(reasons),
        elapsed_s=round(elapsed_s, 2),
        peak_rss_mb=round(rss_mb(daemon.process.pid, "VmHWM"), 1),
    )
    assert set(reasons) >= {"null_value", "invalid_utf8", "control_chars", "too_long"}


# --------------------------------------------------------------------------- tagger slower than the session


TAG_DELAY_S = 6.0  # > the fixture's session_timeout_ms of 4000
SLOW_LINES = 1_200

# Loaded by Python at start-up when its folder is on PYTHONPATH: delays every engine call of
# the daemon subprocess, standing in for a model that takes longer than the session timeout.
SLOW_TAGGER_SITECUSTOMIZE = f"""
import time
from logdelim.model import engine

_tag = engine.Engine.tag

def _slow_tag(self, lines):
    time.sleep({TAG_DELAY_S})
    return _tag(self, lines)

engine.Engine.tag = _slow_tag
"""


def test_tagger_slower_than_the_session_timeout_causes_no_rebalance(
    make_topic, kafka_io, unique_name, start_daemon, broker, tmp_path
) -> None:
    import os

    hook = tmp_path / "slow-tagger"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_TAGGER_SITECUSTOMIZE)
    pythonpath = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    source, output, dead = make_topic("slow-in", 2), make_topic("slow-out", 2), make_topic("slow-dead")
    group = unique_name("slow")
    daemon = start_daemon(
        input_topics=[source],
        output_topic=output,
        dead_letter_topic=dead,
        group_id=group,
        env={"PYTHONPATH": pythonpath},
        batching={"max_lines": 512, "max_wait_ms": 50},
    )
    kafka_io.produce(source, [line.encode() for line in short_lines(SLOW_LINES)])
    started = time.monotonic()
    wait_until(
        all_committed(kafka_io, group, source, 2, SLOW_LINES), timeout_s=120, what="every input offset committed"
    )
    elapsed_s = time.monotonic() - started
    inference = daemon.metric("logdelim_inference_seconds_sum") / max(
        1.0, daemon.metric("logdelim_inference_seconds_count")
    )
    log = daemon.log()
    assignments, revocations = log.count("pipeline: assigned"), log.count("pipeline: revoked")
    counts = source_counts(read_topic(broker.bootstrap_servers, output))
    record_figures(
        "slow_tagger",
        lines=SLOW_LINES,
        tag_delay_s=TAG_DELAY_S,
        session_timeout_ms=4000,
        mean_inference_s=round(inference, 2),
        assignments=assignments,
        revocations=revocations,
        duplicates=sum(counts.values()) - len(counts),
        elapsed_s=round(elapsed_s, 1),
    )
    assert inference > 4.0, "each engine call outlasted the session timeout"
    assert assignments == 1 and revocations == 0, f"the group rebalanced while tagging:\n{log}"
    assert set(counts) == expected_offsets(SLOW_LINES, 2) and sum(counts.values()) == SLOW_LINES
