#!/usr/bin/env bats
# The manual pages (man/) against the code: each renders without a
# warning; every option of the tools (their getopt tables, their --help)
# and every key of the configuration parser has its entry in the page,
# and every entry names something the code knows (install.bats checks
# that make install puts them under $(mandir)). No server: it reads the
# sources and runs the tools.

# It needs no server, so not the e2e harness either: its paths and pl_fail.
PL_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
: "${PL_TOOLS:=$PL_ROOT/tools}"
pl_fail() { printf '%s\n' "$*" >&2; return 1; }

MAN=$PL_ROOT/man

# The long options of one tool's source: its struct option tables.
code_longs() { grep -oE '\{ "[a-z][a-z-]*", [01],' "$PL_ROOT/tools/$1.c" | sed -E 's/\{ "([a-z-]+)".*/\1/' | sort -u; }
# The short options of its getopt strings (argv, "+:c:d:h").
code_shorts() {
	grep -oE 'argv, "[^"]*"' "$PL_ROOT/tools/$1.c" | sed -E 's/.*"([^"]*)"$/\1/' |
		tr -d '+:\n' | grep -o . | sort -u
}
# The long options --help names.
help_longs() { "$PL_TOOLS/$1" --help | grep -oE -- '--[a-z][a-z-]*' | sed 's/^--//' | sort -u; }
# The long options a page names (\-\-max\-rows).
page_longs() { grep -oE '\\-\\-[a-z]+(\\-[a-z]+)*' "$1" | sed -e 's/\\-/-/g' -e 's/^--//' | sort -u; }

# man_check TOOL PAGE: both directions, one line per direction.
man_check() {
	local tool=$1 page=$MAN/$2 o missing='' code named
	code=$({ code_longs "$tool"; help_longs "$tool"; } | sort -u)
	named=$(page_longs "$page")
	missing=$(comm -23 <(echo "$code") <(echo "$named") | sed 's/^/--/' | tr '\n' ' ')
	for o in $(code_shorts "$tool"); do
		grep -qE -- "(^|[ \"])\\\\-$o([^a-z\\\\]|\$)" "$page" || missing="$missing -$o"
	done
	[ -z "$missing" ] || pl_fail "$2 lacks what $tool accepts: $missing"
	missing=$(comm -13 <(code_longs "$tool") <(echo "$named") | sed 's/^/--/' | tr '\n' ' ')
	[ -z "$missing" ] || pl_fail "$2 names what $tool does not accept: $missing"
}

@test "each page renders without a warning" {
	command -v groff >/dev/null || skip "groff is not installed"
	local p out
	for p in pushlite.1 pushlite-purge.8 pushlite.conf.5; do
		out=$(groff -man -ww -z "$MAN/$p" 2>&1) || pl_fail "$p: groff failed: $out"
		[ -z "$out" ] || pl_fail "$p: $out"
	done
}

@test "pushlite(1) and pushlite-purge(8) describe every option the tools accept, and no other" {
	man_check pushlite pushlite.1
	man_check pushlite-purge pushlite-purge.8
	# the extraction itself: a pattern that found nothing would pass anything
	[ "$(code_longs pushlite | wc -l)" -ge 10 ] && [ "$(code_shorts pushlite-purge | wc -l)" -ge 7 ] ||
		pl_fail "the option tables were not found in tools/"
}

# The keys the parser compares with, in set_key() ([pushlite]) or
# set_token_key() ([token NAME]) of lib/pl_conf.c.
conf_keys() {
	awk -v fn="$1" '$0 ~ "^static int " fn "\\(" { on = 1 } on && /^}/ { on = 0 } on' "$PL_ROOT/lib/pl_conf.c" |
		grep -oE 'strcmp\(k, "[a-z_]+"\)' | sed -E 's/.*"([a-z_]+)".*/\1/' | sort -u
}
# The keys a section of pushlite.conf(5) describes: its ".BI key " = ..." entries.
page_keys() {
	awk -v sh="$1" '/^\.SH / { on = index($0, sh) > 0; next } on && /^\.BI [a-z_]+ " = / { print $2 }' \
		"$MAN/pushlite.conf.5" | sort -u
}

@test "pushlite.conf(5) describes every key the parser knows, each in its section, and no other" {
	local sect fn k missing='' code page
	for sect in pushlite token; do
		fn=set_key
		[ "$sect" = token ] && fn=set_token_key
		code=$(conf_keys "$fn")
		page=$(page_keys "[$sect")
		[ "$(wc -l <<<"$code")" -ge 3 ] || pl_fail "no keys found in $fn() of lib/pl_conf.c"
		for k in $(comm -23 <(echo "$code") <(echo "$page")); do
			missing="$missing [$sect] $k"
		done
		for k in $(comm -13 <(echo "$code") <(echo "$page")); do
			missing="$missing (not a key: [$sect] $k)"
		done
	done
	[ -z "$missing" ] || pl_fail "pushlite.conf.5 and lib/pl_conf.c differ:$missing"
	# the environment the programs read
	grep -ohE 'getenv\("PUSHLITE_[A-Z_]+"\)' "$PL_ROOT"/lib/*.c "$PL_ROOT"/tools/*.c | grep -oE 'PUSHLITE_[A-Z_]+' | sort -u |
		while read -r k; do
			grep -qx "\\.B $k" "$MAN/pushlite.conf.5" || pl_fail "pushlite.conf.5 has no ENVIRONMENT entry for $k"
		done
}
