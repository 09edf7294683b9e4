"""The policy: a forward or reverse lookup becomes an ``Answer`` (``tables``, the one place
statuses are decided), with the exclusion map (``exclusions``), the bounded log of refused
bounces (``refusals``), the state a lookup reads (``state``) and its reload (``runtime``, with
``watch`` for the files and ``reports`` for what a load logs), and the envelope database for
long senders (``envelopes/``).

It knows no socket: it is handed keys and gives back answers (or, for a network database, an
awaitable). It may import ``srs``, ``wire``, ``config``, ``observe`` and ``pysrsd.errors``;
nothing above it (``service``, ``cli``, ``ctl``).
"""
