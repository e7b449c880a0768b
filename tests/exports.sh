#!/bin/sh
# The shared library exports the public API only: every defined dynamic symbol starts with lrd_
# and none with the internal prefix lrd__ (test hooks such as lrd__alloc_failafter are reached
# by tests that link liblarder statically). Run by `make check` from the build directory.
lib=.libs/liblarder.so
[ -f "$lib" ] || { echo "exports: $lib not built"; exit 99; }
command -v nm >/dev/null || { echo "exports: nm not found"; exit 77; }
bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | grep -v '^lrd_' ; \
	nm -D --defined-only "$lib" | awk '{print $3}' | grep '^lrd__')
if [ -n "$bad" ]; then
	echo "exports: $lib exports symbols outside the public API:"
	printf '  %s\n' $bad
	exit 1
fi
echo "exports: $(nm -D --defined-only "$lib" | grep -c ' lrd_') public symbols, no internal ones"
