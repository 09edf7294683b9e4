#!/bin/sh
# Install pysrsd from this checkout, as root, on Debian 12/13 (or any system with Python 3.11+):
#   a virtual environment in /opt/pysrsd (Debian's own Python packages stay untouched: PEP 668),
#   the commands linked as /usr/local/sbin/pysrsd and /usr/local/sbin/pysrsctl, the man pages
#   pysrsd(8) and pysrsctl(8) in /usr/local/share/man/man8. (On Debian, the package that
#   contrib/build-deb.sh builds is the other way: apt then upgrades and removes it.)
# Prerequisite: apt-get install python3-venv
# Every optional feature's package is installed with it (the "all" extra): uvloop, the event
#   loop pysrsd runs on when it is there (about a third less CPU per lookup than asyncio's),
#   prometheus-client for --metrics, redis for an envelope database on Redis.
# --compiled: compile the lookup path with mypyc (about a quarter less CPU per lookup); needs
#   apt-get install gcc python3-dev, and downloads mypy into the environment to build.
# Run it again after "git pull" to upgrade: a pysrsd running under systemd or daemontools is
#   then restarted on the new code.
# --uninstall: stop a supervised pysrsd and remove what this script installed (the environment,
#   the links, the man pages); the settings, the secret, /var/lib/pysrsd, the accounts, and the
#   units or service directory of "pysrsctl setup" stay, and it says so.
set -eu
compiled= uninstall=
case "${1:-}" in
    --compiled) compiled=1 ;;
    --uninstall) uninstall=1 ;;
    "") ;;
    *) echo "usage: install.sh [--compiled | --uninstall]" >&2; exit 2 ;;
esac
PYTHON=${PYTHON:-/usr/bin/python3}  # the system's Python: the daemon's account can run it
PREFIX=/opt/pysrsd
PROGRAM=/usr/local/sbin/pysrsd
MAN=/usr/local/share/man/man8
checkout=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run it as root" >&2
    exit 1
fi

# The daemontools service directories that run this installation's pysrsd.
daemontools_services() {
    command -v svok > /dev/null || return 0
    for dir in /etc/pysrsd/service /etc/service/* /service/*; do
        if [ -f "$dir/run" ] && grep -qsF "$PROGRAM" "$dir/run"; then
            dir=$(readlink -f "$dir")
            if svok "$dir"; then echo "$dir"; fi
        fi
    done | sort -u
}

systemd_running() {
    [ -d /run/systemd/system ] && systemctl --quiet is-active pysrsd.service 2> /dev/null
}

# A pysrsd under systemd or daemontools, told to "restart" (after an upgrade) or to "stop".
supervised() {
    if systemd_running; then
        systemctl "$1" pysrsd.service
        echo "pysrsd.service: systemctl $1"
    fi
    for dir in $(daemontools_services); do
        if [ "$1" = restart ]; then flag=-t; else flag=-d; fi
        svc "$flag" "$dir"
        echo "$dir: svc $flag ($1)"
        # before its files go, let a stopping pysrsd answer what it read and exit (bounded)
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            if [ "$1" = restart ] || ! svstat "$dir" | grep -q ': up '; then break; fi
            sleep 1
        done
    done
}

if [ -n "$uninstall" ]; then
    supervised stop
    rm -rf "$PREFIX"
    for command in pysrsd pysrsctl; do
        link=/usr/local/sbin/$command
        if [ -L "$link" ] && [ "$(readlink "$link")" = "$PREFIX/bin/$command" ]; then
            rm -f "$link"
        fi
        rm -f "$MAN/$command.8"
    done
    echo "removed $PREFIX, /usr/local/sbin/pysrsd, /usr/local/sbin/pysrsctl and their man pages"
    echo "kept: /etc/pysrsd (the settings and the secret: bounces to the addresses it signed"
    echo "  still verify after a new install), /var/lib/pysrsd, the accounts pysrsd and"
    echo "  pysrsdlog, and any units or service directory of pysrsctl setup (they run $PROGRAM):"
    echo "  delete them by hand if pysrsd is gone for good"
    exit 0
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
install -d -m 0755 "$MAN"
install -m 0644 "$checkout/man/pysrsd.8" "$checkout/man/pysrsctl.8" "$MAN/"
echo "installed $("$PREFIX/bin/pysrsctl" --version) in $PREFIX; commands in /usr/local/sbin," \
    "man pages in $MAN"
supervised restart
