"""The command line's parser: every command and option explains itself, and a
bad value names the option it was given to. No VM: parsing only."""

import argparse

import pytest

from ramooflax import cli


def subparsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """(command path, parser) for every subcommand, depth first."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = f"{parser.prog.removeprefix('ramooflax').strip()} {name}".strip()
                out.append((path, sub))
                out += subparsers(sub)
    return out


COMMANDS = subparsers(cli.build_parser())


def test_top_level_help_says_what_the_tool_is(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "hypervisor" in out and "The `ramooflax` command line" not in out
    # Every command, the lab's included, on a line of its own with what it does.
    lines = [line.split() for line in out.splitlines()]
    for path, _ in COMMANDS:
        words = path.split()
        assert any(w[: len(words)] == words and len(w) > len(words) + 2 for w in lines), (
            f"`ramooflax --help` has no line for {path}:\n{out}"
        )


@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_and_option_has_help(path: str, parser: argparse.ArgumentParser) -> None:
    assert parser.description, f"`ramooflax {path} --help` has no description"
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help, f"`ramooflax {path}`: {name} has no help text"
    assert "%(default)" not in parser.format_help()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["lab", "run", "--ctrl-port", "abc"], "argument --ctrl-port: 'abc' is not a TCP port"),
        (["lab", "run", "--console-port", "0"], "argument --console-port: 0 is not a TCP port"),
        (["lab", "run", "--ctrl-port", "70000"], "argument --ctrl-port: 70000 is not a TCP port"),
        (["lab", "run", "--ctrl", "net:rtl8139"], "argument --ctrl: unknown control channel"),
        (
            ["lab", "run", "--ctrl", "tcp"],
            "uart, net or net:MODEL, MODEL one of e1000, e1000e, igb",
        ),
        (["dump", "--phys", "zz", "1", "-o", "x"], "argument --phys: 'zz' is not a number"),
        (["regs", "nohost"], "argument TARGET: 'nohost' is not HOST:PORT or serial:DEVICE"),
    ],
)
def test_bad_values_name_their_option(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert needle in err, err
    assert "_port" not in err and "invalid" not in err and "Traceback" not in err
