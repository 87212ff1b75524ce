"""The command line: the installed script and ``python -m losskit`` behave the same; --help everywhere."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from losskit import cli


def _subcommands() -> list[str]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


@pytest.mark.parametrize("name", _subcommands())
def test_every_subcommand_explains_every_option(name: str, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([name, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[name]
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"{name} {action.option_strings} has no help text"
            assert action.option_strings[0] in out


@pytest.mark.parametrize("name", _subcommands())
def test_every_subcommand_shows_examples_that_parse(name: str, capsys):
    """Every ``--help`` ends with 2-3 example commands of that subcommand, and each parses as written."""
    with pytest.raises(SystemExit):
        cli.main([name, "--help"])
    out = capsys.readouterr().out
    assert "\nexamples:\n" in out, f"losskit {name} --help has no examples"
    commands = [line.strip() for line in out.split("\nexamples:\n", 1)[1].splitlines() if line.startswith("  losskit")]
    assert 2 <= len(commands) <= 3, commands
    for command in commands:
        argv = shlex.split(command)
        assert argv[:2] == ["losskit", name], command
        args = cli.build_parser().parse_args(argv[1:])  # exits with code 2 on a bad option
        assert args.command == name


def test_script_and_module_agree():
    script = shutil.which("losskit") or str(Path(sys.executable).parent / "losskit")
    a = subprocess.run([script, "losses"], capture_output=True, text=True, check=True).stdout
    b = subprocess.run([sys.executable, "-m", "losskit", "losses"], capture_output=True, text=True, check=True).stdout
    assert a == b and "MSELoss" in a


def test_unknown_subcommand_fails_cleanly():
    proc = subprocess.run([sys.executable, "-m", "losskit", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_demo_trains_and_the_loss_goes_down():
    from losskit.demo import run

    result = run(epochs=80, verbose=False)
    assert result.ce_history[-1] < 0.8 * result.ce_history[0]
    assert result.mse_history[-1] < result.mse_history[0]
    assert result.accuracy > 0.5  # three classes: chance is 1/3
