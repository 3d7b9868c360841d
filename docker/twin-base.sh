#!/usr/bin/env bash
# The twin's base image, made here without any registry: Debian 12 from the apt mirror
# (mmdebstrap) with the same CPython the lock is tested with (this machine's python3, whose
# version environment.yml pins), laid out as the micromamba base the real image uses:
# user mambauser (uid 57439), the environment's prefix /opt/conda on PATH, and an
# /usr/local/bin/_entrypoint.sh that activates it. The Dockerfile's lines after the
# environment are then the same for both bases.
#   docker/twin-base.sh ENGINE IMAGE      (make docker-build-twin calls it when IMAGE is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
engine="$1" image="$2"
PYTHON="${PYTHON:-python3}"

fail() {
  echo "error: $*" >&2
  exit 2
}

if "$engine" image inspect "$image" >/dev/null 2>&1; then exit 0; fi
command -v mmdebstrap >/dev/null 2>&1 ||
  fail "the twin's base is made with mmdebstrap, which is not installed: run \`sudo apt-get install mmdebstrap\` (Debian or Ubuntu), or build the real image where a registry is reachable: make docker-build"

wanted="$(sed -n 's/^ *- python=\([0-9.]*\)$/\1/p' environment.yml)"
have="$("$PYTHON" -c 'import platform; print(platform.python_version())')"
[[ "$have" == "$wanted" ]] ||
  fail "the twin holds the Python the lock is tested with, $wanted (environment.yml), but $PYTHON is $have: set PYTHON=<a python$wanted>"
prefix="$("$PYTHON" -c 'import sys; print(sys.base_prefix)')"
short="${wanted%.*}"
[[ -f "$prefix/lib/libpython$short.so.1.0" ]] ||
  fail "$PYTHON ($prefix) is not built as a shared library, which the twin copies: use a Python built with --enable-shared (pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared), as Debian's and pyenv's usual builds are"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "Making the twin's base $image: Debian 12 and Python $wanted from $prefix (about 30 s, once) ..."
# The interpreter and its standard library, without this machine's site-packages, the tests
# and the GUI modules; it links against Debian's libraries, which the list below installs.
tar -C "$prefix" -cf "$work/python.tar" \
  --exclude="lib/python$short/site-packages/*" --exclude="lib/python$short/test" \
  --exclude="lib/python$short/idlelib" --exclude="lib/python$short/tkinter" \
  --exclude="lib/python$short/turtledemo" --exclude='*.a' \
  "bin/python$short" "lib/libpython$short.so" "lib/libpython$short.so.1.0" lib/libpython3.so "lib/python$short" "include/python$short"
cat >"$work/_entrypoint.sh" <<'SCRIPT'
#!/bin/sh
# The twin's stand-in for micromamba's entrypoint: the environment is /opt/conda.
PATH="/opt/conda/bin:$PATH" exec "$@"
SCRIPT
# Each hook runs in a shell of mmdebstrap's, where $1 is the new system's root.
# shellcheck disable=SC2016
mmdebstrap --quiet --variant=minbase \
  --include=make,tini,ca-certificates,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,libreadline8,zlib1g,libncursesw6,libuuid1,libexpat1,libgdbm6,libnsl2,libtirpc3,libcrypt1 \
  --customize-hook="tar -C \"\$1/usr/local\" -xf $work/python.tar" \
  --customize-hook="ln -s python$short \"\$1/usr/local/bin/python3\"" \
  --customize-hook='chroot "$1" ldconfig' \
  --customize-hook='chroot "$1" groupadd --gid 57439 mambauser' \
  --customize-hook='chroot "$1" useradd --uid 57439 --gid 57439 --create-home --shell /bin/bash mambauser' \
  --customize-hook='install -d -o 57439 -g 57439 "$1/opt/conda"' \
  --customize-hook="install -m 755 $work/_entrypoint.sh \"\$1/usr/local/bin/_entrypoint.sh\"" \
  --customize-hook='chroot "$1" python3 -c "import ctypes, bz2, lzma, sqlite3, ssl, uuid, zlib"' \
  --customize-hook='rm -rf "$1/var/cache/apt/"* "$1/var/lib/apt/lists/"*' \
  bookworm "$work/base.tar" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main"
"$engine" import \
  --change "ENV PATH=/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV MAMBA_USER=mambauser" --change "ENV MAMBA_ROOT_PREFIX=/opt/conda" \
  --change "ENV LANG=C.UTF-8" --change "USER mambauser" --change "WORKDIR /tmp" \
  "$work/base.tar" "$image" >/dev/null
echo "twin base ready: $image ($(du -m "$work/base.tar" | cut -f1) MiB)"
