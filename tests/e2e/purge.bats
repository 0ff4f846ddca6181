#!/usr/bin/env bats
# SPEC 6 and 10: pushlite-purge. A server and database of their own.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

setup() { pl_need pushlite-purge; }

purge() { "$PL_TOOLS/pushlite-purge" "$@"; }

rows() { pl_stat rows; }

# pub_ttl TOPIC TTL COUNT
pub_ttl() {
	local i
	for i in $(seq 1 "$3"); do
		pl_publish "topic=$1&ttl=$2" -H 'Content-Type: text/plain' --data-binary "m$i"
		pl_expect_status 201 || return 1
		LAST_EXPIRES=$(pl_json .expires)
	done
}

@test "deletes expired rows, keeps the rest, exit 0" {
	pub_ttl /p/short 1 3
	exp=$LAST_EXPIRES
	pub_ttl /p/long 3600 2
	r0=$(rows)
	until (( $(pl_now_ms) > exp + 200 )); do sleep 0.1; done
	run purge --db "$PL_DB"
	[ "$status" = 0 ] || pl_fail "exit $status: $output"
	[ "$(rows)" = $((r0 - 3)) ] || pl_fail "rows $(rows), want $((r0 - 3))"
	[ "$(pl_count_topic /p/long)" = 2 ]
	[ "$(pl_count_topic /p/short)" = 0 ]
}

@test "--dry-run deletes nothing and says what it would do" {
	pub_ttl /p/dry 1 2
	exp=$LAST_EXPIRES
	until (( $(pl_now_ms) > exp + 200 )); do sleep 0.1; done
	r0=$(rows)
	run purge --db "$PL_DB" --dry-run
	[ "$status" = 0 ] || pl_fail "exit $status: $output"
	[ -n "$output" ] || pl_fail "--dry-run printed nothing"
	[ "$(rows)" = "$r0" ] || pl_fail "--dry-run deleted rows"
	run purge --db "$PL_DB" --dry-run --max-rows 1
	[ "$status" = 0 ]
	[ "$(rows)" = "$r0" ] || pl_fail "--dry-run --max-rows deleted rows"
}

@test "--quiet: silent on success (so cron mails only errors)" {
	pub_ttl /p/q 1 1
	exp=$LAST_EXPIRES
	until (( $(pl_now_ms) > exp + 200 )); do sleep 0.1; done
	out=$(purge --db "$PL_DB" --quiet 2>&1) || pl_fail "exit $?: $out"
	[ -z "$out" ] || pl_fail "--quiet printed: $out"
	[ "$(pl_count_topic /p/q)" = 0 ]
}

@test "finds the database through PUSHLITE_CONF when --db is not given" {
	pub_ttl /p/conf 1 1
	exp=$LAST_EXPIRES
	until (( $(pl_now_ms) > exp + 200 )); do sleep 0.1; done
	PUSHLITE_CONF=$PL_CONF run purge --quiet
	[ "$status" = 0 ] || pl_fail "exit $status: $output"
	[ "$(pl_count_topic /p/conf)" = 0 ]
}

@test "the config's warnings (a short secret and token): --quiet stays silent, a failure stays one line" {
	pub_ttl /p/weak 1 1
	exp=$LAST_EXPIRES
	weak=$BATS_TEST_TMPDIR/weak.conf
	{ cat "$PL_CONF"; printf '\n[token weak]\ntoken = abc\n[pushlite]\nsecret = short\n'; } >"$weak"
	# The warnings are real (a web program gives them, here as plain CGI):
	# the checks below mean something.
	out=$(CGI_CONF=$weak pl_cgi admin GET /push/health 2>&1 >/dev/null) || pl_fail "exit $?: $out"
	[[ $out == *shorter* ]] || pl_fail "no warning about the short secret or token: $out"
	until (( $(pl_now_ms) > exp + 200 )); do sleep 0.1; done
	out=$(PUSHLITE_CONF=$weak purge --quiet 2>&1) || pl_fail "exit $?: $out"
	[ -z "$out" ] || pl_fail "--quiet printed: $out"
	[ "$(pl_count_topic /p/weak)" = 0 ]
	# A failure is one line, also without --quiet: the warnings are the
	# web programs' to give, not the reason purge failed.
	for q in "" --quiet; do
		# shellcheck disable=SC2086
		PUSHLITE_CONF=$weak run purge $q --db "$BATS_TEST_TMPDIR/missing.db"
		[ "$status" = 1 ] && [ "${#lines[@]}" = 1 ] || pl_fail "purge $q on a missing database: $status, ${#lines[@]} lines: $output"
	done
}

