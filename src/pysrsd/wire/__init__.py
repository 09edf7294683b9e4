"""Sans-I/O wire codecs: the values a lookup is made of (``lookup``: Query, Answer, Status,
Table, Malformed, the Codec protocol) and the two Postfix protocols that carry them
(``tcp_table``, ``socketmap``): bytes in, events out; answers in, bytes out.

No sockets, no asyncio, no logging. This wing imports nothing from the rest of pysrsd but
``pysrsd.errors``.
"""
