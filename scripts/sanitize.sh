#!/usr/bin/env bash
# scripts/sanitize.sh: build a second copy of the tree with AddressSanitizer
# and UndefinedBehaviorSanitizer, run its C unit tests and part of the
# end-to-end suite against it (lighttpd); print TAP.
#
#   scripts/sanitize.sh                  the default e2e files (PL_SAN_E2E)
#   scripts/sanitize.sh poll stream ...  these tests/e2e/NAME.bats instead
#
# The source tree is configured in place, so the copy is made from the files
# git knows (tracked, with their uncommitted changes, and untracked files
# that are not ignored), then autoreconf, ./configure --enable-sanitizers
# CC=$PL_SAN_CC, make, make check. TAP lines:
#   - the build;
#   - one per unit test program (its checks pass, it exits 0, and its log
#     holds no sanitizer report; leak detection on);
#   - a canary: a program with a heap overflow, run by lighttpd as a FastCGI
#     program the way the tests run ours, must leave a report where this
#     script looks (proves the environment and the logs reach us);
#   - every bats test of the chosen files, run with PL_BIN and PL_TOOLS in
#     the sanitizer build;
#   - one per sanitizer report found afterwards (in log_path files, the
#     servers' logs and outputs, any file of the tests' state), or one "ok"
#     when there is none. A report fails the run even when the test that
#     provoked it passed (e.g. a tool expected to exit non-zero).
# Server programs run with ASAN_OPTIONS=detect_leaks=0 (they are killed at
# teardown) and abort_on_error=1; UBSan halts at the first error. Both write
# their reports to log_path: clang's runtime honours that for UBSan too
# (gcc's libubsan writes only to stderr, which lighttpd sends to its own
# stderr, server.out: searched as well).
#
# Environment:
#   PL_SAN_CC      compiler (default clang)
#   PL_SAN_E2E     e2e files to run (names without .bats)
#   PL_SAN_BUILD   build here (an existing directory is updated and rebuilt
#                  incrementally, and kept); default: a temporary directory
#   PL_SAN_KEEP=1  keep the temporary build, state and reports
#   PL_SAN_LOGS    directory where the full reports are copied, if any
# Exit status: non-zero when anything failed.
set -u

# About 4 minutes on 2 cores. Left out: concurrency, contention, crash and
# faults (load, SIGKILL and broken storage: slow, and they exercise the
# same code paths as these); isolation (a matrix of the filters the poll,
# longpoll, stream and auth files run once each, about a minute here) and
# purge (its store paths run under the sanitizers in t_store).
PL_SAN_E2E_DEFAULT="publish poll formats longpoll stream admin errors
	cgi auth topics gap limits cors shutdown"

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root" || exit 2

cc=${PL_SAN_CC:-clang}
n=0
nfail=0

tap_ok() { n=$((n + 1)); printf 'ok %d - %s\n' "$n" "$*"; }
tap_fail() { n=$((n + 1)); nfail=$((nfail + 1)); printf 'not ok %d - %s\n' "$n" "$*"; }
comment() { sed -e 's/^/# /'; }
finish() {
	echo "1..$n"
	[ "$nfail" -eq 0 ]
	exit
}

if [ -n "${PL_SAN_BUILD-}" ]; then
	build=$PL_SAN_BUILD
	keep_build=1
	mkdir -p "$build" || { echo "Bail out! cannot create $build"; exit 2; }
else
	build=$(mktemp -d "${TMPDIR:-/tmp}/pushlite-san.XXXXXX") || { echo "Bail out! mktemp"; exit 2; }
	keep_build=${PL_SAN_KEEP-}
fi
build=$(cd "$build" && pwd)
work=$build/.sanitize
rm -rf "$work"
mkdir -p "$work/reports" "$work/state" "$work/canary"

# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ "$keep_build" = 1 ]; then
		echo "# sanitizer build kept in $build"
	else
		rm -rf "$build"
	fi
}
trap cleanup EXIT

command -v "$cc" >/dev/null 2>&1 || { tap_fail "sanitizer build: $cc not found (apt-get install clang)"; finish; }

# ------------------------------------------------------------ the copy ---
if ! git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
	tap_fail "sanitizer build: $root is not a git checkout (needed to know which files to copy)"
	finish
