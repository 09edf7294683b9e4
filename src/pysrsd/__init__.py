"""pysrsd: a Sender Rewriting Scheme daemon for Postfix."""

__version__ = "1.0.0"
