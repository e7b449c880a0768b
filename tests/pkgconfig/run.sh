#!/bin/sh
# `make installcheck` (and so `make distcheck`): the installed package works for a program
# that knows nothing but `pkg-config --cflags --libs larder` and `#include <larder.h>`.
# Builds CONSUMER_C (tests/pkgconfig/consumer.c) against $DESTDIR$libdir/pkgconfig/larder.pc
# in a temporary directory, runs it (a dump and load through the installed zstd plugin), runs
# the installed `larder` and checks that the man page is installed.
# Environment (set by Makefile.am): CC PKG_CONFIG DESTDIR bindir libdir pkglibdir mandir.
set -u
: "${CC:?}" "${PKG_CONFIG:?}" "${bindir:?}" "${libdir:?}" "${pkglibdir:?}" "${mandir:?}"
consumer_c=${1:?usage: run.sh CONSUMER_C}
root=${DESTDIR:-}
pcdir=$root$libdir/pkgconfig
fail() {
	echo "installcheck: $*" >&2
	exit 1
}
[ -f "$pcdir/larder.pc" ] || fail "no larder.pc in $pcdir"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# PKG_CONFIG_SYSROOT_DIR puts a staged install's DESTDIR in front of the -I and -L paths.
flags=$(PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$root "$PKG_CONFIG" --cflags --libs larder) ||
	fail "pkg-config --cflags --libs larder failed (PKG_CONFIG_PATH=$pcdir)"
echo "installcheck: $CC consumer.c $flags"
cp "$consumer_c" "$tmp/consumer.c" || exit 1
# shellcheck disable=SC2086
(cd "$tmp" && $CC -std=c11 -Wall -Wextra -Werror -o consumer consumer.c $flags) ||
	fail "consumer.c does not build against the installed larder"

# The prefix is rarely on the loader's path (distcheck's never is); pkg-config adds no rpath.
LD_LIBRARY_PATH=$root$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
# A staged install is not where the plugins were configured to live: say where. Otherwise the
# installed plugin directory compiled into the library must be found by itself.
if [ -n "$root" ]; then
	LARDER_PLUGIN_PATH=$root$pkglibdir/plugins
	export LARDER_PLUGIN_PATH
else
	unset LARDER_PLUGIN_PATH
fi
"$tmp/consumer" "$tmp" || fail "the consumer built against the installed larder failed"
"$root$bindir/larder" codecs >"$tmp/codecs" || fail "installed larder codecs failed"
grep -q '^zstd ' "$tmp/codecs" ||
	fail "installed larder does not find the installed zstd plugin"
[ -f "$root$mandir/man1/larder.1" ] || fail "larder.1 not installed in $root$mandir/man1"
echo "installcheck: consumer, larder codecs (zstd plugin) and larder.1: ok"
