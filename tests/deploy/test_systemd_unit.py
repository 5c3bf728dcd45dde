"""The systemd unit: verified by systemd-analyze, and true to the daemon's contract."""

from __future__ import annotations

import configparser
import shutil
import sys
from pathlib import Path

from deploy_support import DAEMON_ARGV, DEPLOY, run_tool, tool

UNIT = DEPLOY / "systemd" / "logdelim.service"
EXEC_START = " ".join(["/opt/logdelim/bin/logdelim", *DAEMON_ARGV])


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_runs_the_daemon_unprivileged_with_room_to_drain() -> None:
    service = unit()["Service"]
    assert service["ExecStart"] == EXEC_START
    assert service["User"] not in ("root", "0")
    assert service["KillSignal"] == "SIGTERM"
    # The daemon exits within 10 s of SIGTERM; systemd must not SIGKILL it before that.
    assert int(service["TimeoutStopSec"]) >= 20
    assert service["Restart"] == "on-failure"
    assert unit()["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    # verify insists that ExecStart exists: point it at this environment's logdelim script.
    logdelim = shutil.which("logdelim", path=str(Path(sys.executable).parent))
    assert logdelim, "the logdelim console script is not installed in this environment"
    copy = tmp_path / "logdelim.service"
    copy.write_text(UNIT.read_text().replace("/opt/logdelim/bin/logdelim", logdelim))
    result = run_tool([tool("systemd-analyze"), "verify", "--man=no", str(copy)])
    assert result.returncode == 0, result.stderr
    # Unknown keys or misplaced options are only warnings: treat any output as a failure.
    assert result.stderr.strip() == "" and result.stdout.strip() == "", result.stderr + result.stdout


def test_the_deployed_command_line_is_the_cli_s() -> None:
    # Images, manifests and this unit all run DAEMON_ARGV; the real CLI must accept it.
    import argparse

    from logdelim.daemon import app
    from logdelim.daemon.cli import COMMANDS

    assert COMMANDS[DAEMON_ARGV[0]][0] == app.__name__
    parser = argparse.ArgumentParser(exit_on_error=False)
    app.add_arguments(parser)
    assert parser.parse_args(DAEMON_ARGV[1:]).config == DAEMON_ARGV[2]