@test "--max-age DUR deletes rows older than DUR" {
	pub_ttl /p/age 3600 2
	created=$(pl_json .created)
	until (( $(pl_now_ms) > created + 2300 )); do sleep 0.1; done
	pub_ttl /p/age-new 3600 1
	run purge --db "$PL_DB" --max-age 2s --quiet
	[ "$status" = 0 ] || pl_fail "exit $status: $output"
	[ "$(pl_count_topic /p/age)" = 0 ] || pl_fail "old rows kept"
	[ "$(pl_count_topic /p/age-new)" = 1 ] || pl_fail "new row deleted"
}

@test "--max-rows N keeps the newest N; a poller behind sees gap=true; ids keep growing" {
	pub_ttl /p/cap 3600 5
	newest=$(pl_json .id)
	pl_poll "topic=/p/cap&since=all"
	first=$(pl_json '.messages[0].id')
	run purge --db "$PL_DB" --max-rows 2 --quiet
	[ "$status" = 0 ] || pl_fail "exit $status: $output"
	[ "$(rows)" = 2 ] || pl_fail "rows $(rows), want 2"
	pl_poll "topic=/p/cap&since=all"
	[ "$(pl_ids)" = "$((newest - 1)) $newest" ] || pl_fail "kept $(pl_ids)"
	pl_poll "topic=/p/cap&since=$first"
	pl_jq_true '.gap == true'
	pl_pub /p/cap after
	(( PUB_ID > newest )) || pl_fail "id $PUB_ID reused"
}

