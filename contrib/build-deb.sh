#!/bin/sh
# Build the Debian package of pysrsd from this checkout, with Debian's own tools (debhelper,
# dpkg-buildpackage; debian/ says how), as root or not:
#   sh contrib/build-deb.sh [--version VERSION] [OUTDIR]
# writes OUTDIR/pysrsd_VERSION_ARCH.deb (OUTDIR: dist/ in the checkout). VERSION defaults to the
# one in debian/changelog; another one (higher, for a local rebuild) gets its own changelog entry.
# Prerequisites: apt-get install build-essential debhelper python3-venv (and lintian, to check:
#   lintian dist/pysrsd_*.deb). pip downloads pysrsd's dependencies from PyPI during the build.
# Offline (no PyPI at build time): fetch the wheels once, pip download -d DIR '.[all]'
#   'setuptools>=68', then PYSRSD_PIP_ARGS="--no-index --find-links DIR" sh contrib/build-deb.sh
# The build runs in a copy of the checkout (its tracked and new files, as they are), so the
# checkout is left as it was.
set -eu
version=
while [ $# -gt 0 ]; do
    case "$1" in
        --version) version=${2:?--version needs a value}; shift 2 ;;
        -*) echo "usage: build-deb.sh [--version VERSION] [OUTDIR]" >&2; exit 2 ;;
        *) break ;;
    esac
done
checkout=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$checkout/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/pysrsd-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT

mkdir "$work/pysrsd"
if git -C "$checkout" rev-parse --git-dir > /dev/null 2>&1; then
    (cd "$checkout" && git ls-files --cached --others --exclude-standard -z |
        xargs -0 sh -c 'for f; do [ -e "$f" ] || [ -L "$f" ] && printf "%s\n" "$f"; done' sh |
        tar -cf - -T -) | tar -xf - -C "$work/pysrsd"
else
    tar -C "$checkout" --exclude=./dist --exclude=./build -cf - . | tar -xf - -C "$work/pysrsd"
fi
cd "$work/pysrsd"
if [ -n "$version" ]; then
    {
        printf 'pysrsd (%s) unstable; urgency=medium\n\n' "$version"
        printf '  * Local build of the source tree.\n\n'
        printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -S Maintainer)" "$(date -R)"
        cat debian/changelog
    } > debian/changelog.new
    mv debian/changelog.new debian/changelog
fi
dpkg-buildpackage -us -uc -b > "$work/build.log" 2>&1 || {
    tail -n 40 "$work/build.log" >&2
    echo "build-deb.sh: dpkg-buildpackage failed (the last lines of its log are above)" >&2
    exit 1
}
for deb in "$work"/*.deb; do
    mv "$deb" "$out/"
    echo "built $out/$(basename "$deb")"
done
