"""The service: sockets, connections, signals and accounts. ``server`` moves bytes between
sockets and codecs, ``hub`` keeps the live connections (admission, eviction, turns),
``daemon`` runs the whole (bind, drop privileges, serve, reload, stop), with ``reloads``
(SIGHUP, storms taken by one reload), ``unix_socket``, ``systemd`` (notify, socket activation),
``privileges`` and ``janitor`` (what is removed as root at exit).

It knows no SRS: it hands keys to ``policy.tables`` and answers to the codecs. It may import
every wing below it (``policy``, ``observe``, ``config``, ``wire``) and ``pysrsd.errors``, but
not ``srs`` directly, nor ``cli`` or ``ctl``.
"""
