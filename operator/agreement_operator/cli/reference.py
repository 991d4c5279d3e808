"""The command reference page, written from the commands' own parsers, so that it cannot drift from them
(scripts/reference writes it; a test compares)."""

from agreement_operator.cli.main import COMMANDS, command_parser

WIDTH = 100  # the help text's width on the page, whatever the terminal of whoever writes it


def page() -> str:
    lines = ["# Command reference", "",
             "<!-- Written by scripts/reference from the commands' parsers: change a parser, then run it. -->", "",
             "`agreement-operator COMMAND [ARGUMENTS]`. Each command's `--help` prints the same text, at your "
             "terminal's width.", ""]
    for name, command in COMMANDS.items():
        lines += [f"## {name}", "", command.summary[0].upper() + command.summary[1:] + ".", "", "```text",
                  command_parser(name, WIDTH).format_help().rstrip(), "```", ""]
    return "\n".join(lines)
