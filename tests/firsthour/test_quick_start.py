"""The README's quick start, run as written, as root, in a scratch root (see ``scratch``):
the install block, then the start block (``pysrsctl setup ... && pysrsd``), then each line of
the "try" block from another shell; and the daemontools route on the installed program.
README.md and examples/main.cf must show the same socketmap lines."""

from __future__ import annotations

import re
from pathlib import Path

from scratch import (
    ROOT,
    WAIT_HEALTHY,
    in_private_network,
    readme_block,
    require_scratch_root,
    run_as_root,
    values,
)


def try_lines(tmp: Path) -> tuple[str, list[str]]:
    """A script running each line of the "try" block as its own shell (comments and all)."""
    lines = [line for line in readme_block("try").splitlines() if line.strip()]
    script = ""
    for index, line in enumerate(lines):
        (tmp / f"try{index}.sh").write_text(line + "\n")
        script += f"bash {tmp}/try{index}.sh > {tmp}/try{index}.out 2>&1 && rc=0 || rc=$?\n"
        script += f'echo "@try{index}_rc=$rc"; echo "@try{index}=$(head -1 {tmp}/try{index}.out)"\n'
    return script, lines


def test_readme_quick_start_as_written(tmp_path: Path) -> None:
    require_scratch_root()
    install, start = readme_block("install"), readme_block("start")
    assert "pip install pysrsd" not in install
    try_script, lines = try_lines(tmp_path)
    served = f"""
( {start} ) > {tmp_path}/start.log 2>&1 &
started=$!
{WAIT_HEALTHY}
{try_script}
daemon=$(pgrep -P $started || echo $started)  # bash may exec the last command itself
echo "@daemon_user=$(ps -o user= -p $daemon)"
kill -TERM $daemon; wait $started || true
"""
    script = install + '\necho "@program=$(readlink -f /usr/local/sbin/pysrsd)"\n'
    result = run_as_root(script + in_private_network(served), tmp_path / "scratch")
    log = (tmp_path / "start.log").read_text() if (tmp_path / "start.log").exists() else ""
    assert result.returncode == 0, result.stdout + result.stderr + log
    found = values(result.stdout)
    assert found["program"] == "/opt/pysrsd/bin/pysrsd"
    assert found["daemon_user"].strip() == "pysrsd", log
    assert "event='ready'" in log
    assert "loop='uvloop'" in log  # the default install runs on the fast event loop
    assert [line.split()[0] for line in lines] == ["pysrsctl", "postmap"]
    assert found["try0_rc"] == "0" and found["try0"].startswith("PYSRSD OK: tcp_table 127.0.0.1")
    assert found["try1_rc"] == "0"
    assert re.fullmatch(
        r"SRS0=[^=]{4}=[^=]{2}=example\.com=alice@forwarder\.example", found["try1"]
    )


def test_daemontools_route_runs_the_installed_program(tmp_path: Path) -> None:
    """Then install.sh again, as an upgrade, restarts the supervised daemon (svc -t), and
    install.sh --uninstall stops it and removes what install.sh installed, keeping /etc/pysrsd.
    The upgrade runs outside the private network (pip downloads), the daemon inside it."""
    require_scratch_root()
    pid = "svstat /etc/service/pysrsd | sed -n 's/.*(pid \\([0-9]*\\)).*/\\1/p'"
    supervised = f"""
pysrsctl setup forwarder.example --daemontools /etc/service --socketmap
svscan /etc/service > {tmp_path}/svscan.log 2>&1 &
scanner=$!
{WAIT_HEALTHY}
echo "@health=$(pysrsctl health)"
echo "@svstat=$(svstat /etc/service/pysrsd)"
sleep 1.5
echo "@log=$(grep -c "event='ready'" /var/log/pysrsd/current)"
echo "@pid1=$({pid})"
touch {tmp_path}/upgrade-now
for i in $(seq 1500); do [ -e {tmp_path}/upgraded ] && break; sleep 0.2; done
sleep 1  # supervise starts the program again after a second
{WAIT_HEALTHY}
echo "@pid2=$({pid})"
echo "@health2=$(pysrsctl health)"
sh contrib/install.sh --uninstall > {tmp_path}/uninstall.log 2>&1
echo "@left=$(ls -d /opt/pysrsd /usr/local/sbin/pysrs* /usr/local/share/man/man8/pysrs* \
    2>/dev/null | wc -l)"
echo "@kept=$(ls /etc/pysrsd/pysrsd.toml /etc/pysrsd/secrets | wc -l)"
echo "@svstat3=$(svstat /etc/service/pysrsd)"
svc -dx /etc/service/pysrsd /etc/service/pysrsd/log
kill $scanner; wait $scanner || true
"""
    script = f"""{readme_block("install")}
echo "@man=$(readlink -f $(man -w pysrsd) $(man -w pysrsctl) | tr "\\n" " ")"
mkdir -p /etc/service
trap 'touch {tmp_path}/upgraded' EXIT
( {in_private_network(supervised)} ) &
network=$!
for i in $(seq 1500); do [ -e {tmp_path}/upgrade-now ] && break; sleep 0.2; done
sh contrib/install.sh > {tmp_path}/upgrade.log 2>&1
touch {tmp_path}/upgraded
wait $network
"""
    result = run_as_root(script, tmp_path / "scratch")
    logs = "".join(f"\n== {p.name}\n{p.read_text()}" for p in tmp_path.glob("*.log"))
    assert result.returncode == 0, result.stdout + result.stderr + logs
    found = values(result.stdout)
    assert found["man"].split() == [
        "/usr/local/share/man/man8/pysrsd.8",
        "/usr/local/share/man/man8/pysrsctl.8",
    ]
    assert found["health"].startswith("PYSRSD OK: tcp_table 127.0.0.1"), found
    assert "socketmap unix:/var/spool/postfix/pysrsd/socketmap" in found["health"]
    assert re.match(r"/etc/service/pysrsd: up \(pid \d+\)", found["svstat"])
    assert found["log"] == "1"
    # the upgrade restarted the daemon on the new code
    upgrade = (tmp_path / "upgrade.log").read_text()
    assert "/etc/pysrsd/service: svc -t (restart)" in upgrade, logs
    assert found["pid1"] and found["pid2"] and found["pid1"] != found["pid2"], found
    assert found["health2"].startswith("PYSRSD OK: tcp_table 127.0.0.1"), found
    # --uninstall: stopped, removed, the settings and the secret kept (and said so)
    uninstall = (tmp_path / "uninstall.log").read_text()
    assert "/etc/pysrsd/service: svc -d (stop)" in uninstall
    assert "kept: /etc/pysrsd" in uninstall
    assert (found["left"], found["kept"]) == ("0", "2"), found
    assert found["svstat3"].startswith("/etc/service/pysrsd: down"), found


def test_readme_and_example_show_the_same_socketmap_lines() -> None:
    def socketmap_lines(text: str) -> list[str]:
        return re.findall(r"^#?((?:sender|recipient)_canonical_maps = socketmap:\S+)$", text, re.M)

    readme = socketmap_lines((ROOT / "README.md").read_text())
    example = socketmap_lines((ROOT / "examples" / "main.cf").read_text())
    assert (
        readme
        == example
        == [
            "sender_canonical_maps = socketmap:unix:pysrsd/socketmap:forward",
            "recipient_canonical_maps = socketmap:unix:pysrsd/socketmap:reverse",
        ]
    )
