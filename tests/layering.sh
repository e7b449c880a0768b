#!/bin/sh
# The layering rule, checked on every #include of the source tree:
#   tools -> {memo, parallel} -> engine -> codecs -> base, nothing backwards;
#   engine/store never includes engine/file; codecs/plugins, memo, parallel and tools use only
#   the public headers (<larder/*.h>) and base/, besides their own folder; parallel/mpi (liblarder-mpi)
#   likewise, and MPI's <mpi.h>, never parallel/'s internals.
# A violation prints the offending line (file:line: text) and fails.
set -u
top=${LARDER_TEST_SRCDIR:-$(dirname "$0")}/..
cd "$top" || exit 99

status=0
# check DIR ALLOWED... : every project include in DIR (with its subfolders, except those checked
# on their own: codecs/plugins, parallel/mpi) must start with one of the ALLOWED prefixes. A project include
# is one naming a top-level folder of the tree.
check() {
	dir=$1
	shift
	[ -d "$dir" ] || return 0
	prune=
	[ "$dir" = codecs ] && prune=codecs/plugins
	[ "$dir" = parallel ] && prune=parallel/mpi
	find "$dir" -path "${prune:-no-such-path}" -prune -o -name '*.[ch]' -print | sort | while read -r f; do
		grep -n -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]' "$f" | while IFS= read -r hit; do
			path=$(printf '%s\n' "$hit" | sed -E 's/^[0-9]+:[[:space:]]*#[[:space:]]*include[[:space:]]*["<]([^">]*)[">].*/\1/')
			case "$path" in
			base/* | codecs/* | engine/* | memo/* | parallel/* | tools/* | tests/* | larder/* | larder.h | ../*) ;;
			*) continue ;; # a system header
			esac
			ok=0
			for a in "$@"; do
				case "$path" in "$a"*) ok=1 ;; esac
			done
			if [ $ok -eq 0 ]; then
				echo "layering: $f:${hit%%:*}: includes \"$path\" (allowed here: $*)"
				echo fail
			fi
		done
	done
}

out=$(
	check base base/ larder/
	check codecs/plugins larder/ larder.h
	check codecs codecs/ base/ larder/
	check engine/value engine/value/ base/ codecs/ larder/
	check engine/record engine/record/ engine/value/ base/ codecs/ larder/
	check engine/io engine/io/ engine/record/ engine/value/ base/ codecs/ larder/
	check engine/npy engine/npy/ engine/io/ engine/record/ engine/value/ base/ codecs/ larder/
	check engine/file engine/file/ engine/io/ engine/record/ engine/value/ base/ codecs/ larder/
	check engine/store engine/store/ engine/record/ engine/value/ base/ codecs/ larder/
	check memo memo/ base/ larder/ larder.h
	check parallel parallel/ base/ larder/ larder.h
	check parallel/mpi parallel/mpi/ base/ larder/ larder.h
	check tools tools/ base/ larder/ larder.h
)
if [ -n "$out" ]; then
	printf '%s\n' "$out" | grep -v '^fail$'
	status=1
fi
# every C file of the library lives in a known layer
for f in $(find . -path ./tests -prune -o -path ./bench -prune -o -path ./examples -prune -o \
	-name '*.c' -print | sed 's|^\./||'); do
	case "$f" in
	base/* | codecs/* | engine/value/* | engine/record/* | engine/io/* | engine/file/* | engine/npy/* | \
		engine/store/* | memo/* | parallel/* | tools/*) ;;
	*)
		case "$f" in */.*) continue ;; esac
		echo "layering: $f is in no layer (see tests/layering.sh)"
		status=1
		;;
	esac
done
[ $status -eq 0 ] && echo "layering: every include follows tools -> memo, parallel -> engine -> codecs -> base"
exit $status
