"""The one production layout, as ``pysrsctl setup`` builds it and the documentation shows it.

  account and group ``pysrsd`` (system, no login); ``pysrsdlog`` for daemontools' multilog
  /etc/pysrsd/               root:root 0755
  /etc/pysrsd/pysrsd.toml    root:root 0644   domain, secrets file, account (the daemon's flags)
  /etc/pysrsd/secrets        root:pysrsd 0640 the daemon reads it and cannot write it
  /etc/pysrsd/exclude        root:root 0644   senders not rewritten: the host's own domains
  /var/lib/pysrsd/           pysrsd:pysrsd 0750 (envelope database)
  QUEUE/pysrsd/socketmap     the socketmap socket inside Postfix's queue directory, which
                             chrooted smtpd and cleanup reach as ``unix:pysrsd/socketmap``
  /usr/local/sbin/pysrsd     the program (linked from the virtual environment /opt/pysrsd;
                             the Debian package's is /usr/sbin/pysrsd, from /usr/lib/pysrsd)

Values only, no I/O: the texts of the config file and of the main.cf lines.
"""

from __future__ import annotations

from pathlib import Path

ACCOUNT = "pysrsd"
LOG_ACCOUNT = "pysrsdlog"
ETC = Path("/etc/pysrsd")
CONFIG = ETC / "pysrsd.toml"
SECRETS = ETC / "secrets"
EXCLUDE = ETC / "exclude"  # the host's own domains (setup proposes them)
STATE = Path("/var/lib/pysrsd")
SERVICE_DIR = ETC / "service"  # the daemontools service directory, linked into svscan's
LOG_DIR = Path("/var/log/pysrsd")
UNIT_DIR = Path("/etc/systemd/system")
# the Debian package's units, used as they are: debhelper puts them in /usr/lib (Debian 13) or
# /lib (Debian 12)
PACKAGE_UNIT_DIRS = (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
PROGRAM = Path("/usr/local/sbin/pysrsd")
QUEUE_DIRECTORY = Path("/var/spool/postfix")  # Debian's; setup asks postconf
TCP = ("127.0.0.1", 10001, 10002)  # the daemon's default listener and ports: main.cf's maps
SOCKETMAP = "pysrsd/socketmap"  # relative to the queue directory, as Postfix addresses it
UNITS = ("pysrsd.service", "pysrsd-forward.socket", "pysrsd-reverse.socket")
SOCKETMAP_UNIT = "pysrsd-socketmap.socket"
SOCKETMAP_MODE = "socketmap-mode = 0o660"  # group postfix: its set-group-ID directory's


def config_text(domain: str, socketmap: Path | None, exclude: Path | None = None) -> str:
    """/etc/pysrsd/pysrsd.toml: what the daemon needs, in the daemon's own flag names."""
    lines = [
        '# pysrsd settings, written by "pysrsctl setup". Keys are the long flags of',
        "# pysrsd --help; PYSRSD_* variables and flags override them.",
        f'domain = "{domain}"',
        f'secrets-file = "{SECRETS}"',
        f'user = "{ACCOUNT}"',
    ]
    if socketmap is not None:
        lines += [f'socketmap = ["unix:{socketmap}"]', SOCKETMAP_MODE]
    if exclude is not None:
        lines.append(f'exclude-file = "{exclude}"')
    return "\n".join(lines) + "\n"


def maps(socketmap: bool) -> tuple[str, str]:
    """The forward and the reverse map as main.cf names them (examples/main.cf shows both)."""
    if socketmap:
        return f"socketmap:unix:{SOCKETMAP}:forward", f"socketmap:unix:{SOCKETMAP}:reverse"
    host, forward, reverse = TCP
    return f"tcp:{host}:{forward}", f"tcp:{host}:{reverse}"


def main_cf(socketmap: bool) -> list[str]:
    """The plain layout's main.cf settings, as ``postconf -e`` takes them."""
    forward, reverse = maps(socketmap)
    return [
        f"sender_canonical_maps = {forward}",
        "sender_canonical_classes = envelope_sender",
        f"recipient_canonical_maps = {reverse}",
        "recipient_canonical_classes = envelope_recipient, header_recipient",
    ]
