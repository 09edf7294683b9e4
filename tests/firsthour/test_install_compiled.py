"""``contrib/install.sh --compiled`` in a scratch root (see ``scratch``): the installed program
is the mypyc build and serves as the README's quick start says; running the installer again
without the option puts the pure-Python build back."""

from __future__ import annotations

import re
from pathlib import Path

from scratch import (
    WAIT_HEALTHY,
    in_private_network,
    require_compiler,
    require_scratch_root,
    run_as_root,
    values,
)


def test_compiled_install_serves_and_can_be_undone(tmp_path: Path) -> None:
    require_scratch_root()
    require_compiler()
    served = f"""
pysrsctl setup forwarder.example > {tmp_path}/setup.log 2>&1
pysrsd > {tmp_path}/daemon.log 2>&1 &
daemon=$!
{WAIT_HEALTHY}
echo "@health=$(pysrsctl health)"
echo "@forward=$(postmap -q alice@example.com tcp:127.0.0.1:10001)"
kill -TERM $daemon; wait $daemon || true
"""
    script = f"""
sh contrib/install.sh --compiled
echo "@compiled=$(pysrsctl --version)"
{in_private_network(served)}
sh contrib/install.sh
echo "@pure=$(pysrsctl --version)"
"""
    result = run_as_root(script, tmp_path / "scratch")
    log = (tmp_path / "daemon.log").read_text() if (tmp_path / "daemon.log").exists() else ""
    assert result.returncode == 0, result.stdout + result.stderr + log
    found = values(result.stdout)
    assert found["compiled"] == "pysrsctl 1.0.0 (mypyc)"
    assert "build='mypyc'" in log
    assert found["health"].startswith("PYSRSD OK: tcp_table 127.0.0.1"), found
    assert re.fullmatch(
        r"SRS0=[^=]{4}=[^=]{2}=example\.com=alice@forwarder\.example", found["forward"]
    )
    assert found["pure"] == "pysrsctl 1.0.0 (python)"
