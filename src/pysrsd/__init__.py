"""pysrsd: a Sender Rewriting Scheme daemon for Postfix."""

__version__ = "1.0.0"


def build() -> str:
    """``mypyc`` when the lookup path was compiled (setup.py, PYSRSD_MYPYC=1), else ``python``."""
    from pysrsd.srs import engine

    return "python" if engine.__file__.endswith(".py") else "mypyc"
