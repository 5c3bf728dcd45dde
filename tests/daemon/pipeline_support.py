"""Pipeline settings for tests that build a pipeline or its parts without a broker."""

from __future__ import annotations

from typing import Any

# Every PipelineSettings field, small bounds; tests change what they look at.
SETTINGS: dict[str, Any] = dict(
    input_topics=["in"],
    input_pattern=None,
    output_topic="out",
    dead_letter_topic="dead",
    input_format="raw",
    input_field="log",
    output_mode="record",
    output_key="source",
    enrich_key="logdelim",
    max_lines=8,
    max_wait_ms=10,
    max_in_flight_lines=64,
    max_line_bytes=1024,
    max_message_bytes=1024 * 1024,
    commit_interval_ms=200,
    produce_retries=0,
    drain_timeout_s=1.0,
    max_tracked_templates=16,
    tagger_stall_s=5.0,
)
