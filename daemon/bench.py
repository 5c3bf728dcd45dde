"""``logdelim bench``: speed of the tagger against its peers.

For now this is the tagger benchmark of ``logdelim.model.bench`` (tagger
uncached and cached, Drain3 and a regex split on the same lines); the pipeline
benchmark through Kafka will be added here, reusing
``logdelim.model.bench.bench_tagger`` for the engine-only figures.
"""
from __future__ import annotations

import argparse

from logdelim.model import bench as model_bench


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``logdelim bench``."""
    model_bench.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Runs ``logdelim bench``; returns the exit status."""
    return model_bench.run(args)
