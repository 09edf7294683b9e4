#!/bin/sh
# Install pysrsd from this checkout, as root, on Debian 12/13 (or any system with Python 3.11+):
#   a virtual environment in /opt/pysrsd (Debian's own Python packages stay untouched: PEP 668),
#   the commands linked as /usr/local/sbin/pysrsd and /usr/local/sbin/pysrsctl.
# Prerequisite: apt-get install python3-venv
# Every optional feature's package is installed with it (the "all" extra): uvloop, the event
#   loop pysrsd runs on when it is there (about a third less CPU per lookup than asyncio's),
#   prometheus-client for --metrics, redis for an envelope database on Redis.
# --compiled: compile the lookup path with mypyc (about a quarter less CPU per lookup); needs
#   apt-get install gcc python3-dev, and downloads mypy into the environment to build.
# Run it again after "git pull" to upgrade; remove with: rm -r /opt/pysrsd /usr/local/sbin/pysrs*
set -eu
compiled=
case "${1:-}" in
    --compiled) compiled=1 ;;
    "") ;;
    *) echo "usage: install.sh [--compiled]" >&2; exit 2 ;;
esac
PYTHON=${PYTHON:-/usr/bin/python3}  # the system's Python: the daemon's account can run it
PREFIX=/opt/pysrsd
checkout=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run it as root" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import sys, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "install.sh: needs $PYTHON >= 3.11 with venv: apt-get install python3-venv" >&2
    exit 1
fi
[ -x "$PREFIX/bin/pip" ] || "$PYTHON" -m venv "$PREFIX"
pip="$PREFIX/bin/pip --quiet --disable-pip-version-check"
$pip install "$checkout[all]"  # pysrsd (pure Python), its dependencies and every extra
if [ -n "$compiled" ]; then
    headers=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    if ! command -v cc > /dev/null || [ ! -f "$headers/Python.h" ]; then
        echo "install.sh: --compiled needs a C compiler and $headers/Python.h:" \
            "apt-get install gcc python3-dev" >&2
        exit 1
    fi
    $pip install --upgrade setuptools wheel mypy  # the build tools, in the environment
    PYSRSD_MYPYC=1 $pip install --no-build-isolation --no-deps "$checkout"  # over the pure one
fi
for command in pysrsd pysrsctl; do
    ln -sfn "$PREFIX/bin/$command" "/usr/local/sbin/$command"
done
echo "installed $("$PREFIX/bin/pysrsctl" --version) in $PREFIX; commands in /usr/local/sbin"
