"""``pysrsctl migrate-from postsrsd``: postsrsd 1.x's settings and secret become pysrsd's.

Reads /etc/default/postsrsd (``--defaults FILE``) as Debian's launcher does (``postsrsd1``),
prints the settings it will write and every step, then makes the README's layout:

  account pysrsd; /etc/pysrsd/ root:root 0755
  /etc/pysrsd/secrets      root:pysrsd 0640  postsrsd's secret(s), first: they keep signing,
                                             so the addresses postsrsd made and pysrsd's verify
  /etc/pysrsd/exclude      root:root 0644    SRS_EXCLUDE_DOMAINS, one per line (if any)
  /etc/pysrsd/pysrsd.toml  root:root 0644    the settings (keys of pysrsd --help)

A file already there is kept when it says the same: a secrets file whose first lines are
postsrsd's secrets (or that holds them below a newer one, rotated since), an exclusion file
with the same lines, a config file with the same value for every key written (other keys, such
as the switch's accept-concatenated-before, are its own). So a second run changes nothing. A
file that differs is never replaced silently: the run prints what differs and stops (exit 2)
before changing anything, unless ``--replace``: then the old file is kept beside it
(``FILE.pysrsd-migrate-TIME``), the config file keeps its other keys and the secrets file its
other secrets, after postsrsd's. ``--dry-run`` prints the same and changes nothing. Exit
status: 0 done (or nothing to do), 2 refused or unusable input, as for ``setup``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tomllib
from pathlib import Path

from pysrsd.config.files import read_trusted
from pysrsd.config.keyring import fingerprint, parse_secrets
from pysrsd.ctl import layout, postsrsd1, steps
from pysrsd.ctl.steps import Step
from pysrsd.errors import ConfigError
from pysrsd.service import privileges


def add_arguments(sub: argparse.ArgumentParser) -> None:
    add = sub.add_argument
    add("program", choices=["postsrsd"], help="the daemon pysrsd takes over from (1.x)")
    add(
        "--defaults",
        type=Path,
        default=postsrsd1.DEFAULTS,
        metavar="FILE",
        help=f"postsrsd's variables, read as its launcher does (default {postsrsd1.DEFAULTS})",
    )
    add(
        "--replace",
        action="store_true",
        help="replace the files that differ from postsrsd's (the old ones are kept beside them)",
    )
    add("--dry-run", action="store_true", help="print every step; change nothing")
    sub.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if os.geteuid() != 0 and not args.dry_run:
        raise ConfigError("migrate-from: run it as root (or look first with --dry-run)")
    found = postsrsd1.convert(postsrsd1.read_defaults(args.defaults), _mydomain)
    try:
        steps.check_domain(str(found.settings["domain"]))
    except ConfigError as exc:
        raise ConfigError(f"migrate-from: SRS_DOMAIN: {exc}".replace(" setup:", "")) from None
    secrets = _postsrsd_secrets(found.secret)
    _print_settings(args.defaults, found, secrets)
    differences: list[str] = []
    plan = _plan(found, secrets, differences, args.replace)
    for line in differences:
        print(f"differs {line}")
    if differences and not args.replace:
        raise ConfigError(
            "migrate-from: files differ from postsrsd's (above); nothing was changed. "
            "--replace puts postsrsd's in place and keeps the old files beside them"
        )
    steps.carry_out(plan, args.dry_run)
    _print_next(args.dry_run)
    return 0


def _print_settings(defaults: Path, found: postsrsd1.Migration, secrets: tuple[bytes, ...]) -> None:
    print(
        f"postsrsd 1.x, from {defaults}; its secret {found.secret} (fingerprint "
        f"{fingerprint(secrets[0])}, {len(secrets)} in all) signs first"
    )
    print(f"settings for {layout.CONFIG}:")
    for line in postsrsd1.render(found.settings).splitlines():
        print(f"    {line}")
    print("not taken over:")
    for note in found.notes:
        print(f"    {note}")


def _plan(
    found: postsrsd1.Migration,
    secrets: tuple[bytes, ...],
    differences: list[str],
    replace: bool,
) -> list[Step]:
    """Every step, planned from what exists; what differs is added to ``differences``."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    plan = [
        steps.account_step(layout.ACCOUNT),
        steps.directory_step(layout.ETC, "root", "root", 0o755),
        _secrets_step(secrets, differences, replace, stamp),
    ]
    if found.exclusions:
        text = "".join(line + "\n" for line in found.exclusions).encode()
        plan.append(_exclude_step(text, differences, replace, stamp))
    plan.append(_config_step(found, differences, replace, stamp))
    return plan


def _mydomain() -> str | None:
    return steps.postconf("mydomain")


def _postsrsd_secrets(path: Path) -> tuple[bytes, ...]:
    data, _ = read_trusted(path, 1 << 20, "SRS_SECRET")
    secrets = parse_secrets(data)
    if not secrets:
        raise ConfigError(f"SRS_SECRET: {path} contains no secret")
    return secrets


