"""The forwarded-only Postfix layout: the envelope sender is rewritten only on the copies of a
message that leave the host, decided after every alias expansion, by a second pass through
Postfix that only those copies take. pysrsd is the same map as in the plain layout.

    first pass  smtpd, pickup → cleanup (virtual aliases, the reverse map) → queue → qmgr:
                local copies go to local(8) (aliases(5) and .forward re-submit their copies
                to cleanup, so they come back here), copies for other hosts go by
                default_transport and relay_transport = pysrsd-hop:[127.0.0.1]:PORT
    the hop     the smtp client pysrsd-hop → smtpd on 127.0.0.1:PORT (loopback clients only;
                no alias expansion, recipient checks, header checks or milters: the first
                pass did them) → cleanup pysrsd-cleanup (sender_canonical_maps = the forward
                map, nothing else mapped) → queue, with content_filter = smtp:$relayhost
    out         smtp to $relayhost, or to the recipient domain's MX when it is empty
                (default_filter_nexthop): the filter bypasses the routing that chose the
                hop, so a copy takes it once and nothing loops

qmgr splits a message by transport, so each recipient's copy is decided on its own. A map
failure in pysrsd-cleanup makes cleanup refuse the copy (451 at the end of DATA): it stays
queued with the sender it had and is retried, and never leaves unrewritten. Address probes
(reject_unverified_recipient) go straight out by the transports the hop replaced. The reverse
map stays in main.cf, asked only for addresses that look like SRS ones, so that mail to
other recipients does not wait for pysrsd.

Planned against the configuration found (``postconf.Edit``): the setup's commands and the
check's problems are the same list.
"""

from __future__ import annotations

import re

from pysrsd.ctl import layout
from pysrsd.ctl.postconf import Edit, Postfix, Service, parameter, removal, service, split_maps
from pysrsd.errors import ConfigError

HOP = "pysrsd-hop"
CLEANUP = "pysrsd-cleanup"
PORT = 10004
_LOG = ("syslog_name", f"postfix/{HOP}")
# What could be an SRS address ("SRS0=", "srs1+", quoted or not): regexp tables ignore case.
# The value is given on to the reverse map whole; "$$" is main.cf's "$".
SRS_ADDRESS = '/^("?srs[01][-+=].*)/ $${1}'
_FILTERED = re.compile(r"^pipemap:\{regexp:\{\{.*\}\}, (.*)\}$")


def transport(port: int) -> str:
    return f"{HOP}:[127.0.0.1]:{port}"


def filtered(reverse: str) -> str:
    """The reverse map, asked only for what could be an SRS address."""
    return f"pipemap:{{regexp:{{{{{SRS_ADDRESS}}}}}, {reverse}}}"


def unfiltered(value: str) -> str:
    """The reverse map inside ``filtered``'s form (``value`` itself if it is not that)."""
    found = _FILTERED.match(value)
    return found.group(1) if found else value


def services(forward: str, port: int) -> list[Service]:
    client = Service(
        HOP,
        "unix",
        ("-", "-", "-", "-", "smtp"),
        "smtp/unix",
        (
            _LOG,
            # nothing meant for the last hop is spent on the loopback one
            ("smtp_tls_security_level", "none"),
            ("smtp_sasl_auth_enable", "no"),
            ("smtp_bind_address", ""),
            ("smtp_bind_address6", ""),
            ("smtp_generic_maps", ""),
            ("smtp_header_checks", ""),
            ("smtp_mime_header_checks", ""),
            ("smtp_nested_header_checks", ""),
            ("smtp_body_checks", ""),
            # never around the hop: a copy that cannot take it waits in the queue
            ("smtp_fallback_relay", ""),
        ),
        "the hop's client",
    )
    return [client, _listener(port), _cleanup(forward)]


def _listener(port: int) -> Service:
    checks = "no_unknown_recipient_checks,no_header_body_checks,no_milters"
    return Service(
        f"127.0.0.1:{port}",
        "inet",
        ("n", "-", "-", "-", "smtpd"),
        "smtp/inet",
        (
            _LOG,
            ("cleanup_service_name", CLEANUP),
            ("content_filter", "smtp:$relayhost"),
            ("receive_override_options", checks),
            ("mynetworks", "127.0.0.0/8"),
            ("smtpd_client_restrictions", ""),
            ("smtpd_helo_restrictions", ""),
            ("smtpd_sender_restrictions", ""),
            ("smtpd_relay_restrictions", "permit_mynetworks,reject"),
            ("smtpd_recipient_restrictions", "permit_mynetworks,reject"),
            ("smtpd_data_restrictions", ""),
            ("smtpd_end_of_data_restrictions", ""),
            ("smtpd_reject_unlisted_sender", "no"),
            ("smtpd_tls_security_level", "none"),
            ("smtpd_sasl_auth_enable", "no"),
            ("smtpd_proxy_filter", ""),
            ("smtpd_upstream_proxy_protocol", ""),
            # headers stay as the first pass left them
            ("local_header_rewrite_clients", ""),
        ),
        "the hop's listener",
    )


