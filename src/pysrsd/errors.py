"""The one exception tree of pysrsd.

Expected outcomes (a lookup that finds nothing, a forged address) are values, not exceptions.
Exceptions are for bad configuration, protocol violations inside a codec, and bugs.
"""


class PysrsdError(Exception):
    """Base of every exception pysrsd raises on purpose."""


class ConfigError(PysrsdError):
    """A setting or a file it names is unusable; the message names the setting."""


class ProtocolError(PysrsdError):
    """A codec met bytes that break its wire protocol (raised only inside codecs)."""
