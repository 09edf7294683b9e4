"""The SRS algorithm: hashes and day stamps (``hashing``), forward and reverse rewriting
(``engine``, with ``shortcut``: its common cases precomputed per day), and pysrs's Guarded
scheme through our subclass (``guarded``).

No I/O, no clock of its own (it is injected), no logging, no policy (own domain, exclusions,
status codes live in ``policy``). This wing imports nothing from the rest of pysrsd.
"""
