r"""The prose of the man pages (roff), beside the generated OPTIONS and ENVIRONMENT.

Kept apart from ``manpage`` (the generator) so that each stays short; edit here, then run
``python -m pysrsd.ctl.manpage`` and commit ``man/``. Plain man(7) markup only.
"""

from __future__ import annotations

DAEMON_SYNOPSIS = r"""\fBpysrsd\fR [\fIOPTIONS\fR] [\fIDOMAIN\fR [\fISECRETS\fR]]"""

DAEMON_DESCRIPTION = r"""\fBpysrsd\fR rewrites envelope senders with the Sender Rewriting
Scheme (SRS) so that mail forwarded by Postfix passes SPF at the next hop, and turns bounces
to those rewritten addresses back into the original senders.
.PP
It serves two Postfix \fBtcp_table\fR(5) tables on 127.0.0.1: the \fIforward\fR table
(port 10001, for \fBsender_canonical_maps\fR) and the \fIreverse\fR table (port 10002, for
\fBrecipient_canonical_maps\fR); with \fB\-\-socketmap\fR, the same two maps over
\fBsocketmap_table\fR(5) as \fIforward\fR and \fIreverse\fR.
.PP
.nf
sender_canonical_maps = tcp:127.0.0.1:10001
sender_canonical_classes = envelope_sender
recipient_canonical_maps = tcp:127.0.0.1:10002
recipient_canonical_classes = envelope_recipient, header_recipient
.fi
.PP
A sender is rewritten to SRS0 (or SRS1 for an address already rewritten elsewhere) at
\fIDOMAIN\fR unless the exclusion map names it or it is already at \fIDOMAIN\fR. A recipient
at \fIDOMAIN\fR is reversed when its hash verifies with one of the secrets and it is not older
than \fB\-\-max\-age\fR days; anything else is "not found" (500), never a temporary failure.
.PP
Settings come from the command line, then \fBPYSRSD_\fR* variables, then the TOML config
file, then the defaults. A mistake stops the daemon before it listens, with one line naming
the flag, the variable, or the file and line, and a suggestion for a misspelt key.
.PP
\fBpysrsd\fR stays in the foreground and logs one event per line on standard error
(\fIkey=value\fR or JSON), for daemontools or systemd: each rewrite and each refused SRS
bounce (bad hash, expired, malformed) at info, the latter at most 10 lines a minute followed
by one summary line with counts; ordinary recipients are logged only at debug. It never logs
a secret. The lookups of \fBpysrsctl health\fR's probe address are logged at debug.
.PP
While \fBpysrsd\fR is not running, Postfix cannot look the tables up and defers the mail
concerned (451 4.3.0 "Temporary lookup failure"); nothing is lost, but monitor it with
\fBpysrsctl health\fR."""

DAEMON = (
    (
        "FILES",
        r""".TP
\fB/etc/pysrsd/pysrsd.toml\fR
The config file (root:root 0644), read when it exists or as named by \fB\-\-config\fR or
\fBPYSRSD_CONFIG\fR. A flat TOML table whose keys are the long option names, with \- or _:
\fBsecrets\-file = "/etc/pysrsd/secrets"\fR.
.TP
\fB/etc/pysrsd/secrets\fR
The secrets file (root:pysrsd 0640: the daemon reads it and cannot write it). One secret
per line; the first one signs, every one verifies. Rotate with \fBpysrsctl genkey \-\-rotate\fR.
.TP
\fB/var/lib/pysrsd/\fR
The envelope database (pysrsd:pysrsd 0750), with \fB\-\-original\-envelope database\fR or
\fBauto\fR.
.TP
\fB/etc/pysrsd/redis\-password\fR
For a Redis envelope database with a password: the file named by
\fB\-\-envelope\-database\-password\-file\fR (root:pysrsd 0640, like the secrets file), whose
first line is the password, so that it is neither in the config file nor on the command line.
A URI is only ever shown with its credentials as \fB***\fR.""",
    ),
    (
        "SIGNALS",
        r""".TP
\fBSIGHUP\fR
Read the configuration again (the config file and the environment the daemon started with,
under the same command line) and apply every setting that needs no new socket: the domain,
the separator, the hash and stamp settings, \fBalways\-rewrite\fR, \fBreverse\-any\-domain\fR,
the secrets file and the exclusion map, \fBoriginal\-envelope\fR, the log level and format,
\fBidle\-timeout\fR, \fBmax\-connections\fR and \fBmax\-line\fR. A changed setting that needs a
restart keeps its value and is named in the reload's log line (\fIrestart_needed\fR). A
configuration that does not validate changes nothing. The secrets file and the exclusion map
are also read when they change, once they have been still for a second; a secrets file that
keeps none of the secrets in use is taken only on \fBSIGHUP\fR. A file that cannot be read
keeps its last good contents; the reload is then logged as \fIreload_failed\fR, saying what
was kept, instead of \fIreloaded\fR.
.TP
\fBSIGTERM\fR, \fBSIGINT\fR
Stop listening, answer the queries already read, and exit 0. A second signal exits at
once.""",
    ),
    (
        "EXIT STATUS",
        r""".TP
\fB0\fR
Stopped cleanly (SIGTERM or SIGINT).
.TP
\fB1\fR
Stopped at once by a second signal while stopping, or an unexpected fault (a traceback on
standard error).
.TP
\fB2\fR
Bad configuration, or a socket that cannot be opened (for example an address already in
use): one line on standard error naming the setting; nothing listens.""",
    ),
    (
        "SEE ALSO",
        r"""\fBpysrsctl\fR(8), \fBpostconf\fR(5), \fBcanonical\fR(5), \fBtcp_table\fR(5),
\fBsocketmap_table\fR(5), \fBpostmap\fR(1)""",
    ),
)

