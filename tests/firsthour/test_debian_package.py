"""The Debian package, built by ``contrib/build-deb.sh`` and checked the way piuparts checks a
package, with the real tools, in a scratch root whose /usr is overlaid too (see ``scratch``):
lintian; install with apt-get (account, secret, settings, state directory, commands, man
pages, units); the daemon under daemontools from the service directory ``pysrsctl setup``
makes, answering ``postmap -q``; an upgrade to a second build with a higher version keeps the
edited settings and the secret and restarts the daemon; remove keeps /etc/pysrsd and stops
the daemon, a reinstallation starts it again; purge leaves nothing behind but the kept
accounts and dpkg's own records.

The two packages are built once per session (about 20 s each with pip's cache warm).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from harness import require
from scratch import (
    ROOT,
    WAIT_HEALTHY,
    in_private_network,
    readme_block,
    require_scratch_root,
    run_as_root,
    values,
)
from test_migrate_from import LAUNCHER, WAIT_PORT

FIRST, SECOND = "1.0.0-1", "1.0.0-1+upgrade1"  # the second sorts higher: an upgrade
BUILD_TIMEOUT = 600  # a hang guard (pip may download), never a measurement
SRS0 = r"SRS0=[^=]{4}=[^=]{2}=example\.com=alice@forwarder\.example"
OWN = (  # made by the package or by its pysrsctl setup: all gone after a purge
    "/etc/pysrsd",
    "/var/lib/pysrsd",
    "/var/log/pysrsd",
    "/usr/lib/pysrsd",
    "/usr/share/doc/pysrsd",
    "/etc/service/pysrsd",
    "/etc/systemd/system/multi-user.target.wants/pysrsd.service",
    "/etc/default/pysrsd",
)
# What a purge may leave: the accounts (kept, see debian/pysrsd.postrm) and the records of
# dpkg, apt and man-db, which belong to them, not to the package.
KEPT = re.compile(
    r"/etc/(passwd|group|shadow|gshadow)-?|/etc/\.pwd\.lock"
    r"|/var/lib/(dpkg|apt)(/.*)?|/var/cache(/.*)?"
    r"|/var/log/(dpkg\.log|alternatives\.log|apt(/.*)?)"
)


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The package built twice from this checkout: FIRST and SECOND."""
    require("dpkg-buildpackage", "dh", "lintian")  # debhelper lintian
    out = tmp_path_factory.mktemp("debs")
    built = {}
    for version in (FIRST, SECOND):
        option = [] if version == FIRST else ["--version", version]
        result = subprocess.run(
            ["sh", str(ROOT / "contrib" / "build-deb.sh"), *option, str(out)],
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        (built[version],) = out.glob(f"pysrsd_{version}_*.deb")
    return built


def test_changelog_version_is_the_project_version() -> None:
    changelog = (ROOT / "debian" / "changelog").read_text().splitlines()[0]
    pyproject = (ROOT / "pyproject.toml").read_text()
    version = re.search(r'^version = "(.+)"$', pyproject, re.M)
    assert version is not None
    assert changelog.startswith(f"pysrsd ({version.group(1)}-"), changelog


def test_lintian_is_clean(debs: dict[str, Path]) -> None:
    """No error or warning; each override in debian/pysrsd.lintian-overrides says why."""
    result = subprocess.run(
        ["lintian", "--fail-on", "error,warning", str(debs[FIRST])],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    tags = [line for line in result.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert (result.returncode, tags) == (0, []), result.stdout + result.stderr


def test_systemd_service_is_restarted_after_an_upgrade_and_sockets_stay_disabled(
    debs: dict[str, Path], tmp_path: Path
) -> None:
    """No systemd runs here: the maintainer scripts that dh_installsystemd wrote are read.
    The service is enabled and (re)started by postinst, stopped by prerm only on removal;
    a socket unit is enabled only where the administrator had enabled it."""
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", str(debs[FIRST]), str(control)], check=True, timeout=60)
    postinst, prerm = (control / "postinst").read_text(), (control / "prerm").read_text()
    assert "deb-systemd-helper enable 'pysrsd.service'" in postinst
    restart = re.search(r'if \[ -n "\$2" \]; then\s+_dh_action=restart', postinst)
    assert restart and "deb-systemd-invoke $_dh_action 'pysrsd.service'" in postinst
    assert re.search(r'\[ "\$1" = remove \].*\n\s+deb-systemd-invoke stop .pysrsd.service', prerm)
    for socket in ("forward", "reverse", "socketmap"):
        guard = f"if deb-systemd-helper --quiet was-enabled 'pysrsd-{socket}.socket'"
        assert f"deb-systemd-helper debian-installed 'pysrsd-{socket}.socket'" in postinst
        assert guard in postinst
        assert f"deb-systemd-invoke $_dh_action 'pysrsd-{socket}.socket'" not in postinst


def test_readme_shows_the_build_and_install_commands_tested_here() -> None:
    """The README's block is what ``debs`` runs (with an output directory of its own) and what
    the lifecycle test installs with (apt-get, non-interactive)."""
    block = readme_block("debian-package")
    assert "sh contrib/build-deb.sh" in block
    assert "apt install ./dist/pysrsd_*.deb" in block


def _lifecycle(debs: dict[str, Path], logs: Path) -> str:
    first, second = debs[FIRST], debs[SECOND]
    stat = "stat -c '%U:%G %a'"
    served = f"""
pysrsctl setup forwarder.example --daemontools /etc/service > {logs}/setup.log 2>&1
svscan /etc/service > {logs}/svscan.log 2>&1 &
scanner=$!
{WAIT_HEALTHY}
echo "@forward1=$(postmap -q alice@example.com tcp:127.0.0.1:10001)"
for i in $(seq 50); do grep -q "loop=" /var/log/pysrsd/current && break; sleep 0.1; done
echo "@loop=$(grep -o "loop='[a-z]*'" /var/log/pysrsd/current | head -1)"
echo "@pid1=$(svstat /etc/service/pysrsd | sed -n 's/.*(pid \\([0-9]*\\)).*/\\1/p')"
printf '# edited by the administrator\\nmax-age = 30\\n' >> /etc/pysrsd/pysrsd.toml
echo PYSRSD_LOG_LEVEL=debug >> /etc/default/pysrsd
kept="/etc/pysrsd/secrets /etc/pysrsd/pysrsd.toml /etc/default/pysrsd"
sum_before=$(sha256sum $kept | cut -c1-16 | tr '\\n' ' ')
apt-get install -y -q --no-install-recommends {second} > {logs}/upgrade.log 2>&1
echo "@upgraded=$(dpkg-query -W -f '${{Version}}' pysrsd)"
sum_after=$(sha256sum $kept | cut -c1-16 | tr '\\n' ' ')
echo "@same_files=$([ "$sum_before" = "$sum_after" ] && echo yes)"
sleep 1  # supervise restarts a program after a second
{WAIT_HEALTHY}
echo "@pid2=$(svstat /etc/service/pysrsd | sed -n 's/.*(pid \\([0-9]*\\)).*/\\1/p')"
echo "@forward2=$(postmap -q alice@example.com tcp:127.0.0.1:10001)"
apt-get remove -y -q pysrsd > {logs}/remove.log 2>&1
echo "@left_commands=$(ls -d /usr/sbin/pysrs* /usr/lib/pysrsd 2>/dev/null | wc -l)"
echo "@kept=$(ls /etc/pysrsd/pysrsd.toml /etc/pysrsd/secrets | wc -l)"
echo "@svstat_removed=$(svstat /etc/service/pysrsd)"
apt-get install -y -q --no-install-recommends {second} > {logs}/reinstall.log 2>&1
{WAIT_HEALTHY}
echo "@forward3=$(postmap -q alice@example.com tcp:127.0.0.1:10001)"
apt-get remove -y -q pysrsd >> {logs}/remove.log 2>&1
apt-get purge -y -q pysrsd > {logs}/purge.log 2>&1
sleep 0.5
kill $scanner; wait $scanner || true
echo "@purged=$(ls -d {" ".join(OWN)} 2>/dev/null | tr '\\n' ' ')"
"""
    return f"""
echo forwarder.example > /etc/mailname
mkdir -p /etc/service
CHANGED | sort > {logs}/before.txt
apt-get install -y -q --no-install-recommends {first} > {logs}/install.log 2>&1
echo "@account=$(getent passwd pysrsd | cut -d: -f3,6,7 | sed 's/^[0-9]*:/system:/')"
echo "@uid=$(id -u pysrsd)"
echo "@secrets=$({stat} /etc/pysrsd/secrets)"
echo "@secret_length=$(head -n 1 /etc/pysrsd/secrets | tr -d '\\n' | wc -c)"
echo "@config=$({stat} /etc/pysrsd/pysrsd.toml)"
echo "@domain=$(grep '^domain' /etc/pysrsd/pysrsd.toml)"
echo "@state=$({stat} /var/lib/pysrsd)"
echo "@program=$(readlink -f /usr/sbin/pysrsd) $(command -v pysrsctl)"
echo "@man=$(man -w pysrsd) $(man -w pysrsctl)"
echo "@conffiles=$(dpkg-query -W -f '${{Conffiles}}' pysrsd | awk '{{print $1}}' | tr '\\n' ' ')"
echo "@enabled=$(readlink /etc/systemd/system/multi-user.target.wants/pysrsd.service)"
echo "@unit=$(dpkg -L pysrsd | grep '/systemd/system/pysrsd.service$')"
echo "@sockets_enabled=$(ls /etc/systemd/system/sockets.target.wants 2>/dev/null | grep -c pysrsd)"
echo "@verify=$(systemd-analyze verify /lib/systemd/system/pysrsd.service 2>&1 | head -3)"
echo "@check=$(pysrsctl check > /dev/null 2>&1 && echo ok)"
echo "@extras=$(/usr/lib/pysrsd/bin/python3 -c 'import prometheus_client, redis, uvloop' &&
    echo ok)"
echo "@writable=$(find /usr/lib/pysrsd /etc/pysrsd ! -type l \\( ! -user root -o -perm /022 \\) |
    head -3)"
pysrsctl setup forwarder.example --systemd > {logs}/setup-systemd.log 2>&1
echo "@unit_copies=$(ls /etc/systemd/system/pysrsd* 2>/dev/null | wc -l)"
{in_private_network(served)}
CHANGED | sort > {logs}/after.txt
"""


def test_install_serve_upgrade_remove_purge(debs: dict[str, Path], tmp_path: Path) -> None:
    require_scratch_root()
    logs = tmp_path / "logs"
    logs.mkdir()
    result = run_as_root(_lifecycle(debs, logs), tmp_path / "scratch", system=True)
    log_text = "".join(f"\n== {p.name}\n{p.read_text()}" for p in sorted(logs.glob("*.log")))
    assert result.returncode == 0, result.stdout + result.stderr + log_text
    found = values(result.stdout)

    # first install: what postinst makes, as pysrsctl setup would
    assert found["account"] == "system:/nonexistent:/usr/sbin/nologin"
    assert int(found["uid"]) < 1000  # a system account
    assert found["secrets"] == "root:pysrsd 640"
    assert found["secret_length"] == "43"  # 256 bits in base64url
    assert found["config"] == "root:root 644"
    assert found["domain"] == 'domain = "forwarder.example"'  # from /etc/mailname
    assert found["state"] == "pysrsd:pysrsd 750"
    assert found["program"] == "/usr/lib/pysrsd/bin/pysrsd /usr/sbin/pysrsctl"
    assert found["man"] == ("/usr/share/man/man8/pysrsd.8.gz /usr/share/man/man8/pysrsctl.8.gz"), (
        found
    )
    assert found["conffiles"].split() == ["/etc/default/pysrsd"]
    # the unit where this release's debhelper puts it (/lib on Debian 12, /usr/lib on 13)
    assert found["unit"] in (
        "/lib/systemd/system/pysrsd.service",
        "/usr/lib/systemd/system/pysrsd.service",
    )
    assert found["enabled"] == found["unit"]
    assert found["sockets_enabled"] == "0"
    assert found["unit_copies"] == "0"  # setup --systemd enables the package's unit as it is
    assert found["verify"] == "", found["verify"]
    assert found["check"] == "ok"
    assert found["extras"] == "ok"  # --metrics, a Redis envelope database, uvloop
    assert found["writable"] == ""  # nothing the daemon runs or trusts is writable by it
    install_log = (logs / "install.log").read_text()
    assert "SRS domain forwarder.example" in install_log

    # served under daemontools, restarted by the upgrade, which kept the edits and the secret
    assert re.fullmatch(SRS0, found["forward1"]), log_text
    assert found["loop"] == "loop='uvloop'"
    assert found["upgraded"] == SECOND
    assert found["same_files"] == "yes"
    assert found["pid1"] and found["pid2"] and found["pid1"] != found["pid2"], found
    assert re.fullmatch(SRS0, found["forward2"]), log_text
    assert "restarted the daemontools service /etc/pysrsd/service" in (
        (logs / "upgrade.log").read_text()
    )

    # remove: the commands go, the settings and the secret stay, the service is down
    assert found["left_commands"] == "0"
    assert found["kept"] == "2"
    assert found["svstat_removed"].startswith("/etc/service/pysrsd: down"), found
    assert "apt purge pysrsd deletes it" in (logs / "remove.log").read_text()
    # installed again (from the config-files state): the service is started again
    assert "started the daemontools service /etc/pysrsd/service" in (
        (logs / "reinstall.log").read_text()
    )
    assert re.fullmatch(SRS0, found["forward3"]), log_text

    # purge: a note on the secret, then nothing left that the package or setup made
    assert found["purged"] == ""
    purge_log = (logs / "purge.log").read_text()
    assert "deleting the secret /etc/pysrsd/secrets" in purge_log
    before = set((logs / "before.txt").read_text().splitlines())
    after = set((logs / "after.txt").read_text().splitlines())
    left = sorted(line for line in after - before if not _kept(*line.split(" ", 1)))
    assert left == [], left


def _kept(kind: str, path: str) -> bool:
    """A path a purge may leave changed: KEPT, or a directory of the machine's that overlayfs
    copied up to hold a file while the package was installed (the machine has it too)."""
    return bool(KEPT.fullmatch(path)) or (kind == "d" and Path(path).is_dir())


def test_install_without_a_mail_name_leaves_the_domain_to_set(
    debs: dict[str, Path], tmp_path: Path
) -> None:
    """No /etc/mailname and a host name without a dot: the package installs, the settings
    file says what to set, and pysrsctl check names the missing domain."""
    require_scratch_root()
    script = f"""
rm -f /etc/mailname
unshare --uts sh -c 'hostname vm; apt-get install -y -q --no-install-recommends \
    {debs[FIRST]}' > {tmp_path}/install.log 2>&1
echo "@domain=$(grep 'domain = ' /etc/pysrsd/pysrsd.toml)"
pysrsctl check > {tmp_path}/check.log 2>&1 && echo "@check=0" || echo "@check=$?"
"""
    result = run_as_root(script, tmp_path / "scratch", system=True)
    install_log = (tmp_path / "install.log").read_text()
    assert result.returncode == 0, result.stdout + result.stderr + install_log
    found = values(result.stdout)
    assert found["domain"] == '# domain = "forwarder.example"'
    assert "no mail name found for the SRS domain" in install_log
    assert found["check"] != "0"
    assert "domain" in (tmp_path / "check.log").read_text()


def test_package_installed_beside_postsrsd_takes_it_over_with_migrate_from_replace(
    debs: dict[str, Path], tmp_path: Path
) -> None:
    """docs/migrating.md's route with the package: its installation made a secret and settings
    of its own, so ``migrate-from postsrsd`` refuses (exit 2) until ``--replace``, which puts
    postsrsd's secret first and keeps the package's files beside; after the switch the packaged
    daemon reverses an address postsrsd minted before it."""
    require_scratch_root()
    require(LAUNCHER, "/etc/default/postsrsd", "/etc/postsrsd.secret", "postmap")
    logs = tmp_path / "logs"
    logs.mkdir()
    serve = f"""
{LAUNCHER} > {logs}/postsrsd.log 2>&1 &
old=$!
{WAIT_PORT.format(port=10001)}
old_address=$(postmap -q alice@example.com tcp:127.0.0.1:10001)
echo "@old_address=$old_address"
apt-get install -y -q --no-install-recommends {debs[FIRST]} > {logs}/install.log 2>&1
package_secret=$(head -n 1 /etc/pysrsd/secrets)
status=0; pysrsctl migrate-from postsrsd > {logs}/refused.log 2>&1 || status=$?
echo "@refused=$status"
pysrsctl migrate-from postsrsd --replace > {logs}/replace.log 2>&1 && echo @replaced=ok
[ "$(head -n 1 /etc/pysrsd/secrets)" = "$(cat /etc/postsrsd.secret)" ] && echo @first=postsrsd
echo "@package_secret_kept=$(grep -cxF "$package_secret" /etc/pysrsd/secrets)"
echo "@beside=$(ls /etc/pysrsd | grep -c '^secrets\\.pysrsd-migrate-')"
echo "@secrets=$(stat -c '%U:%G %a' /etc/pysrsd/secrets)"
kill $old; wait $old || true
echo "accept-concatenated-before = $(date -u -d tomorrow +%F)" >> /etc/pysrsd/pysrsd.toml
/usr/sbin/pysrsd > {logs}/pysrsd.log 2>&1 &
new=$!
{WAIT_PORT.format(port=10002)}
echo "@old_reversed=$(postmap -q "$old_address" tcp:127.0.0.1:10002)"
echo "@serving_as=$(ps -o user= -p $new)"
kill $new; wait $new || true
"""
    script = (
        "echo forwarder.example > /etc/mailname\n"
        "echo SRS_DOMAIN=forwarder.example >> /etc/default/postsrsd\n" + in_private_network(serve)
    )
    result = run_as_root(script, tmp_path / "scratch", system=True)
    log_text = "".join(f"\n== {p.name}\n{p.read_text()}" for p in sorted(logs.glob("*.log")))
    assert result.returncode == 0, result.stdout + result.stderr + log_text
    found = values(result.stdout)
    assert found["old_address"].startswith("SRS0="), found
    assert found["refused"] == "2", log_text
    assert "differs /etc/pysrsd/secrets" in (logs / "refused.log").read_text(), log_text
    assert found.get("replaced") == "ok", log_text
    assert found.get("first") == "postsrsd", found
    assert found["package_secret_kept"] == "1"  # after postsrsd's: it signed nothing, harmless
    assert found["beside"] == "1"
    assert found["secrets"] == "root:pysrsd 640"
    assert found["old_reversed"] == "alice@example.com", log_text
    assert found["serving_as"] == "pysrsd"
