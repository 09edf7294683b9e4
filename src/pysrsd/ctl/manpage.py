"""Man pages pysrsd(8) and pysrsctl(8), generated from the parsers that serve ``--help``.

``python -m pysrsd.ctl.manpage [DIR]`` writes ``DIR/pysrsd.8`` and ``DIR/pysrsctl.8`` (default
``man``); ``--check`` only compares them and exits 1 if they differ. The output depends on
nothing but the code (no date, fixed usage width), so the committed pages can be compared with
the generator's output by a test. OPTIONS come from the argparse actions, ENVIRONMENT from the
``Settings`` model; the prose sections are here. The roff is plain man(7): ``.TH .SH .SS .TP
.PP .nf .fi .nh .ad`` and ``\\fB``/``\\fI`` fonts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pysrsd import __version__, cli, ctl
from pysrsd.config.config_errors import flag, variable
from pysrsd.config.settings import Settings
from pysrsd.ctl import manpage_text as text

WIDTH = 78  # usage lines are wrapped at this width whatever the terminal


@dataclass(frozen=True, slots=True)
class Page:
    name: str
    summary: str
    parser: argparse.ArgumentParser
    synopsis: str  # roff; each command's full usage is generated (pysrsctl's COMMANDS)
    description: str  # roff
    sections: tuple[tuple[str, str], ...]  # (title, roff body) after OPTIONS and ENVIRONMENT


def escape(text: str) -> str:
    """Plain text → roff: backslashes, hyphens (not hyphenation points) and control lines."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line for line in text.split("\n"))


def _usage(parser: argparse.ArgumentParser, skip: set[str]) -> str:
    """The parser's usage line without the ``skip`` options (and without -h)."""
    actions = [a for a in parser._actions if a.dest != "help" and not _skipped(a, skip)]
    formatter = argparse.HelpFormatter(parser.prog, width=WIDTH)
    formatter.add_usage(None, actions, parser._mutually_exclusive_groups, "")
    return formatter.format_help().strip()


def _skipped(action: argparse.Action, skip: set[str]) -> bool:
    """Options given elsewhere (the shared setting options); never a positional argument."""
    return bool(action.option_strings) and action.dest in skip


def _help(action: argparse.Action, prog: str) -> str:
    text = action.help or ""
    if "%(" in text:
        text = text % {**vars(action), "prog": prog}
    return text


def _term(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"\\fI{escape(action.metavar or action.dest)}\\fR"  # type: ignore[arg-type]
    takes_value = action.nargs != 0
    metavar = action.metavar or (action.dest.upper() if action.choices is None else None)
    if action.choices is not None and action.metavar is None:
        metavar = "{" + ",".join(str(c) for c in action.choices) + "}"
    names = []
    for option in action.option_strings:
        name = f"\\fB{escape(option)}\\fR"
        if takes_value:
            name += f" \\fI{escape(str(metavar))}\\fR"
        names.append(name)
    return ", ".join(names)


def options(parser: argparse.ArgumentParser, skip: Iterable[str] = ()) -> str:
    """``.TP`` paragraphs for the parser's arguments, positional ones first."""
    skipped = set(skip)
    actions = [
        a
        for a in parser._actions
        if not isinstance(a, argparse._SubParsersAction) and not _skipped(a, skipped)
    ]
    actions.sort(key=lambda a: bool(a.option_strings))
    lines = []
    for action in actions:
        if action.help == argparse.SUPPRESS:
            continue
        lines += [".TP", _term(action), escape(_help(action, parser.prog))]
    return "\n".join(lines)


def environment() -> str:
    lines = [
        "Every setting can be given as a variable, below the command line and above the "
        "config file. Lists (listen, socketmap) are separated by commas or spaces; booleans "
        "are 1/0, true/false, yes/no.",
    ]
    for name in Settings.model_fields:
        lines += [".TP", f"\\fB{escape(variable(name))}\\fR", f"as \\fB{escape(flag(name))}\\fR"]
    lines += [
        ".PP",
        "Other \\fBPYSRSD_\\fR* variables are reported as a warning at start, with the nearest "
        "real name.",
    ]
    return "\n".join(lines)


def _commands(parser: argparse.ArgumentParser) -> str:
    """pysrsctl: one ``.SS`` per command, its own options (setting options are shared)."""
    shared = argparse.ArgumentParser(add_help=False)
    cli.add_setting_options(shared)
    setting_dests = {a.dest for a in shared._actions}
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    helps = {choice.dest: choice.help for choice in subparsers._choices_actions}
    lines = []
    for name, sub in subparsers.choices.items():
        with_settings = setting_dests <= {a.dest for a in sub._actions}
        lines += [f".SS {escape(name)}", escape(helps.get(name) or ""), ".PP", ".nf"]
        usage = _usage(sub, setting_dests)
        if with_settings:
            usage = usage.replace(sub.prog, f"{sub.prog} [SETTING OPTIONS]", 1)
        lines += [escape(usage), ".fi"]
        if with_settings:
            lines += [".PP", "SETTING OPTIONS: every setting option of \\fBpysrsd\\fR(8)."]
        lines.append(options(sub, skip=setting_dests | {"help"}))
    return "\n".join(line for line in lines if line)


def render(page: Page) -> str:
    parser = page.parser
    body = options(parser)
    if page.name == "pysrsctl":
        body = body + "\n.SH COMMANDS\n" + _commands(parser)
    head = [
        f'.TH {page.name.upper()} 8 "" "{page.name} {__version__}" "System Administration"',
        ".nh",
        ".ad l",
        ".SH NAME",
        f"{page.name} \\- {escape(page.summary)}",
        ".SH SYNOPSIS",
        ".nf",
        page.synopsis,
        ".fi",
        ".SH DESCRIPTION",
        page.description,
        ".SH OPTIONS",
        body,
        ".SH ENVIRONMENT",
        environment(),
    ]
    for title, roff in page.sections:
        head += [f".SH {title}", roff]
    return "\n".join(head) + "\n"


def pages() -> list[Page]:
    return [
        Page(
            "pysrsd",
            "Sender Rewriting Scheme daemon for Postfix",
            cli._daemon_parser(),
            text.DAEMON_SYNOPSIS,
            text.DAEMON_DESCRIPTION,
            text.DAEMON,
        ),
        Page(
            "pysrsctl",
            "pysrsd administration tool",
            ctl.build_parser(),
            text.CTL_SYNOPSIS,
            text.CTL_DESCRIPTION,
            text.CTL,
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pysrsd.ctl.manpage", description=__doc__)
    parser.add_argument("directory", nargs="?", type=Path, default=Path("man"))
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a change")
    args = parser.parse_args(argv)
    stale = []
    for page in pages():
        path = args.directory / f"{page.name}.8"
        text = render(page)
        current = path.read_text() if path.exists() else None
        if current != text:
            stale.append(str(path))
            if not args.check:
                path.write_text(text)
    if args.check and stale:
        print(f"out of date: {', '.join(stale)} (python -m pysrsd.ctl.manpage)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
