"""What operators see: the log lines (``logs``: structlog set-up, the rewrite line, one write
per turn of the event loop) and the Prometheus metrics (``metrics``: the meter wrapped around
the lookup function; ``counts``: what is counted, and the protocols of the objects read at
scrape time; ``metrics_families``: the series built at scrape time; ``metrics_http``: the
``/metrics`` endpoint).

Observed at the edges: this wing reads the lookup values of ``wire`` and the settings of
``config``, and knows the connection hub and the runtime only through the protocols in
``counts``. It may import ``wire``, ``config`` and ``pysrsd.errors``; the SRS algorithm and the
codecs never import it.
"""
