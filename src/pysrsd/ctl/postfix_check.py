"""``pysrsctl check``'s Postfix part: which layout the local Postfix configuration holds and,
for the forwarded-only layout, every piece missing or wrong with the ``postconf`` commands that
fix it: the very commands ``pysrsctl setup --forwarded-only --postfix`` would run.

The layout is forwarded-only as soon as one of its pieces is there (default_transport names the
hop, or master.cf has one of its services). The maps are taken from what is there (the hop's
cleanup, main.cf's reverse map), else from the daemon's settings, so a layout built for other
ports or for socketmap is checked as it is.
"""

from __future__ import annotations

import re
import shlex

from pysrsd.config.settings import Settings
from pysrsd.ctl import forwarded, layout
from pysrsd.ctl.postconf import Postfix, split_maps

_PORT = re.compile(r":\[127\.0\.0\.1\]:(\d+)$")


def report(settings: Settings, postfix: Postfix) -> bool:
    """Print the Postfix lines of the check; False when the layout is half-configured."""
    if not postfix.available():
        print("postfix:     not checked (no postconf, or no main.cf)")
        return True
    port = _hop_port(postfix)
    if port is None:
        print(f"postfix:     {_plain(postfix)}")
        return True
    forward, reverse = _maps(postfix, settings)
    problems = [edit for edit in forwarded.plan(postfix, forward, reverse, port) if edit.commands]
    if not problems:
        print(f"postfix:     forwarded-only layout, complete (SRS hop on 127.0.0.1:{port})")
        return True
    print("postfix:     forwarded-only layout, half-configured; fix (then: postfix reload):")
    for edit in problems:
        print(f"  {edit.problem}")
        for command in edit.commands:
            print(f"    {shlex.join(command)}")
    return False


def _hop_port(postfix: Postfix) -> int | None:
    default = postfix.get("default_transport")
    found = _PORT.search(default)
    if default.startswith(f"{forwarded.HOP}:") and found:
        return int(found.group(1))
    for key in postfix.services_with("cleanup_service_name", forwarded.CLEANUP):
        name = key.partition("/")[0]
        if name.startswith("127.0.0.1:") and name[10:].isdigit():
            return int(name[10:])
    ours = (f"{forwarded.HOP}/unix", f"{forwarded.CLEANUP}/unix")
    return forwarded.PORT if any(postfix.service(key) for key in ours) else None


def _maps(postfix: Postfix, settings: Settings) -> tuple[str, str]:
    if any(endpoint.endswith("/" + layout.SOCKETMAP) for endpoint in settings.socketmap):
        forward, reverse = layout.maps(True)
    else:
        forward = f"tcp:127.0.0.1:{settings.forward_port}"
        reverse = f"tcp:127.0.0.1:{settings.reverse_port}"
    hop = postfix.options(f"{forwarded.CLEANUP}/unix").get("sender_canonical_maps")
    found = forwarded.unfiltered(postfix.get("recipient_canonical_maps"))
    return hop or forward, found or reverse


def _plain(postfix: Postfix) -> str:
    senders = split_maps(postfix.get("sender_canonical_maps"))
    recipients = split_maps(postfix.get("recipient_canonical_maps"))
    if senders and recipients:
        return f"plain layout: every sender rewritten by {', '.join(senders)}"
    return "no pysrsd maps in main.cf (pysrsctl setup DOMAIN --postfix writes them)"
