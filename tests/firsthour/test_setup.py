"""``pysrsctl setup`` as root in a scratch root (see ``scratch``): what it makes, with which
owner and mode; that a second run changes nothing and never touches the secret; that
``--dry-run`` changes nothing at all; and the systemd route with ``--postfix``."""

from __future__ import annotations

import sys
from pathlib import Path

from scratch import ROOT, in_private_network, require_scratch_root, run_as_root, values

# pysrsctl from this checkout, with the interpreter the tests run on
PYSRSCTL = f"PYTHONPATH={ROOT / 'src'} {sys.executable} -m pysrsd.ctl"
STAT = "stat -c '%U:%G %a'"


def layout_report() -> str:
    """Print the layout as @KEY=value lines."""
    return f"""
echo "@account=$(getent passwd pysrsd | cut -d: -f6,7)"
echo "@etc=$({STAT} /etc/pysrsd)"
echo "@config=$({STAT} /etc/pysrsd/pysrsd.toml)"
echo "@secrets=$({STAT} /etc/pysrsd/secrets)"
echo "@secret_sum=$(sha256sum < /etc/pysrsd/secrets | cut -c1-16)"
echo "@state=$({STAT} /var/lib/pysrsd)"
"""


def test_setup_makes_the_layout_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    require_scratch_root()
    script = f"""
{PYSRSCTL} setup forwarder.example > /tmp/first.out
cat /tmp/first.out
{layout_report()}
{PYSRSCTL} setup forwarder.example > /tmp/second.out
echo "@second_doing=$(grep -c '^doing' /tmp/second.out || true)"
echo "@secret_sum_after=$(sha256sum < /etc/pysrsd/secrets | cut -c1-16)"
echo "@config_domain=$(grep '^domain' /etc/pysrsd/pysrsd.toml)"
echo "@config_exclude=$(grep '^exclude-file' /etc/pysrsd/pysrsd.toml)"
echo "@exclude=$(grep -v '^#' /etc/pysrsd/exclude | tr '\\n' ' ')"
echo "@own=$(postconf -x -h mydestination myhostname | tr ',\\n' '  ')"
{PYSRSCTL} check > /dev/null && echo "@check=ok"
"""
    result = run_as_root(script, tmp_path / "scratch")
    assert result.returncode == 0, result.stdout + result.stderr
    found = values(result.stdout)
    assert found["account"] == "/nonexistent:/usr/sbin/nologin"
    assert found["etc"] == "root:root 755"
    assert found["config"] == "root:root 644"
    assert found["secrets"] == "root:pysrsd 640"
    assert found["state"] == "pysrsd:pysrsd 750"
    assert found["second_doing"] == "0"
    assert found["secret_sum_after"] == found["secret_sum"]
    assert found["config_domain"] == 'domain = "forwarder.example"'
    assert found["config_exclude"] == 'exclude-file = "/etc/pysrsd/exclude"'
    assert found["exclude"].split() == list(dict.fromkeys(found["own"].split()))
    assert "$mydestination and $myhostname" in result.stdout  # says which and why
    assert found["check"] == "ok"
    assert "/etc/pysrsd/secrets" not in result.stderr


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    require_scratch_root()
    scratch = tmp_path / "scratch"
    files = f"find {scratch}/upper* -mindepth 1 -not -path '*/root/.cache*'"
    changes = f"({files} | sort; {files} -type f -exec md5sum {{}} + | sort) | md5sum"
    script = f"""
echo "@before=$({changes})"
{PYSRSCTL} setup forwarder.example --systemd --socketmap --postfix --dry-run
echo "@after=$({changes})"
"""
    result = run_as_root(script, scratch)
    assert result.returncode == 0, result.stdout + result.stderr
    # what the scratch root's own preparation wrote (a host's pysrsd account removed from
    # its overlays, say) is there before: the dry run adds nothing to it
    found = values(result.stdout)
    assert found["after"] == found["before"]
    steps = [line for line in result.stdout.splitlines() if line.startswith("would")]
    assert len(steps) >= 10  # account, files, units, enable, backup, postconf, check
    assert "dry run: nothing was changed" in result.stdout
    assert "would   write /etc/pysrsd/exclude root:root 0644: " in result.stdout