fi
# Tracked files as they are in the work tree, and untracked ones that are
# not ignored; a tracked file deleted in the work tree is left out.
git -C "$root" ls-files -z --cached --others --exclude-standard |
	tar -C "$root" --null -T - --ignore-failed-read -cf - 2>"$work/copy.err" |
	tar -C "$build" -xf - || { tap_fail "sanitizer build: copying the tree failed"; comment <"$work/copy.err"; finish; }

# ----------------------------------------------------------- the build ---
t0=$SECONDS
if ! (
	cd "$build" || exit 1
	if [ ! -x configure ] || [ configure.ac -nt configure ]; then
		autoreconf -fi || exit 1
	fi
	if [ ! -f Makefile ] || [ configure -nt config.status ]; then
		./configure CC="$cc" --enable-sanitizers || exit 1
	fi
	make -j2
) >"$work/build.log" 2>&1; then
	tap_fail "sanitizer build (CC=$cc --enable-sanitizers)"
	tail -n 30 "$work/build.log" | comment
	finish
fi
tap_ok "sanitizer build (CC=$cc --enable-sanitizers, $((SECONDS - t0)) s)"

# A sanitizer report in FILE...: prints the files that hold one.
san_pattern='ERROR: (Address|Leak|Memory|Thread|UndefinedBehavior)Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer'
# Only logs and outputs: the databases hold the tests' message data.
san_files() {
	find "$@" -type f \( -name '*.log' -o -name '*.out' -o -name '*.err' \
		-o -name 'san.*' \) ! -name '*access.log' \
		-exec grep -lE -a "$san_pattern" {} + 2>/dev/null
}
# The first lines of a report in FILE, as TAP comments.
san_show() {
	awk -v re="$san_pattern" '!on && $0 ~ re { on = 1 }
		on { print; if (++n >= 30 || /^SUMMARY: /) exit }' "$1" | comment
}

# ----------------------------------------------------- unit tests ---
t0=$SECONDS
(
	cd "$build" || exit 1
	ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:abort_on_error=1 \
		make -j2 check
) >"$work/check.log" 2>&1
check_rc=$?
progs=0
for trs in "$build"/tests/unit/t_*.trs; do
	[ -f "$trs" ] || continue
	progs=$((progs + 1))
	tlog=${trs%.trs}.log
	name=$(basename "${trs%.trs}")
	checks=$(grep -cE '^(not )?ok' "$tlog" 2>/dev/null)
	if ! grep -q '^:test-result: PASS' "$trs"; then
		tap_fail "asan+ubsan unit $name: $(sed -n 's/^:test-result: //p' "$trs" | head -1)"
		{ grep -E -A 3 '^not ok' "$tlog"; tail -n 3 "$tlog"; } | head -n 40 | comment
	elif grep -qE -a "$san_pattern" "$tlog"; then
		tap_fail "asan+ubsan unit $name: sanitizer report"
		san_show "$tlog"
	else
		tap_ok "asan+ubsan unit $name (${checks:-0} checks)"
	fi
done
if [ "$progs" -eq 0 ] || { [ "$check_rc" -ne 0 ] && [ "$nfail" -eq 0 ]; }; then
	tap_fail "asan+ubsan make check: exit $check_rc, $progs test programs ran"
	tail -n 30 "$work/check.log" | comment
fi
echo "# make check in the sanitizer build: $((SECONDS - t0)) s"

# ---------------------------------------------- the e2e environment ---
# lighttpd hands its own environment to the FastCGI programs it starts
# (there is no bin-copy-environment in the generated config), so exported
# variables reach them; the canary below proves it. In clang's combined
# runtime the flags common to both (log_path, abort_on_error) are read from
# ASAN_OPTIONS and then UBSAN_OPTIONS, the last one winning: give both the
# same values.
san_env() {  # san_env REPORT-PREFIX: export the options
	export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$1"
	export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:log_path=$1"
}

