"""``pysrsctl setup DOMAIN``: the first hour in one command (the layout of ``ctl.layout``).

Creates what is missing and leaves what is there: the account, /etc/pysrsd, the config file
(an existing one is kept), the secrets file (never overwritten; its owner and mode are set to
root:pysrsd 0640), /var/lib/pysrsd, and with ``--socketmap`` the socket directory inside
Postfix's queue directory; then the systemd units (``--systemd``) or a daemontools service
directory linked into svscan's directory (``--daemontools DIR``). It prints the Postfix
commands, main.cf lines for the plain layout, or with ``--forwarded-only`` the master.cf
services and main.cf settings of ``ctl.forwarded``, and applies them only with ``--postfix``
(main.cf and master.cf are backed up first, then ``postfix check`` runs). Running it twice
changes nothing the second time. ``--dry-run`` prints every step and changes nothing. Each
step is planned from what exists, then carried out in order.
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from pysrsd.ctl import (
    config_edit,
    forwarded,
    genkey,
    layout,
    overrides,
    own_domains,
    postconf,
    served,
    steps,
)
from pysrsd.ctl.postconf import Postfix
from pysrsd.ctl.steps import Step
from pysrsd.errors import ConfigError


def run(args: argparse.Namespace) -> int:
    steps.check_domain(args.domain)
    if os.geteuid() != 0 and not args.dry_run:
        raise ConfigError("setup: run it as root (or look first with --dry-run)")
    queue = _queue_directory() if args.socketmap else None
    socket = queue / layout.SOCKETMAP if queue is not None else None
    tcp = args.postfix and socket is None
    overrides.check(tcp, socket)  # before any step: a variable may move a listener
    plan = _base_steps(args.domain, socket, args.daemontools is not None, tcp)
    if args.systemd:
        plan += steps.unit_steps(args.socketmap)
    if args.daemontools is not None:
        plan += steps.daemontools_steps(Path(args.daemontools))
    changed = layout.CONFIG.exists() and plan[_CONFIG_STEP].action is not None
    restart, note = served.steps(changed, socket is not None, socket if args.postfix else None)
    plan += restart
    plan += _postfix_steps(args)
    steps.carry_out(plan, args.dry_run)
    if note:
        print(note)
    _print_next(args)
    return 0


def _base_steps(domain: str, socket: Path | None, daemontools: bool, tcp: bool) -> list[Step]:
    domains = own_domains.proposed(domain)
    exclude = config_edit.configured(layout.CONFIG, "exclude-file")
    exclude_file = Path(exclude) if exclude else layout.EXCLUDE
    plan = [
        steps.directory_step(layout.ETC, "root", "root", 0o755),
        config_edit.config_step(
            layout.CONFIG, domain, socket, exclude_file if domains else None, tcp
        ),  # _CONFIG_STEP
        steps.account_step(layout.ACCOUNT),
        _secrets_step(),
        steps.directory_step(layout.STATE, layout.ACCOUNT, layout.ACCOUNT, 0o750),
    ]
    if daemontools:
        plan.append(steps.account_step(layout.LOG_ACCOUNT))
    if domains:
        plan.append(own_domains.step(domains, exclude_file))
    else:
        print("exclusions: none proposed (no Postfix, or no $mydestination but the SRS domain)")
    if socket is not None:  # pysrsd makes the socket, group postfix (set-group-ID directory)
        plan.append(steps.directory_step(socket.parent, layout.ACCOUNT, "postfix", 0o2750))
    return plan


_CONFIG_STEP = 1  # its position in _base_steps: setup restarts the daemon when it changes


def _secrets_step() -> Step:
    path = layout.SECRETS
    if not path.exists():
        text = f"write a new random secret to {path} (root:{layout.ACCOUNT} 0640)"
        return Step(text, lambda: _quiet_genkey(path))
    return steps.ownership_step(path, "root", layout.ACCOUNT, 0o640, "kept, never overwritten")


def _quiet_genkey(path: Path) -> None:
    genkey.genkey(path, rotate=False, owner=layout.ACCOUNT)


def _queue_directory() -> Path:
    found = steps.postconf("queue_directory")
    return Path(found) if found else layout.QUEUE_DIRECTORY


def _postfix_steps(args: argparse.Namespace) -> list[Step]:
    if args.forwarded_only:
        return _forwarded_only_steps(args)
    lines = layout.main_cf(args.socketmap)
    print("main.cf (then: postfix reload):")
    for line in lines:
        print(f"    postconf -e '{line}'")
    if not args.postfix:
        return []
    postfix = Postfix()
    pairs = (line.split(" = ", 1) for line in lines)
    return postconf.steps(postfix, [postconf.parameter(postfix, n, v, "") for n, v in pairs])


def _forwarded_only_steps(args: argparse.Namespace) -> list[Step]:
    """The layout's commands, planned against the configuration there (only what is missing
    or different); printed, or with --postfix carried out as steps."""
    postfix = Postfix()
    if not postfix.available():
        raise ConfigError("setup --forwarded-only: Postfix is not installed (no postconf, main.cf)")
    edits = forwarded.plan(postfix, *layout.maps(args.socketmap), args.hop_port)
    print("Postfix, forwarded-only layout (then: postfix reload):")
    if args.postfix:
        return postconf.steps(postfix, edits)
    commands = [command for edit in edits for command in edit.commands]
    for command in commands:
        print(f"    {shlex.join(command)}")
    if not commands:
        print("    in place already")
    return []


def _print_next(args: argparse.Namespace) -> None:
    if args.dry_run:
        print("dry run: nothing was changed")
        return
    if args.systemd:
        print("next: systemctl start pysrsd   (pysrsctl health checks it)")
    elif args.daemontools is not None:
        print(f"next: svstat {Path(args.daemontools) / 'pysrsd'}   (pysrsctl health checks it)")
    else:
        print("next: pysrsd   (in the foreground; Ctrl-C stops it)")
