"""``pysrsctl check``: validate the configuration and the files it names, as the daemon
would at start; print a summary that never shows a secret (only a fingerprint) nor a
password (the envelope database's URI is shown with its credentials hidden); then the local
Postfix layout (``postfix_check``): a half-configured one is a configuration error (exit 2),
reported with the commands that fix it."""

from __future__ import annotations

import argparse
import sys

from pysrsd import cli
from pysrsd.config.database_uri import display
from pysrsd.config.settings import unknown_variables
from pysrsd.ctl import options, postfix_check
from pysrsd.ctl.postconf import Postfix
from pysrsd.observe import logs
from pysrsd.policy.runtime import Runtime


def run(args: argparse.Namespace) -> int:
    logs.configure("error")
    settings = options.settings(args)
    runtime = Runtime(settings)
    state = runtime.state
    print(f"domain:      {settings.domain}")
    print(f"secrets:     {len(state.keyring)} in {settings.secrets_file}")
    print(f"signing key: fingerprint {state.keyring.fingerprint}")
    print(f"exclusions:  {len(state.exclusions)} entries")
    print(f"tcp_table:   forward {settings.forward_port}, reverse {settings.reverse_port}")
    print("\n".join(runtime.hash_lines()))
    if settings.original_envelope != "embedded":  # credentials hidden
        print(f"envelopes:   {settings.original_envelope}, {display(settings.envelope_database)}")
    for spelt, guess in unknown_variables():  # ignored by the daemon too: say so
        hint = f"did you mean {guess}?" if guess else "no such setting; it is ignored"
        print(f"warning: {spelt}: unknown variable; {hint}", file=sys.stderr)
    if state.keyring.too_open:
        print(
            f"warning: {settings.secrets_file} is writable by its group or open to others",
            file=sys.stderr,
        )
    return 0 if postfix_check.report(settings, Postfix()) else cli.EXIT_CONFIG
