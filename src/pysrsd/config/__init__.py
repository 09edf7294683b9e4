"""Settings and the files the daemon trusts: ``settings`` (one frozen, validated object from
the command line, ``PYSRSD_*`` variables and the TOML file), ``config_errors`` (messages that
name where a bad value came from), ``reloading`` (which settings a reload applies, which need
a restart), ``files`` (opening trusted files without blocking and checking their owner and
mode) and ``keyring`` (the secrets file).

The SRS algorithm never sees a file: it is handed the secrets as bytes. This wing imports
nothing from the rest of pysrsd but ``pysrsd.errors``.
"""
