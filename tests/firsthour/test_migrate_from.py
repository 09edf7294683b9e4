"""``pysrsctl migrate-from postsrsd`` as root in a scratch root (see ``scratch``), on this
machine's own Debian postsrsd: its /etc/default/postsrsd (with a domain and exclusions set, as
an administrator sets them) and the secret its postinst made in /etc/postsrsd.secret.

The oracle is the real postsrsd, started by Debian's launcher on the documented ports in a
network namespace of its own: an address it mints before the switch must come back from
pysrsd after it, configured by the command alone. Also: ``--dry-run`` changes nothing, a
second run changes nothing, a secret already in /etc/pysrsd is kept when it is postsrsd's and
never replaced silently when it is not, and why the guide's switch reloads Postfix (a process
of postsrsd's that serves an open connection outlives the daemon it was forked from).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from harness import require
from scratch import ROOT, in_private_network, require_scratch_root, run_as_root, values

PYSRSCTL = f"PYTHONPATH={ROOT / 'src'} {sys.executable} -m pysrsd.ctl"
PYSRSD = f"PYTHONPATH={ROOT / 'src'} {sys.executable} -m pysrsd"
LAUNCHER = "/usr/share/postsrsd/postsrsd-systemd-launcher"
STAT = "stat -c '%U:%G %a'"
SETTINGS = """
cat >> /etc/default/postsrsd <<'EOF'
SRS_DOMAIN=forwarder.example
SRS_EXCLUDE_DOMAINS=".example.com,example.org example.net"
EOF
"""
# The writable layer's entries, which a dry run must leave as they are.
CHANGES = "find {scratch}/upper* -mindepth 1 -not -path '*/root/.cache*' | sort | md5sum"
WAIT_PORT = """
for i in $(seq 150); do
    answered=0; postmap -q probe@example.com tcp:127.0.0.1:{port} > /dev/null 2>&1 || answered=$?
    [ $answered -le 1 ] && break; sleep 0.1
