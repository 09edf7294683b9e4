"""The tests never read the host's pysrsd configuration.

A machine where pysrsd is installed has /etc/pysrsd/pysrsd.toml (an account, a secrets file
the test's account cannot read, another domain), perhaps ``PYSRSD_*`` variables in the shell
that runs the tests, and a main.cf naming pysrsd's maps (which ``pysrsctl health`` probes).
Here all three are hostile: a scratch root's /etc/pysrsd holds such a config, its main.cf names
maps that nothing serves, the environment sets every setting the tests care about (and
``PYSRSD_CONFIG`` to that file), and a representative set of tests that start ``pysrsd`` and
``pysrsctl`` (through the harness, the oracles' helpers, their own subprocess calls, the
shipped run scripts) must pass in it; so must the tests of the default paths, in a scratch root
of their own, which starts without the host's pysrsd. A control line first shows that the
hostile config is in force for a command that is not isolated.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from scratch import ROOT, require_scratch_root, run_as_root

HOSTILE_CONFIG = """\
domain = "hostile.example"
secrets-file = "/etc/pysrsd/secrets"
user = "nobody"
listen = ["192.0.2.1"]
forward-port = 1
reverse-port = 2
log-format = "json"
max-age = 1
"""
HOSTILE_VARIABLES = {
    "PYSRSD_CONFIG": "/etc/pysrsd/pysrsd.toml",
    "PYSRSD_DOMAIN": "hostile.example",
    "PYSRSD_SECRETS_FILE": "/etc/pysrsd/secrets",
    "PYSRSD_SEPARATOR": "+",
    "PYSRSD_LOG_FORMAT": "json",
    "PYSRSD_MAX_AGE": "1",
    "PYSRSD_HASH_INPUT": "concatenated",
}
# Tests that start the daemon or pysrsctl in every way the suite does.
SELECTION = [
    "tests/integration/test_daemon.py",
    "tests/integration/test_configuration.py",
    "tests/integration/test_ctl.py",
    "tests/integration/test_ctl_health.py",
    "tests/integration/test_daemontools.py",
    "tests/integration/test_migrating.py::test_postsrsd_1x_conversion_writes_what_the_variables_say",
    "tests/integration/test_reload.py::test_sighup_applies_the_domain_and_hash_settings",
    "tests/unit/test_cli.py",
    "tests/unit/config/test_settings.py",
    "tests/test_docs.py",
    "tests/firsthour/test_setup.py::test_setup_makes_the_layout_and_a_second_run_changes_nothing",
]


def test_suite_passes_with_a_hostile_host_config_and_environment(tmp_path: Path) -> None:
    require_scratch_root()
    exports = "".join(f"export {name}='{value}'\n" for name, value in HOSTILE_VARIABLES.items())
    script = f"""
mkdir -p /etc/pysrsd
cat > /etc/pysrsd/pysrsd.toml <<'EOF'
{HOSTILE_CONFIG}EOF
printf 'not the secret of any test\\n' > /etc/pysrsd/secrets
postconf -e 'sender_canonical_maps = tcp:127.0.0.1:1' 'recipient_canonical_maps = tcp:127.0.0.1:2'
chmod 0600 /etc/pysrsd/secrets
{exports}export PYTHONPATH={ROOT / "src"} PYSRSD_REQUIRE_SYSTEM=1
echo "@control=$({sys.executable} -m pysrsd.ctl check 2>&1 | tr '\\n' ' ')"
{sys.executable} -m pytest -q -p no:cacheprovider -x {" ".join(SELECTION)} 2>&1 | tail -5
"""
    done = run_as_root(script, tmp_path / "tmpfs")
    assert done.returncode == 0, done.stderr + done.stdout
    control = re.search(r"^@control=(.*)$", done.stdout, re.MULTILINE)
    assert control is not None and "hostile" in control.group(1) + done.stdout, done.stdout
    summary = done.stdout.strip().splitlines()[-1]
    passed = re.match(r"^(\d+) passed", summary)
    assert passed is not None and "failed" not in summary, done.stdout
    assert "error" not in summary and int(passed.group(1)) >= 200, done.stdout