# ------------------------------------------------------------ canary ---
# A FastCGI program that overflows a heap buffer at start: its report must
# land in the reports directory or the server's logs.
canary() {
	local d=$work/canary st port
	printf '%s\n' '#include <stdlib.h>' \
		'int main(void) { char *volatile p = malloc(8); p[8] = 1; free(p); return 0; }' >"$d/canary.c"
	mkdir -p "$d/bin" "$d/state" "$d/reports"
	"$cc" -g -fsanitize=address,undefined "$d/canary.c" -o "$d/bin/admin" >"$d/cc.log" 2>&1 || return 1
	# shellcheck source=scripts/server.sh
	. "$root/scripts/server.sh"
	st=$d/state
	pl_write_pushlite_conf "$st/pushlite.conf" "$st/pushlite.db" canary-secret-0123456789 p a ""
	port=$(pl_free_port) || return 1
	pl_gen_lighttpd "$st" "$port" "$d/bin" "$root/www" "$st/pushlite.conf" || return 1
	san_env "$d/reports/san"   # canary runs in a subshell: not exported further
	pl_server_start lighttpd "$st" || return 1
	pl_server_wait lighttpd "$st" "$port" 10 /push/health 2>/dev/null
	curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$port/push/health"
	sleep 0.3
	pl_server_stop "$st"
	[ -n "$(san_files "$d/reports" "$st")" ]
}
if (canary); then
	tap_ok "canary: a sanitizer report of a FastCGI program started by lighttpd is found"
else
	tap_fail "canary: a FastCGI program with a heap overflow left no report where this script looks"
	tail -n 20 "$work/canary/state/server.out" "$work/canary/cc.log" 2>/dev/null | comment
fi

# --------------------------------------------------------------- e2e ---
if [ "$#" -gt 0 ]; then
	names="$*"
else
	names=${PL_SAN_E2E:-$PL_SAN_E2E_DEFAULT}
fi
files=()
for f in $names; do
	f=${f%.bats}
	f=tests/e2e/${f#tests/e2e/}.bats
	if [ -f "$f" ]; then
		files+=("$f")
	else
		tap_fail "e2e file $f does not exist"
	fi
done
if [ "${#files[@]}" -gt 0 ]; then
	t0=$SECONDS
	# PL_KEEP=1: the tests' state directories stay (in $work/state) until
	# their logs are searched.
	san_env "$work/reports/san"
	PL_BIN=$build/cgi-bin PL_TOOLS=$build/tools PL_SERVER=lighttpd PL_KEEP=1 \
		TMPDIR=$work/state BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-120} \
		timeout -k 10 "${PL_SAN_E2E_TIMEOUT:-900}" bats --tap --timing "${files[@]}" \
		>"$work/e2e.tap" 2>&1 </dev/null
	bats_rc=$?
	# Renumber bats' results into this stream; its plan line goes.
	before=$nfail
	re='^(not )?ok [0-9]+ ?(.*)$'
	while IFS= read -r line; do
		if [[ $line =~ $re ]]; then
			if [ -n "${BASH_REMATCH[1]}" ]; then
				tap_fail "asan+ubsan e2e: ${BASH_REMATCH[2]}"
			else
				tap_ok "asan+ubsan e2e: ${BASH_REMATCH[2]}"
			fi
		elif [[ $line != 1..* ]]; then
			printf '%s\n' "$line"
		fi
	done <"$work/e2e.tap"
	if [ "$bats_rc" -ne 0 ] && [ "$nfail" -eq "$before" ]; then
		tap_fail "asan+ubsan e2e: bats exit $bats_rc (${#files[@]} files)"
		tail -n 20 "$work/e2e.tap" | comment
	fi
	echo "# e2e against the sanitizer build (${#files[@]} files): $((SECONDS - t0)) s"

	reports=$(san_files "$work/reports" "$work/state")
	if [ -z "$reports" ]; then
		tap_ok "no sanitizer report in the programs' logs ($(find "$work/state" -name '*.log' -o -name server.out | wc -l) server logs searched)"
	else
		for r in $reports; do
			tap_fail "sanitizer report in ${r#"$work"/}"
			san_show "$r"
		done
		if [ -n "${PL_SAN_LOGS-}" ]; then
			mkdir -p "$PL_SAN_LOGS"
			for r in $reports; do
				cp "$r" "$PL_SAN_LOGS/$(echo "${r#"$work"/}" | tr / _)"
			done
			echo "# full reports copied to $PL_SAN_LOGS"
		fi
	fi
fi
finish