def _secrets_step(
    secrets: tuple[bytes, ...], differences: list[str], replace: bool, stamp: str
) -> Step:
    path, owner = layout.SECRETS, ("root", layout.ACCOUNT, 0o640)
    where = f"{path} root:{layout.ACCOUNT} 0640"
    if not path.exists():
        data = b"".join(s + b"\n" for s in secrets)
        return Step(f"install postsrsd's secret as {where}", lambda: _install(path, data, owner))
    mine = parse_secrets(read_trusted(path, 1 << 20, "secrets-file")[0])
    if mine[: len(secrets)] == secrets:
        return steps.ownership_step(path, *owner, "postsrsd's secret signs, kept")
    if set(secrets) <= set(mine):  # rotated since (genkey --rotate): postsrsd's still verify
        return steps.ownership_step(path, *owner, "postsrsd's secret verifies, a newer signs")
    differences.append(
        f"{path}: its signing secret (fingerprint {fingerprint(mine[0]) if mine else 'none'}) "
        f"is not postsrsd's ({fingerprint(secrets[0])})"
    )
    others = [s for s in mine if s not in secrets]
    data = b"".join(s + b"\n" for s in (*secrets, *others))
    text = f"put postsrsd's secret first in {where}, {len(others)} others kept after it"
    return _replace_step(path, data, owner, stamp, text) if replace else Step(text, _refused)


def _exclude_step(data: bytes, differences: list[str], replace: bool, stamp: str) -> Step:
    path, owner = postsrsd1.EXCLUDE, ("root", "root", 0o644)
    count = len(data.splitlines())
    if not path.exists():
        return Step(f"write {path} ({count} domains)", lambda: _install(path, data, owner))
    old = read_trusted(path, 1 << 20, "exclude-file")[0]
    if old.split() == data.split():
        return Step(f"{path} has postsrsd's {count} domains, kept")
    differences.append(f"{path}: not postsrsd's SRS_EXCLUDE_DOMAINS")
    text = f"write {path} ({count} domains)"
    return _replace_step(path, data, owner, stamp, text) if replace else Step(text, _refused)


def _config_step(
    found: postsrsd1.Migration, differences: list[str], replace: bool, stamp: str
) -> Step:
    path, owner = layout.CONFIG, ("root", "root", 0o644)
    head = (
        '# pysrsd settings, from postsrsd 1.x by "pysrsctl migrate-from postsrsd". Keys are\n'
        "# the long flags of pysrsd --help; PYSRSD_* variables and flags override them.\n"
    )
    if not path.exists():
        data = (head + postsrsd1.render(found.settings)).encode()
        return Step(f"write {path} root:root 0644", lambda: _install(path, data, owner))
    try:
        old = tomllib.loads(read_trusted(path, 1 << 20, "config")[0].decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"migrate-from: {path}: not valid TOML ({exc}): fix or move it") from None
    old = {key.replace("_", "-"): value for key, value in old.items()}
    changed = [key for key, value in found.settings.items() if old.get(key) != value]
    if not changed:
        return Step(f"{path} has these settings, kept")
    differences += [
        f"{path}: {key} is {repr(old[key]) if key in old else 'unset'}, "
        f"postsrsd's {found.settings[key]!r}"
        for key in changed
    ]
    others = {key: value for key, value in old.items() if key not in found.settings}
    data = (head + postsrsd1.render(found.settings)).encode()
    if others:
        data += b"# kept from the previous file\n" + postsrsd1.render(others).encode()
    text = f"write {path} root:root 0644 ({len(others)} other settings kept)"
    return _replace_step(path, data, owner, stamp, text) if replace else Step(text, _refused)


def _refused() -> None:
    raise AssertionError("a step that differs runs only with --replace")


def _replace_step(
    path: Path, data: bytes, owner: tuple[str, str, int], stamp: str, text: str
) -> Step:
    backup = path.with_name(f"{path.name}.pysrsd-migrate-{stamp}")

    def replace() -> None:
        os.link(path, backup)  # the old file as it was: same owner, mode and bytes
        _install(path, data, owner, replace=True)

    return Step(f"{text}; the old one kept as {backup.name}", replace)


def _install(path: Path, data: bytes, owner: tuple[str, str, int], replace: bool = False) -> None:
    """Write ``path`` whole with its owner and mode; a new file never overwrites one that
    appeared meanwhile, a replaced one is swapped in at once (the daemon sees one or the
    other)."""
    user, group, mode = owner
    uid, gid = privileges.resolve_ids(user, group)[:2]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _print_next(dry_run: bool) -> None:
    if dry_run:
        print("dry run: nothing was changed")
    print(
        "next: pysrsctl setup DOMAIN, then at the switch stop postsrsd, add "
        "accept-concatenated-before and run postfix reload (docs/migrating.md)"
    )