CTL_SYNOPSIS = r"""\fBpysrsctl\fR \fICOMMAND\fR [\fIOPTIONS\fR] [\fIARGUMENT\fR]
\fBpysrsctl\fR \fB\-\-version\fR"""

CTL_DESCRIPTION = r"""\fBpysrsctl\fR is the administrator's tool beside \fBpysrsd\fR(8).
Its commands that need settings read them as the daemon does: options, \fBPYSRSD_\fR*
variables, then the config file. \fBforward\fR and \fBreverse\fR rewrite one address
offline with the daemon's policy;
\fBgenkey\fR writes or rotates the secrets file; \fBcheck\fR validates the configuration and
the files it names; \fBquery\fR asks a running daemon over tcp_table; \fBhealth\fR forwards a
probe address through the running daemon and reverses it, over every configured endpoint and
every map Postfix is configured to ask (\fBpostconf\fR(1): main.cf and master.cf overrides),
and answers as a monitoring plugin; \fBrewrites\fR lists the rewrites in the daemon's log;
\fBsetup\fR builds the layout, adding to an existing config file only what it lacks, and
stops before changing Postfix when a \fBPYSRSD_*\fR variable in \fB/etc/default/pysrsd\fR or
the daemontools service's \fBenv/\fR would move a listener away from where it points Postfix.
\fBmigrate\-from postsrsd\fR writes pysrsd's config file,
secrets file (postsrsd's secret first, so it keeps signing) and exclusion map from postsrsd
1.x's \fB/etc/default/postsrsd\fR; a file that differs is never replaced without
\fB\-\-replace\fR (exit status 2, each difference printed)."""

CTL = (
    (
        "FILES",
        r""".TP
\fB/etc/pysrsd/pysrsd.toml\fR
The daemon's config file, read by the commands that need settings.
.TP
\fB/etc/pysrsd/secrets\fR
The secrets file that \fBgenkey\fR writes (root:pysrsd 0640).
.TP
\fB/etc/pysrsd/exclude\fR
The exclusion map that \fBsetup\fR writes: the host's own domains (Postfix's
\fB$mydestination\fR and \fB$myhostname\fR).
.TP
\fB/var/log/pysrsd/current\fR
The daemon's log under daemontools, read by \fBrewrites\fR (else the journal).""",
    ),
    (
        "SIGNALS",
        r"""\fBpysrsctl\fR sends no signal. After \fBgenkey \-\-rotate\fR the daemon notices the
change within a second; \fBkill \-HUP\fR makes it re-read at once.""",
    ),
    (
        "EXIT STATUS",
        r""".TP
\fB0\fR
Rewritten, found, or valid.
.TP
\fB1\fR
Not rewritten or not found.
.TP
\fB2\fR
Bad configuration or usage.
.TP
\fB3\fR
Temporary failure, or the daemon cannot be reached.
.PP
\fBhealth\fR answers as monitoring plugins do: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.""",
    ),
    ("SEE ALSO", r"""\fBpysrsd\fR(8), \fBpostconf\fR(5), \fBtcp_table\fR(5)"""),
)