def test_systemd_route_with_postfix_and_socketmap(tmp_path: Path) -> None:
    """Units installed and enabled (offline: links), verified by systemd with the real
    program path; main.cf backed up, edited and checked; the socketmap socket reachable by
    Postfix's account at the path main.cf names relative to the queue directory."""
    require_scratch_root()
    script = f"""
cp /etc/postfix/main.cf /tmp/main.cf.before
{PYSRSCTL} setup forwarder.example --systemd --socketmap --postfix
printf '#!/bin/sh\\nexit 0\\n' > /usr/local/sbin/pysrsd; chmod 755 /usr/local/sbin/pysrsd
install -D -m 644 -t /usr/local/share/man/man8 man/pysrsd.8 man/pysrsctl.8  # as install.sh
cd /etc/systemd/system
echo "@verify=$(systemd-analyze verify pysrsd.service pysrsd-*.socket 2>&1 | tr '\\n' ' ')"
echo "@wants=$(ls /etc/systemd/system/sockets.target.wants | tr '\\n' ' ')"
echo "@backup=$(ls /etc/postfix | grep -c '^main.cf.pysrsd-')"
backup=$(ls /etc/postfix/main.cf.pysrsd-* | head -1)
cmp -s /tmp/main.cf.before "$backup" && echo "@backup_same=yes"
echo "@maps=$(postconf -h sender_canonical_maps recipient_canonical_maps | tr '\\n' ' ')"
echo "@sockdir=$({STAT} /var/spool/postfix/pysrsd)"
rm /usr/local/sbin/pysrsd
"""
    socketmap = f"""
PYTHONPATH={ROOT / "src"} {sys.executable} -m pysrsd > /tmp/pysrsd.log 2>&1 &
daemon=$!
for i in $(seq 100); do [ -S /var/spool/postfix/pysrsd/socketmap ] && break; sleep 0.1; done
cd /var/spool/postfix
echo "@as_postfix=$(setpriv --reuid postfix --regid postfix --init-groups \\
    postmap -q alice@example.com socketmap:unix:pysrsd/socketmap:forward)"
echo "@sock=$({STAT} /var/spool/postfix/pysrsd/socketmap)"
kill $daemon; wait $daemon || true
"""
    result = run_as_root(script + in_private_network(socketmap), tmp_path / "scratch")
    assert result.returncode == 0, result.stdout + result.stderr
    found = values(result.stdout)
    assert found["verify"] == ""
    assert found["wants"].split() == [
        "pysrsd-forward.socket",
        "pysrsd-reverse.socket",
        "pysrsd-socketmap.socket",
    ]
    assert (found["backup"], found.get("backup_same")) == ("1", "yes")
    assert found["maps"].split() == [
        "socketmap:unix:pysrsd/socketmap:forward",
        "socketmap:unix:pysrsd/socketmap:reverse",
    ]
    assert found["sockdir"] == "pysrsd:postfix 2750"
    assert found["as_postfix"].startswith("SRS0=")
    assert found["sock"] == "pysrsd:postfix 660"  # started as root, then user = "pysrsd"
    assert found["as_postfix"].endswith("=example.com=alice@forwarder.example")


def test_forwarded_only_route_on_debians_postfix_after_the_plain_one(tmp_path: Path) -> None:
    """From the plain layout to the forwarded-only one on the system's own Postfix
    configuration: setup backs up both files before editing, postfix check passes, the global
    sender map goes, a second run changes nothing; check says the layout is complete, and
    once the hop's listener is removed, fails and prints the command that puts it back."""
    require_scratch_root()
    script = f"""
cp /etc/postfix/main.cf /tmp/main.cf.before; cp /etc/postfix/master.cf /tmp/master.cf.before
{PYSRSCTL} setup forwarder.example --postfix > /dev/null
{PYSRSCTL} setup forwarder.example --forwarded-only --postfix > /tmp/first.out
echo "@first=$(grep -c '^doing   postconf' /tmp/first.out)"
echo "@checked=$(grep -c '^doing   postfix check' /tmp/first.out)"
{PYSRSCTL} setup forwarder.example --forwarded-only --postfix > /tmp/second.out
echo "@second=$(grep -c '^doing' /tmp/second.out || true)"
cmp -s /tmp/master.cf.before "$(ls /etc/postfix/master.cf.pysrsd-* | head -1)" && echo "@kept=yes"
echo "@sender_maps=$(postconf -h sender_canonical_maps)"
echo "@transport=$(postconf -h default_transport)"
{PYSRSCTL} check > /tmp/check.out && echo "@check=$(grep '^postfix:' /tmp/check.out)"
postconf -MX 127.0.0.1:10004/inet
{PYSRSCTL} check > /tmp/broken.out || echo "@broken=$?"
echo "@fix=$(grep -c "postconf -M '127.0.0.1:10004/inet = " /tmp/broken.out)"
"""
    result = run_as_root(script, tmp_path / "scratch")
    assert result.returncode == 0, result.stdout + result.stderr
    found = values(result.stdout)
    assert int(found["first"]) > 10 and found["checked"] == "1", result.stdout
    assert (found["second"], found.get("kept")) == ("0", "yes")
    assert (found["sender_maps"], found["transport"]) == ("", "pysrsd-hop:[127.0.0.1]:10004")
    assert (
        found["check"]
        == "postfix:     forwarded-only layout, complete (SRS hop on 127.0.0.1:10004)"
    )
    assert (found.get("broken"), found["fix"]) == ("2", "1")


