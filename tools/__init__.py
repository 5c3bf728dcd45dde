"""Tools around the daemon, not part of what runs in production: the benchmark, the demo and
the embedded Tansu broker (``logdelim[bench]``, ``logdelim[broker]``)."""
