#!/usr/bin/env bats
# SPEC 3: "A 201 means the message survives a crash of any process."
# Publishers run in a loop (tests/tools/pl-load.c records every id answered
# 201 and the body it sent) while the publish FastCGI processes, and then
# the web server with every program, are killed with SIGKILL. Afterwards
# every acknowledged id is stored with its exact data and the database
# passes PRAGMA integrity_check.

load helper
load reliability

setup_file() {
	pl_setup_server
	rl_build_load
}
teardown_file() { pl_teardown_server; }

setup() {
	# Under mod_proxy_fcgi the programs run under spawn-fcgi beside Apache,
	# and a program that dies is restarted by the host's supervisor
	# (docs/deploy.md), which the test setup does not have. scripts/test
	# runs this file on lighttpd and on Apache with mod_fcgid.
	[ "$PL_SERVER" != apache-proxy ] || skip "apache-proxy: a killed program is restarted by the host's supervisor, not by Apache"
	pl_need publish admin
	rl_build_load
}
# A failed test leaves its driver running: it would publish for minutes.
teardown() {
	[ -z "${driver:-}" ] || kill -TERM "$driver" 2>/dev/null || true
}

# kill_publishers: SIGKILL every publish process now; prints how many.
kill_publishers() {
	local pids
	pids=$(rl_prog_pids publish)
	[ -n "$pids" ] || { echo 0; return 0; }
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	echo "$pids" | wc -w
}

# published_since N: the driver's output has more than N answered lines.
answers_over() { [ "$(acked "$1")" -gt "$2" ]; }
acked() {
	local n
	n=$(grep -c '^ok ' "$1" 2>/dev/null)
	echo "${n:-0}"
}

# unexpected_answers OUT: answers other than 201 that are neither a 503
# with Retry-After from pushlite nor the web server's own error for a
# request whose program was killed under it (500/502/503/504), which must
# carry the JSON body of errors/ (lighttpd: server.errorfile-prefix, Apache:
# ErrorDocument), not the server's HTML page.
unexpected_answers() {
	awk '
	$1 != "st" { next }
	$2 == 503 && $3 == 1 { next }
	$2 ~ /^50[0234]$/ && $4 ~ /^\{"error":"[a-z_]+","message":"/ { next }
	{ print }' "$1" | head -5
}
# server_pages OUT: how many requests the web server answered itself.
server_pages() {
	awk '$1 == "st" && $2 ~ /^50[0234]$/ && !($2 == 503 && $3 == 1) { n++ } END { print n + 0 }' "$1"
}

@test "SIGKILL of the publish processes at random moments: every 201 is stored with its data" {
	T=/crash/fcgi
	out=$BATS_TEST_TMPDIR/pub.out
	"$RL_LOAD" publish "$PL_URL" "$PL_PUB_TOKEN" "$T" 8 300 "$out" >"$BATS_TEST_TMPDIR/pub.sum" 3>&- &
	driver=$!
	wait_for 10 answers_over "$out" 20 || pl_fail "publishing did not start: $(head -3 "$out")"
	kills=0 rounds=0 waits=
	for round in 1 2 3 4 5 6; do
		# A random moment: 0.3-1.2 s after the previous kill.
		sleep "0.$(( 3 + RANDOM % 10 ))"
		n=$(kill_publishers)
		kills=$(( kills + n ))
		(( n > 0 )) && rounds=$(( rounds + 1 ))
		# lighttpd starts them again for the next request: wait until
		# acknowledgements flow again before the next kill.
		# The driver publishes until it is stopped, however long the
		# respawns take: a run with a fixed length ran out during slow
		# ones.
		before=$(acked "$out") t0=$(date +%s%N)
		wait_for 15 answers_over "$out" "$(( before + 5 ))" ||
			pl_fail "no 201 for 15 s after kill round $round (publish not respawned?)"
		waits="$waits $(( ($(date +%s%N) - t0) / 1000000 ))"
	done
	sleep 1
	kill -TERM "$driver"
	wait "$driver"
	sum=$(cat "$BATS_TEST_TMPDIR/pub.sum")
	(( rounds >= 5 )) || pl_fail "only $rounds kill rounds hit a publish process"
	rl_dump_topic "$T" "$BATS_TEST_TMPDIR/dump"
	checked=$(rl_check_acked "$out" "$BATS_TEST_TMPDIR/dump")
	(( checked > 100 )) || pl_fail "only $checked messages acknowledged: $sum"
	# Answers other than 201 and network errors: only 503 with Retry-After.
	bad=$(unexpected_answers "$out")
	[ -z "$bad" ] || pl_fail "unexpected answers: $bad"
	lost=$(server_pages "$out")
	# While lighttpd restarts the program it answers 503 itself (Apache: 500
	# for the request the program died in): the bodies of errors/.
	if (( lost > 0 )); then
		grep -q '^st 50[03] 0 {"error":"\(unavailable\|internal\)"' "$out" ||
			pl_fail "the server answered $lost requests itself, none with errors/ bodies: $(grep '^st ' "$out" | head -3)"
	fi
	rl_integrity
	rl_note "publish SIGKILL: $kills processes killed in $rounds rounds (ms until 201s flowed again:$waits); $checked acknowledged messages checked; $lost in-flight requests answered by the web server itself (JSON bodies of errors/); driver: $sum"
}

@test "SIGKILL of the web server and all its programs, restart: every 201 is stored with its data" {
	T=/crash/server
	out=$BATS_TEST_TMPDIR/pub.out
	"$RL_LOAD" publish "$PL_URL" "$PL_PUB_TOKEN" "$T" 8 300 "$out" >"$BATS_TEST_TMPDIR/pub.sum" 3>&- &
	driver=$!
	crashes=0
	for round in 1 2 3; do
		before=$(acked "$out")
		wait_for 15 answers_over "$out" "$(( before + 20 ))" ||
			pl_fail "no 201 before crash $round: $(tail -3 "$out")"
		sleep "0.$(( RANDOM % 10 ))"
		rl_crash_server
		crashes=$(( crashes + 1 ))
	done
	before=$(acked "$out")
	wait_for 15 answers_over "$out" "$(( before + 20 ))" || pl_fail "no 201 after the last restart"
	sleep 1
	kill -TERM "$driver"
	wait "$driver"
	sum=$(cat "$BATS_TEST_TMPDIR/pub.sum")
	rl_dump_topic "$T" "$BATS_TEST_TMPDIR/dump"
	checked=$(rl_check_acked "$out" "$BATS_TEST_TMPDIR/dump")
	(( checked > 100 )) || pl_fail "only $checked messages acknowledged: $sum"
	bad=$(unexpected_answers "$out")
	[ -z "$bad" ] || pl_fail "unexpected answers: $bad"
	lost=$(server_pages "$out")
	# ids stay unique and ascending in the table after the crashes
	dups=$(cut -f1 "$BATS_TEST_TMPDIR/dump" | sort -n | uniq -d | head -3)
	[ -z "$dups" ] || pl_fail "duplicate ids: $dups"
	rl_integrity
	rl_note "server SIGKILL: $crashes crashes of the web server and all programs; $checked acknowledged messages checked; $lost in-flight requests answered by the web server itself (JSON bodies of errors/); driver: $sum"
}

@test "after the crashes ids go on above every id ever answered" {
	max=$(sqlite3 "$PL_DB" 'SELECT max(id) FROM messages')
	pl_pub /crash/after x
	(( PUB_ID > max )) || pl_fail "new id $PUB_ID is not above $max"
	rl_integrity
}