@test "bad arguments or a missing database: non-zero exit and a one-line reason" {
	for args in "--max-rows abc" "--max-rows -3" "--max-age 5x" "--max-age" "--bogus" "--db /nonexistent-dir/x.db" "--db"; do
		# shellcheck disable=SC2086
		run purge $args
		[ "$status" != 0 ] || pl_fail "'$args' exited 0"
		[ "${#lines[@]}" = 1 ] || pl_fail "'$args' printed ${#lines[@]} lines: $output"
	done
	# A database that is not there is an error, not a new empty file purged
	# "successfully" every night (a typo in a cron line).
	missing="$BATS_TEST_TMPDIR/not-there.db"
	for args in "--db $missing" "--quiet --db $missing"; do
		# shellcheck disable=SC2086
		run purge $args
		[ "$status" != 0 ] || pl_fail "'$args' exited 0"
		[ "${#lines[@]}" = 1 ] || pl_fail "'$args' printed ${#lines[@]} lines: $output"
		[ ! -e "$missing" ] || pl_fail "'$args' created $missing"
	done
	# An empty file is no database either: nothing written into it
	: >"$BATS_TEST_TMPDIR/empty.db"
	for tool in pushlite-purge "pushlite stats" "pushlite publish /e text"; do
		# shellcheck disable=SC2086
		set -- $tool
		run "$PL_TOOLS/$1" --db "$BATS_TEST_TMPDIR/empty.db" "${@:2}"
		[ "$status" = 1 ] && [ "${#lines[@]}" = 1 ] && [[ $output == *"the file is empty (pushlite init creates one)"* ]] &&
			[ ! -s "$BATS_TEST_TMPDIR/empty.db" ] || pl_fail "$tool on an empty file: $status $output"
	done
	run purge --db ''
	[ "$status" = 2 ] && [ "${#lines[@]}" = 1 ] || pl_fail "--db '' (a bad value, exit 2): $status $output"
	# The same for the command line's reading commands.
	for cmd in stats "tail --since all /a"; do
		# shellcheck disable=SC2086
		run timeout 5 "$PL_TOOLS/pushlite" --db "$missing" $cmd
		[ "$status" = 1 ] && [ ! -e "$missing" ] || pl_fail "pushlite $cmd on a missing database: $status $output"
	done
	# Another program's database is left as it is; a newer schema is named.
	other="$BATS_TEST_TMPDIR/other.db"
	sqlite3 "$other" 'CREATE TABLE foo (x); INSERT INTO foo VALUES (1);'
	run purge --db "$other"
	[ "$status" != 0 ] && [ "${#lines[@]}" = 1 ] && [[ $output == *"not a pushlite database"* ]] ||
		pl_fail "another program's database: $status $output"
	[ "$(sqlite3 "$other" "SELECT group_concat(name) FROM sqlite_master; PRAGMA journal_mode;" | tr '\n' ' ')" = "foo delete " ] ||
		pl_fail "another program's database was changed"
	newer="$BATS_TEST_TMPDIR/newer.db"
	"$PL_TOOLS/pushlite" --db "$newer" init >/dev/null
	sqlite3 "$newer" 'PRAGMA user_version = 999;'
	run purge --db "$newer"
	[ "$status" != 0 ] && [ "${#lines[@]}" = 1 ] && [[ $output == *"newer than this program"* ]] ||
		pl_fail "a newer schema: $status $output"
	PUSHLITE_CONF=/nonexistent-dir/pushlite.conf run purge --quiet
	[ "$status" != 0 ] || pl_fail "missing config exited 0"
	[ "${#lines[@]}" = 1 ] || pl_fail "missing config: $output"
}

@test "two purges at once both succeed" {
	pub_ttl /p/twice 1 40
	exp=$LAST_EXPIRES
	pub_ttl /p/twice-keep 3600 3
	until (( $(pl_now_ms) > exp + 200 )); do sleep 0.1; done
	purge --db "$PL_DB" --quiet >"$BATS_TEST_TMPDIR/p1" 2>&1 3>&- &
	p1=$!
	purge --db "$PL_DB" --quiet >"$BATS_TEST_TMPDIR/p2" 2>&1 3>&- &
	p2=$!
	rc1=0; rc2=0
	wait $p1 || rc1=$?
	wait $p2 || rc2=$?
	[ "$rc1" = 0 ] || pl_fail "first purge: $rc1 $(cat "$BATS_TEST_TMPDIR/p1")"
	[ "$rc2" = 0 ] || pl_fail "second purge: $rc2 $(cat "$BATS_TEST_TMPDIR/p2")"
	[ "$(pl_count_topic /p/twice)" = 0 ]
	[ "$(pl_count_topic /p/twice-keep)" = 3 ]
}

@test "three --max-rows purges at once keep the newest N: not fewer, each deleting what the others did not" {
	for round in 1 2 3; do
		for i in $(seq 1 3000); do printf '{"topic":"/p/cap3","data":%d}\n' "$i"; done >"$BATS_TEST_TMPDIR/b"
		pl_publish "" -H 'Content-Type: application/x-ndjson' --data-binary "@$BATS_TEST_TMPDIR/b"
		pl_expect_status 201
		last=$(pl_json '.ids[-1]')
		pids=()
		for n in 1000 1000 1500; do
			purge --db "$PL_DB" --max-rows "$n" >"$BATS_TEST_TMPDIR/p.$n.${#pids[@]}" 2>&1 3>&- &
			pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p" || pl_fail "a purge failed: $(cat "$BATS_TEST_TMPDIR"/p.*)"; done
		[ "$(rows)" = 1000 ] || pl_fail "round $round: $(rows) rows left, want 1000 ($(cat "$BATS_TEST_TMPDIR"/p.*))"
		[ "$(pl_stat oldest_id)" = "$((last - 999))" ] || pl_fail "round $round: oldest kept is $(pl_stat oldest_id), want $((last - 999))"
	done
}

