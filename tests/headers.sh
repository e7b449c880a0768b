#!/bin/sh
# Public headers: each include/larder/*.h, and the umbrella larder.h, must compile on its own as
# C11 and as C++11 with warnings as errors (CONVENTIONS.md, "API conventions": self-contained,
# extern "C", C++-clean). A header whose comments tell callers to free with lrd_free() or
# lrd_value_free() must declare that function by itself: the test takes its address.
# Run by `make check` with CC, CXX and LRD_HEADER_INCLUDES (-I for the source and build include
# directories) in the environment.
: "${CC:?}" "${CXX:?}" "${LRD_HEADER_INCLUDES:?}"
warn="-Wall -Wextra -Werror -pedantic"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
hdrs=larder.h
for dir in $LRD_HEADER_INCLUDES; do
	for h in "${dir#-I}"/larder/*.h; do
		[ -f "$h" ] && hdrs="$hdrs larder/$(basename "$h")"
	done
done
fail=0 n=0
for h in $(printf '%s\n' $hdrs | sort -u); do
	printf '#include "%s"\nint lrd_header_check_%d;\n' "$h" "$n" >"$tmp/t.c"
	for f in lrd_free lrd_value_free; do
		for dir in $LRD_HEADER_INCLUDES; do
			if [ -f "${dir#-I}/$h" ] && grep -qw "$f" "${dir#-I}/$h"; then
				printf 'int lrd_header_uses_%s = (int)sizeof &%s;\n' "$f" "$f" >>"$tmp/t.c"
				break
			fi
		done
	done
	cp "$tmp/t.c" "$tmp/t.cc"
	for lang in c cc; do
		if [ $lang = c ]; then cmd="$CC -std=c11"; else cmd="$CXX -std=c++11"; fi
		if $cmd $warn $LRD_HEADER_INCLUDES -fsyntax-only "$tmp/t.$lang" 2>"$tmp/err"; then
			echo "ok   $h ($lang)"
		else
			echo "FAIL $h ($lang): $cmd $warn $LRD_HEADER_INCLUDES -fsyntax-only"
			cat "$tmp/err"
			fail=1
		fi
	done
	n=$((n + 1))
done
[ "$n" -gt 1 ] || { echo "no public headers found under $LRD_HEADER_INCLUDES"; exit 99; }
exit $fail
