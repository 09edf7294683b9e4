"""pysrsd reliability suite (issue 4): ``python -m reliability --short`` / ``--full``."""
