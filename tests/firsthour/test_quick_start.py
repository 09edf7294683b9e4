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
    require_scratch_root()
    supervised = f"""
pysrsctl setup forwarder.example --daemontools /etc/service --socketmap
svscan /etc/service > {tmp_path}/svscan.log 2>&1 &
scanner=$!
{WAIT_HEALTHY}
echo "@health=$(pysrsctl health)"
echo "@svstat=$(svstat /etc/service/pysrsd)"
sleep 1.5
echo "@log=$(grep -c "event='ready'" /var/log/pysrsd/current)"
svc -dx /etc/service/pysrsd /etc/service/pysrsd/log
kill $scanner; wait $scanner || true
"""
    script = readme_block("install") + "mkdir -p /etc/service\n" + in_private_network(supervised)
    result = run_as_root(script, tmp_path / "scratch")
    assert result.returncode == 0, result.stdout + result.stderr
    found = values(result.stdout)
    assert found["health"].startswith("PYSRSD OK: tcp_table 127.0.0.1"), found
    assert "socketmap unix:/var/spool/postfix/pysrsd/socketmap" in found["health"]
    assert re.match(r"/etc/service/pysrsd: up \(pid \d+\)", found["svstat"])
    assert found["log"] == "1"


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
