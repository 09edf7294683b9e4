"""Settings for a ``pysrsctl`` command: the daemon's own sources (flags > PYSRSD_* > config
file > defaults), from the setting options a sub-command was given."""

from __future__ import annotations

import argparse
import functools

from pysrsd import cli
from pysrsd.config.settings import Settings


@functools.cache
def _setting_names() -> frozenset[str]:
    probe = argparse.ArgumentParser(add_help=False)
    cli.add_setting_options(probe)
    return frozenset(action.dest for action in probe._actions)


def settings(args: argparse.Namespace, *extra: str) -> Settings:
    """The daemon's Settings, with the setting options of ``args`` (and ``extra`` ones,
    such as the listeners) as flags."""
    names = _setting_names() | set(extra)
    return cli.settings_from_args({k: v for k, v in vars(args).items() if k in names})