@test "a database it cannot write: exit 1 with the store's reason, not 'not an error'" {
	db="$BATS_TEST_TMPDIR/ro.db"
	"$PL_TOOLS/pushlite" --db "$db" init >/dev/null
	"$PL_TOOLS/pushlite" --db "$db" publish /ro x >/dev/null
	chattr +i "$db" 2>/dev/null || skip "this file system has no immutable files"
	run purge --db "$db" --max-rows 0
	chattr -i "$db"
	[ "$status" = 1 ] || pl_fail "exit $status: $output"
	[ "${#lines[@]}" = 1 ] || pl_fail "printed ${#lines[@]} lines: $output"
	[[ $output == *readonly* || $output == *read-only* ]] || pl_fail "reason: $output"
}

@test "publishing keeps working while a purge runs" {
	pub_ttl /p/bulk 1 1
	for i in $(seq 1 2000); do printf '{"topic":"/p/bulk","data":%d,"ttl":1}\n' "$i"; done >"$BATS_TEST_TMPDIR/b"
	pl_publish "" -H 'Content-Type: application/x-ndjson' --data-binary "@$BATS_TEST_TMPDIR/b"
	pl_expect_status 201
	exp=$(pl_json '.ids[-1]')
	sleep 1.5
	purge --db "$PL_DB" --max-rows 100 >"$BATS_TEST_TMPDIR/p" 2>&1 3>&- &
	pp=$!
	for i in 1 2 3 4 5 6 7 8 9 10; do
		pl_pub /p/during "d$i"
	done
	wait $pp || pl_fail "purge failed: $(cat "$BATS_TEST_TMPDIR/p")"
	[ "$(pl_count_topic /p/during)" = 10 ]
}

