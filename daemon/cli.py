"""The ``logdelim`` command: one entry point, one subcommand per job.

Each subcommand lives in the module that owns the job and exposes
``add_arguments(parser)`` and ``run(args) -> int``, and ``needs(args)`` when it
uses an optional dependency (``(module, extra)`` pairs, see
:mod:`logdelim.model.extras`): a missing one is reported in one line naming the
extra to install, exit 2, before the command starts. Only the chosen module is
imported, so ``logdelim tag`` does not pay for Kafka and ``logdelim broker`` does
not pay for torch.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import sys

from logdelim.model.extras import missing

COMMANDS: dict[str, tuple[str, str]] = {
    "tag": ("logdelim.model.tagcli", "tag log lines from files or stdin, one JSON record per line"),
    "train": ("logdelim.model.train", "train a tagger from labelled JSONL plus synthetic data"),
    "label": ("logdelim.model.loghub", "label Loghub structured CSVs by the spec (systems outside ../shared)"),
    "label-logs": ("logdelim.model.formats", "label raw log lines by their program's format strings (YAML)"),
    "eval": ("logdelim.model.evaluate", "score a tagger and the rule baselines on labelled JSONL"),
    "bench": ("logdelim.tools.bench", "measure the tagger and the pipeline against their peers"),
    "run": ("logdelim.daemon.app", "run the streaming daemon from a YAML config"),
    "broker": ("logdelim.tools.broker", "run the embedded Tansu broker in the foreground"),
    "demo": ("logdelim.tools.demo", "embedded broker + daemon + sample traffic, printing records"),
    "replay": ("logdelim.daemon.replay", "replay archived topics through the tagger"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: logdelim COMMAND [options] | logdelim --version", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "`logdelim COMMAND --help` shows a command's options."]
    return "\n".join(lines)


def package_version() -> str:
    """The installed package's version (``pyproject.toml``'s, as pip recorded it)."""
    try:
        return importlib.metadata.version("logdelim")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(_usage() + "\n")
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        sys.stdout.write(f"logdelim {package_version()}\n")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        sys.stderr.write(f"logdelim: unknown command {name!r}\n\n{_usage()}\n")
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"logdelim {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    # After parsing, so that `--help` works without the extras.
    absent = missing(module.needs(args)) if hasattr(module, "needs") else None
    if absent is not None:
        sys.stderr.write(f"logdelim {name}: {absent}\n")
        return 2
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