done
"""


@pytest.fixture(autouse=True)
def _debian_postsrsd() -> None:
    require_scratch_root()
    require(LAUNCHER, "/etc/default/postsrsd", "/etc/postsrsd.secret", "postmap")


def test_migrated_pysrsd_reverses_what_postsrsd_minted_before_the_switch(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    serve = f"""
{LAUNCHER} > /tmp/postsrsd.log 2>&1 &
old=$!
{WAIT_PORT.format(port=10001)}
old_address=$(postmap -q alice@example.com tcp:127.0.0.1:10001)
echo "@old_address=$old_address"
echo "@old_excluded=$(postmap -q bob@sub.example.com tcp:127.0.0.1:10001 || true)"
exec 3<>/dev/tcp/127.0.0.1/10001  # a connection held open, as Postfix's cleanup holds one
echo "@dry_before=$({CHANGES.format(scratch=scratch)})"
{PYSRSCTL} migrate-from postsrsd --dry-run > /tmp/dry.out
echo "@dry_after=$({CHANGES.format(scratch=scratch)})"
grep -q "^would   install postsrsd's secret as /etc/pysrsd/secrets" /tmp/dry.out \\
    && echo @dry_says=yes
{PYSRSCTL} migrate-from postsrsd > /tmp/first.out
echo "@secrets=$({STAT} /etc/pysrsd/secrets)"
echo "@config=$({STAT} /etc/pysrsd/pysrsd.toml)"
echo "@exclude=$({STAT} /etc/pysrsd/exclude) $(tr '\\n' ' ' < /etc/pysrsd/exclude)"
echo "@secret_sum=$(head -c 32 /etc/pysrsd/secrets | md5sum)"
echo "@postsrsd_sum=$(md5sum < /etc/postsrsd.secret)"
sums() {{ md5sum /etc/pysrsd/* | md5sum; }}
first=$(sums)
{PYSRSCTL} migrate-from postsrsd > /tmp/second.out
echo "@second_doing=$(grep -c '^doing' /tmp/second.out || true)"
[ "$(sums)" = "$first" ] && echo @second_same=yes
# the switch: stop postsrsd by its pid; the process serving the open connection stays
kill $old; wait $old || true
for i in $(seq 100); do (exec 4<>/dev/tcp/127.0.0.1/10001) 2>/dev/null || break; sleep 0.1; done
printf 'get held@example.com\\n' >&3; read -r -t 5 held <&3 || true
echo "@held_after_stop=$held"
exec 3>&-
echo "accept-concatenated-before = $(date -u -d tomorrow +%F)" >> /etc/pysrsd/pysrsd.toml
{PYSRSCTL} migrate-from postsrsd > /tmp/third.out && echo @after_switch=ok
{PYSRSD} > /tmp/pysrsd.log 2>&1 &
new=$!
{WAIT_PORT.format(port=10002)}
fresh=$(postmap -q alice@example.com tcp:127.0.0.1:10001)
echo "@reversed=$(postmap -q "$fresh" tcp:127.0.0.1:10002)"
echo "@old_reversed=$(postmap -q "$old_address" tcp:127.0.0.1:10002)"
echo "@new_excluded=$(postmap -q bob@sub.example.com tcp:127.0.0.1:10001 || true)"
echo "@serving_as=$(ps -o user= -p $new)"
kill $new; wait $new || true
sed 's/^/@log=/' /tmp/pysrsd.log | grep -v event=.rewritten | tail -3
"""
    script = SETTINGS + in_private_network(serve)
    result = run_as_root(script, scratch)
    assert result.returncode == 0, result.stdout + result.stderr
    found = values(result.stdout)
    old = found["old_address"]
    assert old.startswith("SRS0=") and old.endswith("=example.com=alice@forwarder.example"), found
    assert found["old_excluded"] == ""  # postsrsd: "Domain excluded"
    assert found["dry_after"] == found["dry_before"] and found.get("dry_says") == "yes"
    assert found["secrets"] == "root:pysrsd 640"
    assert found["config"] == "root:root 644"
    assert found["exclude"] == "root:root 644 .example.com example.org example.net "
    assert found["secret_sum"] == found["postsrsd_sum"]  # plus a line end
    assert (found["second_doing"], found.get("second_same")) == ("0", "yes")
    assert found.get("after_switch") == "ok"  # the switch's line is the file's own
    assert found["held_after_stop"].startswith("200 SRS0="), found  # why Postfix reloads
    assert found["old_reversed"] == "alice@example.com", result.stdout + result.stderr
    assert found["reversed"] == "alice@example.com"
    assert found["new_excluded"] == ""
    assert found["serving_as"] == "pysrsd"


def test_a_different_secret_is_never_replaced_silently(tmp_path: Path) -> None:
    script = (
        SETTINGS
        + f"""
mkdir -p /etc/pysrsd
printf 'a secret of its own\\n' > /etc/pysrsd/secrets
chmod 0600 /etc/pysrsd/secrets
before=$(md5sum < /etc/pysrsd/secrets)
{PYSRSCTL} migrate-from postsrsd > /tmp/refused.out 2> /tmp/refused.err || echo "@refused=$?"
grep '^differs' /tmp/refused.out | sed 's/^differs /@differs=/' | head -1
echo "@err=$(cat /tmp/refused.err)"
[ "$(md5sum < /etc/pysrsd/secrets)" = "$before" ] && echo @kept=yes
[ -e /etc/pysrsd/pysrsd.toml ] || echo @no_config=yes
{PYSRSCTL} migrate-from postsrsd --replace --dry-run > /dev/null && echo @dry_replace=ok
[ "$(md5sum < /etc/pysrsd/secrets)" = "$before" ] && echo @dry_kept=yes
{PYSRSCTL} migrate-from postsrsd --replace > /tmp/replaced.out
[ "$(head -1 /etc/pysrsd/secrets)" = "$(cat /etc/postsrsd.secret)" ] && echo @first=postsrsd
echo "@second=$(sed -n 2p /etc/pysrsd/secrets)"
echo "@lines=$(wc -l < /etc/pysrsd/secrets)"
echo "@backup=$(cat /etc/pysrsd/secrets.pysrsd-migrate-*)"
echo "@secrets=$({STAT} /etc/pysrsd/secrets)"
{PYSRSCTL} check > /dev/null && echo @check=ok
"""
    )
    result = run_as_root(script, tmp_path / "scratch")
    assert result.returncode == 0, result.stdout + result.stderr
    found = values(result.stdout)
    assert found["refused"] == "2"
    assert found["differs"].startswith("/etc/pysrsd/secrets: its signing secret (fingerprint ")
    assert "nothing was changed" in found["err"] and "--replace" in found["err"]
    assert (found.get("kept"), found.get("no_config")) == ("yes", "yes")
    assert (found.get("dry_replace"), found.get("dry_kept")) == ("ok", "yes")
    assert found.get("first") == "postsrsd"  # signs: old and new addresses both verify
    assert (found["second"], found["lines"]) == ("a secret of its own", "2")
    assert found["backup"] == "a secret of its own"
    assert found["secrets"] == "root:pysrsd 640"
    assert found.get("check") == "ok"


def test_postsrsds_own_secret_already_copied_is_kept(tmp_path: Path) -> None:
    """The old guide's ``install -m 0600`` copy: the same secret, so it is kept (and given the
    layout's owner and mode), also once rotated (postsrsd's secret still verifies); a config
    file that says otherwise stops the run."""
    script = (
        SETTINGS
        + f"""
install -D -m 0600 /etc/postsrsd.secret /etc/pysrsd/secrets
before=$(md5sum < /etc/pysrsd/secrets)
{PYSRSCTL} migrate-from postsrsd > /tmp/kept.out && echo @ok=yes
grep -q '^doing   set /etc/pysrsd/secrets root:pysrsd 0640' /tmp/kept.out && echo @owner_set=yes
[ "$(md5sum < /etc/pysrsd/secrets)" = "$before" ] && echo @same=yes
{PYSRSCTL} genkey --rotate /etc/pysrsd/secrets > /dev/null
{PYSRSCTL} migrate-from postsrsd > /tmp/rotated.out && echo @rotated_ok=yes
grep -c '^doing' /tmp/rotated.out | sed 's/^/@rotated_doing=/' || true
sed -i 's/^forward-port = 10001$/forward-port = 10003/' /etc/pysrsd/pysrsd.toml
{PYSRSCTL} migrate-from postsrsd > /tmp/port.out 2>&1 || echo "@refused=$?"
grep '^differs' /tmp/port.out | sed 's/^differs /@differs=/'
"""
    )
    result = run_as_root(script, tmp_path / "scratch")
    assert result.returncode == 0, result.stdout + result.stderr
    found = values(result.stdout)
    assert (found.get("ok"), found.get("owner_set"), found.get("same")) == ("yes",) * 3
    assert (found.get("rotated_ok"), found["rotated_doing"]) == ("yes", "0")  # rotated since
    assert found["refused"] == "2"
    assert found["differs"] == "/etc/pysrsd/pysrsd.toml: forward-port is 10003, postsrsd's 10001"