# A purge commits a batch at a time, and every commit wakes the held long
# polls and streams: the wakes must find nothing for them. A waiter whose
# cursor is past the purged rows is not behind anything that went (no gap),
# and a poller following its cursor meanwhile gets each live message once.
@test "waiters sleep through a purge (no empty answer, no gap); a poller following its cursor gets every live message once" {
	pl_need longpoll
	pl_need stream
	local i head lp1 lp2 sse poller
	# 1,500 expired rows among 1,500 live ones: eight batches, eight wakes.
	for i in $(seq 1 3000); do
		printf '{"topic":"/p/w/t%d","data":%d,"ttl":%s}\n' $((i % 7)) "$i" "$( ((i % 2)) && echo 1 || echo 3600)"
	done >"$BATS_TEST_TMPDIR/b"
	pl_publish "" -H 'Content-Type: application/x-ndjson' --data-binary "@$BATS_TEST_TMPDIR/b"
	pl_expect_status 201
	head=$(pl_json '.ids[-1]')
	sleep 1.5
	curl -sS -g --max-time 30 -o "$BATS_TEST_TMPDIR/lp1" "$PL_URL/push/longpoll?topic=/p/w&timeout=20" 3>&- &
	lp1=$!
	curl -sS -g --max-time 30 -o "$BATS_TEST_TMPDIR/lp2" "$PL_URL/push/longpoll?topic=/p/w/t3&since=$head&timeout=20" 3>&- &
	lp2=$!
	curl -sS -N --max-time 30 -o "$BATS_TEST_TMPDIR/sse" "$PL_URL/push/stream?topic=/p/w" 3>&- &
	sse=$!
	wait_for 10 waiting_ge 3 || pl_fail "the long polls and the stream are not held ($(waiting))"
	(
		cur=all
		while :; do
			b=$(curl -sS -g "$PL_URL/push/poll?topic=/p/w&since=$cur&limit=100") || exit 1
			printf '%s' "$b" | jq -r '.messages[].id' >>"$BATS_TEST_TMPDIR/ids"
			printf '%s' "$b" | jq -e '(.gap // false) or (.reset // false)' >/dev/null && echo "$b" >>"$BATS_TEST_TMPDIR/flags"
			cur=$(printf '%s' "$b" | jq .cursor)
			[ "$(printf '%s' "$b" | jq .more)" = false ] && [ -e "$BATS_TEST_TMPDIR/purged" ] && exit 0
		done
	) 3>&- &
	poller=$!
	purge --db "$PL_DB" >"$BATS_TEST_TMPDIR/p" 2>&1 || pl_fail "purge failed: $(cat "$BATS_TEST_TMPDIR/p")"
	touch "$BATS_TEST_TMPDIR/purged"
	wait "$poller" || pl_fail "the poller failed"
	# A wake is handled within milliseconds: a second is plenty to see one
	# that ended a waiter.
	sleep 1
	kill -0 "$lp1" 2>/dev/null || pl_fail "the long poll at now answered the purge: $(cat "$BATS_TEST_TMPDIR/lp1")"
	kill -0 "$lp2" 2>/dev/null || pl_fail "the long poll at the head answered the purge: $(cat "$BATS_TEST_TMPDIR/lp2")"
	! grep -q '^data:' "$BATS_TEST_TMPDIR/sse" || pl_fail "the stream sent: $(cat "$BATS_TEST_TMPDIR/sse")"
	[ ! -e "$BATS_TEST_TMPDIR/flags" ] || pl_fail "the poller was told gap or reset: $(cat "$BATS_TEST_TMPDIR/flags")"
	# Every other id up to the head (the even lines): the live ones, each once.
	seq $((head - 2998)) 2 "$head" >"$BATS_TEST_TMPDIR/want"
	diff <(sort -n "$BATS_TEST_TMPDIR/ids") "$BATS_TEST_TMPDIR/want" >/dev/null ||
		pl_fail "the poller got $(wc -l <"$BATS_TEST_TMPDIR/ids") ids ($(sort -n "$BATS_TEST_TMPDIR/ids" | uniq -d | wc -l) twice), want 1500 live ones once"
	pl_pub /p/w/t3 after
	wait "$lp1" || pl_fail "the long poll at now: no answer"
	wait "$lp2" || pl_fail "the long poll at the head: no answer"
	for f in lp1 lp2; do
		BODY=$(cat "$BATS_TEST_TMPDIR/$f")
		pl_jq_true --argjson id "$PUB_ID" '[.messages[].id] == [$id] and (.gap // false) == false' ||
			pl_fail "$f after the publish"
	done
	wait_for 5 grep -q '^data:' "$BATS_TEST_TMPDIR/sse" || pl_fail "the stream did not get the publish"
	kill "$sse" 2>/dev/null || true
	[ "$(grep -c '^data:' "$BATS_TEST_TMPDIR/sse")" = 1 ] || pl_fail "the stream sent: $(cat "$BATS_TEST_TMPDIR/sse")"
}

@test "--help names every option, what --max-rows 0 does, and the exit statuses" {
	run purge --help
	[ "$status" = 0 ] || pl_fail "--help exited $status"
	# each in the usage line and on a line of its own, not only in passing
	for opt in --db --dry-run --max-rows --max-age --quiet --conf; do
		[[ ${lines[0]} == *"[$opt"[]\ ]* ]] || pl_fail "the usage line does not name $opt: ${lines[0]}"
		grep -qE -- "^  $opt( |\$)" <<<"$output" || pl_fail "--help has no line for $opt: $output"
	done
	[[ $output == *"0 deletes every message"* ]] || pl_fail "--help does not say what --max-rows 0 does: $output"
	[[ $output == *"Exit status"* ]] || pl_fail "--help does not give the exit statuses: $output"
}
