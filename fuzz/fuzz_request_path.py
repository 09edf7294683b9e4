"""Coverage-guided fuzzing (atheris) of the whole request path, without sockets:
bytes → TcpTableCodec (framing, %XX decoding) → tables.lookup (policy) → engine → encode_reply.

Invariants checked on every input (a violation raises, which atheris reports with the input):
- nothing raises, and no answer is a 400 (an internal fault);
- exactly one reply per complete request line, each one line of at most 4,096 bytes;
- framing is independent of how the input is split: fed whole, byte by byte and in random
  chunks, the replies are identical;
- a forward FOUND reverses (through the same policy) to a FOUND.

Run for a set time from one command (seconds, default 60):
    python fuzz/fuzz_request_path.py -max_total_time=600
Without corpus directories it grows a scratch corpus in a temporary directory, seeded from
fuzz/seeds; give directories (libFuzzer style, the first one is written) to keep it.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from pysrsd.config.keyring import Keyring
    from pysrsd.config.settings import Settings
    from pysrsd.policy import tables
    from pysrsd.policy.exclusions import parse_exclusions
    from pysrsd.policy.state import build_state
    from pysrsd.wire.lookup import Query, Status, Table
    from pysrsd.wire.tcp_table import MAX_REPLY, TcpTableCodec

import structlog

structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # errors only

NOW = 1_717_243_200.0
STATE = build_state(
    Settings.model_construct(domain="fwd.example", secrets_file=Path("/dev/null")),
    Keyring(secrets=(b"fuzz-secret",), fingerprint="fuzz", too_open=False),
    parse_exclusions(b"excluded.example\n.sub.example\nu@addr.example\n"),
    lambda: NOW,
)


def serve(chunks: list[bytes], table: Table) -> list[bytes]:
    codec = TcpTableCodec(max_line=1024)
    out: list[bytes] = []
    for chunk in chunks:
        for event in codec.receive(chunk):
            if isinstance(event, Query):
                answer = tables.lookup(STATE, table, event.key)
                if answer.status is Status.TEMP_FAIL:
                    raise AssertionError(f"400 for {event.key!r}")
                # Every rewrite must reverse (seed fuzz/seeds/srs1-malformed: an SRS1 key with
                # an empty field was once rewritten into an address its reverse refused).
                if table is Table.FORWARD and answer.status is Status.FOUND:
                    back = tables.lookup(STATE, Table.REVERSE, answer.text)
                    if back.status is not Status.FOUND:
                        raise AssertionError(f"{event.key!r} -> {answer.text!r} -> {back}")
                out.append(codec.encode(answer))
            else:
                out.append(codec.encode(codec.malformed_answer(event)))
    return out


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    table = Table.FORWARD if fdp.ConsumeBool() else Table.REVERSE
    cuts = sorted(fdp.ConsumeIntInRange(0, 4096) for _ in range(fdp.ConsumeIntInRange(0, 8)))
    payload = fdp.ConsumeBytes(fdp.remaining_bytes())
    whole = serve([payload], table)
    for reply in whole:
        if len(reply) > MAX_REPLY or not reply.endswith(b"\n") or b"\n" in reply[:-1]:
            raise AssertionError(f"bad reply {reply!r}")
        if reply[:4] not in (b"200 ", b"500 "):
            raise AssertionError(f"bad status {reply!r}")
    bounds = [0, *(c for c in cuts if c < len(payload)), len(payload)]
    chunked = serve([payload[a:b] for a, b in itertools.pairwise(bounds)], table)
    if chunked != whole:
        raise AssertionError("replies depend on how the input was split")
    if len(payload) <= 256 and serve([bytes((b,)) for b in payload], table) != whole:
        raise AssertionError("byte-by-byte feeding changed the replies")


def main() -> None:
    argv = list(sys.argv)
    if not any(a.startswith("-max_total_time") or a.startswith("-runs") for a in argv[1:]):
        argv.append("-max_total_time=60")
    if not any(not a.startswith("-") for a in argv[1:]):
        argv += [tempfile.mkdtemp(prefix="pysrsd-fuzz-"), str(Path(__file__).parent / "seeds")]
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