def test_socketmap_added_to_an_existing_tcp_install_under_daemontools(tmp_path: Path) -> None:
    """The reported case: a tcp_table-only install running under daemontools, then
    ``setup --socketmap --postfix``. The config file gains the endpoint (the admin's lines
    kept), the daemon is restarted and answers on it before main.cf names it; health probes
    what main.cf names; a second run changes nothing; the daemon down is CRITICAL."""
    require_scratch_root()
    checkout = f"PYTHONPATH={ROOT / 'src'} exec {sys.executable} -m pysrsd"
    script = f"""
mkdir -p /etc/service
{PYSRSCTL} setup forwarder.example --daemontools /etc/service > /dev/null
printf '#!/bin/sh\\n{checkout} "$@"\\n' > /usr/local/sbin/pysrsd; chmod 755 /usr/local/sbin/pysrsd
# started as root (the interpreter is under /root); user = "pysrsd" in the config drops to it
printf '#!/bin/sh\\nexec 2>&1\\nexec envdir ./env /usr/local/sbin/pysrsd\\n' \\
    > /etc/pysrsd/service/run
echo '# the admin was here' >> /etc/pysrsd/pysrsd.toml
svscan /etc/service > /tmp/svscan.log 2>&1 &
scanner=$!
for i in $(seq 150); do {PYSRSCTL} health > /dev/null 2>&1 && break; sleep 0.2; done
echo "@before=$({PYSRSCTL} health)"
{PYSRSCTL} setup forwarder.example --daemontools /etc/service --socketmap --postfix --dry-run \\
    > /tmp/dry.out
echo "@dry=$(grep -c '^would   add to /etc/pysrsd/pysrsd.toml: socketmap' /tmp/dry.out)"
{PYSRSCTL} setup forwarder.example --daemontools /etc/service --socketmap --postfix > /tmp/run.out
cat /tmp/run.out
echo "@restart=$(grep -c '^doing   svc -t /etc/pysrsd/service, then wait' /tmp/run.out)"
echo "@kept=$(grep -c '^# the admin was here$' /etc/pysrsd/pysrsd.toml)"
echo "@socketmap=$(grep '^socketmap' /etc/pysrsd/pysrsd.toml)"
echo "@socket=$(stat -c '%U:%G %a' /var/spool/postfix/pysrsd/socketmap)"
echo "@maps=$(postconf -h sender_canonical_maps)"
echo "@health=$({PYSRSCTL} health)"
cd /var/spool/postfix
echo "@as_postfix=$(setpriv --reuid postfix --regid postfix --init-groups \\
    postmap -q alice@example.com socketmap:unix:pysrsd/socketmap:forward)"
cd /
sleep 0.5
echo "@rewrites=$({PYSRSCTL} rewrites alice@example.com | cut -d' ' -f2-)"
echo "@listening=$(grep -c "event='listening' table='socketmap' \
address='unix:/var/spool/postfix/pysrsd/socketmap'" /var/log/pysrsd/current)"
{PYSRSCTL} setup forwarder.example --daemontools /etc/service --socketmap --postfix > /tmp/again.out
echo "@again=$(grep -c '^doing' /tmp/again.out || true)"
svc -d /etc/pysrsd/service
for i in $(seq 50); do [ -S /var/spool/postfix/pysrsd/socketmap ] || break; sleep 0.2; done
{PYSRSCTL} health > /tmp/down.out || echo "@down_rc=$?"
echo "@down=$(cat /tmp/down.out)"
svc -dx /etc/pysrsd/service /etc/pysrsd/service/log
kill $scanner; wait $scanner || true
"""
    result = run_as_root(in_private_network(script), tmp_path / "scratch")
    assert result.returncode == 0, result.stdout + result.stderr
    found = values(result.stdout)
    assert found["before"].startswith("PYSRSD OK: tcp_table 127.0.0.1 "), result.stdout
    assert (found["dry"], found["restart"], found["kept"]) == ("1", "1", "1"), result.stdout
    assert found["socketmap"] == 'socketmap = ["unix:/var/spool/postfix/pysrsd/socketmap"]'
    assert found["socket"] == "pysrsd:postfix 660"
    assert found["maps"] == "socketmap:unix:pysrsd/socketmap:forward"
    health = found["health"]
    assert health.startswith("PYSRSD OK: tcp_table 127.0.0.1 "), health
    assert "socketmap unix:/var/spool/postfix/pysrsd/socketmap " in health
    assert "postfix main.cf sender_canonical_maps socketmap:unix:pysrsd/socketmap:forward " in (
        health
    )
    assert found["as_postfix"].endswith("=example.com=alice@forwarder.example")
    assert found["again"] == "0", result.stdout
    assert found["rewrites"] == f"forward alice@example.com -> {found['as_postfix']}"
    assert found["listening"] == "1"  # the socket's path, not "unix:socket"
    assert found["down_rc"] == "2"
    assert found["down"].startswith("PYSRSD CRITICAL: ")
    assert (
        "socketmap:unix:pysrsd/socketmap:reverse 0.0 ms down (unix:/var/spool/" in (found["down"])
    )


