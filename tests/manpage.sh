#!/bin/sh
# larder.1 is in step with the CLI's own help. Run by `make check` with LARDER_EXE (the built
# larder) and LRD_TOP_SRCDIR in the environment. Checks, naming each miss:
# - every command `larder --help` lists has a `.SS NAME` section under `.SH COMMANDS`, and every
#   such section is a listed command (a removed command leaves no stale section);
# - every option (`--long`, `-x`) that `larder CMD --help` prints appears in CMD's section, and
#   so does every sub-command a usage line names (`usage: larder CMD SUB ...`), whose own
#   `larder CMD SUB --help` options are checked the same way;
# - `larder --help`'s options are in SYNOPSIS, its exit codes in EXIT STATUS;
# - every environment variable the library or the CLI reads (getenv/secure_getenv in the
#   sources) is in ENVIRONMENT;
# - groff, when installed, reads the page without a warning.
# So a new subcommand, option or variable without its man page entry fails here, by name.
: "${LARDER_EXE:?}" "${LRD_TOP_SRCDIR:?}"
man=$LRD_TOP_SRCDIR/larder.1
[ -f "$man" ] || {
	echo "manpage: $man missing"
	exit 1
}
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0
miss() {
	echo "manpage: larder.1 $*"
	fail=1
}

# The page as plain text, one file per section: font escapes dropped, \- as -.
sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/\\&//g' -e 's/\\(dq/"/g' "$man" >"$tmp/plain"
awk -v dir="$tmp" '
	/^\.SH / { sh = $2; ss = ""; next }
	/^\.SS / { ss = $2; if (sh == "COMMANDS") print ss > (dir "/sections"); next }
	{
		if (sh == "COMMANDS" && ss != "") print > (dir "/cmd." ss)
		else if (sh != "") print > (dir "/sh." sh)
	}' "$tmp/plain"
touch "$tmp/sections"

# Options printed by a help text: --long and -x, not "--help"/"-h" (every command has them).
options() {
	grep -oE '(^|[^a-zA-Z0-9-])--?[a-zA-Z][a-zA-Z0-9-]*' "$1" | sed 's/^[^-]*//' |
		grep -vxE -- '--help|-h' | sort -u
}
# has FILE WORD: WORD appears in FILE as a whole word (an option, a name)
has() { grep -qE -- "(^|[^a-zA-Z0-9_-])$2([^a-zA-Z0-9_-]|\$)" "$1" 2>/dev/null; }

"$LARDER_EXE" --help >"$tmp/help" || miss "(larder --help failed)"
sed -n '/^commands:/,/^$/p' "$tmp/help" | sed -n 's/^  \([a-z][a-z0-9-]*\) .*/\1/p' >"$tmp/commands"
[ -s "$tmp/commands" ] || miss "(no commands found in larder --help)"

# check_help NAME SECTION-FILE ARGS...: options of `larder ARGS --help` are in SECTION-FILE
check_help() {
	name=$1 sect=$2
	shift 2
	out=$tmp/help.$(echo "$name" | tr ' ' _)
	"$LARDER_EXE" "$@" --help >"$out" 2>&1 || miss "(larder $name --help exited $?)"
	for opt in $(options "$out"); do
		has "$sect" "$opt" || miss "section $name: option $opt (from larder $name --help) missing"
	done
}

n=0
while read -r cmd; do
	n=$((n + 1))
	sect=$tmp/cmd.$cmd
	if ! grep -qx "$cmd" "$tmp/sections"; then
		miss "has no '.SS $cmd' section under COMMANDS (larder --help lists '$cmd')"
		continue
	fi
	check_help "$cmd" "$sect" "$cmd"
	# sub-commands named by usage lines: usage: larder CMD SUB ...
	for sub in $(sed -n "s/^usage: larder $cmd \([a-z][a-z0-9-]*\).*/\1/p" "$tmp/help.$cmd" | sort -u); do
		has "$sect" "$cmd $sub" || miss "section $cmd: sub-command '$cmd $sub' missing"
		check_help "$cmd $sub" "$sect" "$cmd" "$sub"
	done
done <"$tmp/commands"

while read -r s; do
	grep -qx "$s" "$tmp/commands" || miss "section '.SS $s' is not a command of larder --help"
done <"$tmp/sections"

for opt in $(sed -n 's/^usage: larder \(.*\) COMMAND.*/\1/p' "$tmp/help" | grep -oE -- '--?[a-zA-Z][a-zA-Z0-9-]*'); do
	has "$tmp/sh.SYNOPSIS" "$opt" || miss "SYNOPSIS: option $opt (from larder --help) missing"
done
for code in $(sed -n 's/^exit status: //p' "$tmp/help" | grep -oE '(^|, )[0-9]+' | grep -oE '[0-9]+'); do
	grep -qx "$code" "$tmp/sh.EXIT" 2>/dev/null || grep -qx "\.B $code" "$tmp/sh.EXIT" ||
		miss "EXIT STATUS: exit code $code (from larder --help) missing"
done

for var in $(cat "$LRD_TOP_SRCDIR"/base/*.c "$LRD_TOP_SRCDIR"/codecs/*.c \
	"$LRD_TOP_SRCDIR"/codecs/*/*.c "$LRD_TOP_SRCDIR"/engine/*/*.c "$LRD_TOP_SRCDIR"/tools/*.c \
	"$LRD_TOP_SRCDIR"/memo/*.c "$LRD_TOP_SRCDIR"/parallel/*.c 2>/dev/null |
	grep -oE 'getenv\("[A-Za-z_][A-Za-z0-9_]*"\)' | sed 's/.*("\(.*\)")/\1/' | sort -u); do
	has "$tmp/sh.ENVIRONMENT" "$var" ||
		miss "ENVIRONMENT: $var missing (the sources read it with getenv)"
done

# and the page itself is clean roff (when groff is installed)
if command -v groff >/dev/null 2>&1; then
	warnings=$(groff -man -Tutf8 -ww -z "$man" 2>&1)
	[ -z "$warnings" ] || miss "has roff warnings: $warnings"
fi

[ "$fail" = 0 ] && echo "manpage: larder.1 covers the $n commands of larder --help, their options, exit codes and environment"
exit "$fail"
