"""pysrsd reliability suite: ``python -m reliability --short`` / ``--full``."""