def _cleanup(forward: str) -> Service:
    return Service(
        CLEANUP,
        "unix",
        ("n", "-", "-", "0", "cleanup"),
        "cleanup/unix",
        (
            _LOG,
            ("sender_canonical_maps", forward),
            ("sender_canonical_classes", "envelope_sender"),
            # done in the first pass; twice would reverse or copy twice
            ("recipient_canonical_maps", ""),
            ("canonical_maps", ""),
            ("virtual_alias_maps", ""),
            ("masquerade_domains", ""),
            ("always_bcc", ""),
            ("sender_bcc_maps", ""),
            ("recipient_bcc_maps", ""),
        ),
        "the hop's cleanup, which rewrites the sender",
    )


def plan(postfix: Postfix, forward: str, reverse: str, port: int = PORT) -> list[Edit]:
    """The edits that make ``postfix``'s configuration the forwarded-only layout."""
    _refuse_what_the_hop_would_break(postfix)
    edits = [service(postfix, wanted) for wanted in services(forward, port)]
    hop = transport(port)
    out = "copies for other hosts would leave without taking the SRS hop"
    edits.append(parameter(postfix, "default_transport", hop, out))
    edits.append(_probes(postfix, "default", "smtp"))
    relay = postfix.get("relay_transport")
    if not postfix.explicit("relay_transport") or relay.startswith(f"{HOP}:"):
        edits.append(parameter(postfix, "relay_transport", hop, out + " (relay_domains)"))
        edits.append(_probes(postfix, "relay", "relay"))
    else:  # the administrator's own choice, e.g. a backup MX that keeps senders
        edits.append(Edit(f"main.cf: relay_transport = {relay} kept: relay_domains keep senders"))
    reverse_map = filtered(reverse)
    why = "wanted: the reverse map, asked only for addresses that look like SRS ones"
    edits.append(parameter(postfix, "recipient_canonical_maps", reverse_map, why))
    classes = "envelope_recipient, header_recipient"
    why = "bounces need both: the envelope recipient and the To: header"
    edits.append(parameter(postfix, "recipient_canonical_classes", classes, why))
    plain = {layout.maps(socketmap)[0] for socketmap in (False, True)}
    edits.append(_global_sender_map(postfix, {forward, *plain}))
    return edits


def _probes(postfix: Postfix, kind: str, direct: str) -> Edit:
    """Address probes keep the transport the hop replaced (the hop would accept anything)."""
    name = f"address_verify_{kind}_transport"
    found = postfix.get(name)
    if f"${kind}_transport" not in found and f"{HOP}:" not in found:
        return Edit(f"main.cf: {name} = {found}")
    return parameter(postfix, name, direct, "address probes would take the hop, which accepts all")


def _global_sender_map(postfix: Postfix, ours: set[str]) -> Edit:
    found = split_maps(postfix.get("sender_canonical_maps"))
    rest = [table for table in found if table not in ours]
    why = "every sender, local mail included, would be rewritten"
    if rest == found:
        return Edit("main.cf: sender_canonical_maps has no pysrsd map (the hop has it)")
    if rest:
        return parameter(postfix, "sender_canonical_maps", ", ".join(rest), why)
    return removal(postfix, "sender_canonical_maps", why)


def _refuse_what_the_hop_would_break(postfix: Postfix) -> None:
    """Copies leave the hop by smtp:$relayhost; a setting that routes them elsewhere first
    would be lost, so setup stops rather than change where mail goes."""
    default = postfix.get("default_transport")
    if default not in ("smtp", "smtp:") and not default.startswith(f"{HOP}:"):
        raise ConfigError(
            f"forwarded-only layout: default_transport = {default}, but copies leave the SRS "
            "hop by smtp:$relayhost; set relayhost instead (postconf -e 'relayhost = ...')"
        )
    if postfix.get("default_filter_nexthop"):
        raise ConfigError(
            "forwarded-only layout: default_filter_nexthop is set, but with relayhost empty "
            "copies must leave the SRS hop for the recipient domain (postconf -X it)"
        )
    if postfix.get("sender_dependent_relayhost_maps"):
        raise ConfigError(
            "forwarded-only layout: sender_dependent_relayhost_maps is set, but copies leave "
            "the SRS hop by smtp:$relayhost, whoever the sender"
        )