def test_health_finds_the_forwarded_only_layouts_maps(tmp_path: Path) -> None:
    """After ``setup --forwarded-only --postfix``, health probes the hop's cleanup override
    and the wrapped reverse map; with the daemon stopped, it names them CRITICAL."""
    require_scratch_root()
    script = f"""
{PYSRSCTL} setup forwarder.example --forwarded-only --postfix > /dev/null
PYTHONPATH={ROOT / "src"} {sys.executable} -m pysrsd > /tmp/pysrsd.log 2>&1 &
daemon=$!
for i in $(seq 100); do {PYSRSCTL} health > /dev/null 2>&1 && break; sleep 0.1; done
echo "@health=$({PYSRSCTL} health)"
kill $daemon; wait $daemon || true
{PYSRSCTL} health > /tmp/down.out || echo "@down_rc=$?"
echo "@down=$(cat /tmp/down.out)"
"""
    result = run_as_root(in_private_network(script), tmp_path / "scratch")
    assert result.returncode == 0, result.stdout + result.stderr
    found = values(result.stdout)
    health = found["health"]
    assert health.startswith("PYSRSD OK: tcp_table 127.0.0.1 "), health
    hop = "postfix master.cf pysrsd-cleanup/unix sender_canonical_maps tcp:127.0.0.1:10001 "
    assert hop in health
    assert "postfix main.cf recipient_canonical_maps tcp:127.0.0.1:10002 " in health
    assert found["down_rc"] == "2"
    down = found["down"].split(", ")
    assert next(part for part in down if part.startswith(hop)).endswith(
        " down (127.0.0.1: Connection refused)"
    ), down


def test_a_port_moved_by_the_daemontools_env_stops_setup_before_main_cf(tmp_path: Path) -> None:
    """A daemontools install whose env/ moves the forward port: ``setup --postfix`` would point
    Postfix at 10001, where nothing listens. It stops (exit 2) naming the file, and main.cf is
    unchanged; once the file agrees, the same command goes through."""
    require_scratch_root()
    script = f"""
mkdir -p /etc/service
{PYSRSCTL} setup forwarder.example --daemontools /etc/service > /dev/null
echo 20001 > /etc/pysrsd/service/env/PYSRSD_FORWARD_PORT
before=$(postconf -h sender_canonical_maps)
{PYSRSCTL} setup forwarder.example --daemontools /etc/service --postfix > /tmp/out 2> /tmp/err \\
    || echo "@rc=$?"
echo "@err=$(cat /tmp/err)"
echo "@unchanged=$([ "$(postconf -h sender_canonical_maps)" = "$before" ] && echo yes)"
echo 10001 > /etc/pysrsd/service/env/PYSRSD_FORWARD_PORT
{PYSRSCTL} setup forwarder.example --daemontools /etc/service --postfix > /dev/null \\
    && echo "@then=$(postconf -h sender_canonical_maps)"
"""
    result = run_as_root(script, tmp_path / "scratch")
    assert result.returncode == 0, result.stdout + result.stderr
    found = values(result.stdout)
    assert found["rc"] == "2", result.stdout
    assert found["err"].startswith(
        "pysrsctl: setup: /etc/pysrsd/service/env/PYSRSD_FORWARD_PORT sets "
        "PYSRSD_FORWARD_PORT='20001', not 10001"
    ), found["err"]
    assert found["unchanged"] == "yes"
    assert found["then"] == "tcp:127.0.0.1:10001"
