#!/usr/bin/env bats
# SPEC 2, 4, 10: ids never reused, "gap" after deleted messages, "reset" for
# a cursor beyond the newest id. A server and database of its own: the
# oldest retained message is known here.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

no_flag() {  # no_flag NAME: the answer does not claim NAME
	pl_jq_true ".$1 != true"
}

del() {
	pl_admin DELETE "/push/admin/messages/$1"
	pl_expect_status 204
}

# lp_pids: the long-poll processes of this server.
lp_pids() {
	local spid q
	spid=$(pl_server_pid "$PL_STATE")
	for q in $(pgrep -g "$spid"); do
		if [ "$(readlink "/proc/$q/exe" 2>/dev/null)" = "$PL_BIN/longpoll" ]; then echo "$q"; fi
	done
}

# purged_unread TOPIC TEXT: with the long-poll processes held still
# (SIGSTOP), publish TEXT to TOPIC (its id in PUB_ID) and purge every row,
# so that no row will ever tell a waiter of it: the race a purge can win in
# a few milliseconds, made certain.
purged_unread() {
	local lps
	lps=$(lp_pids)
	[ -n "$lps" ] || pl_fail "no longpoll process found"
	# shellcheck disable=SC2086
	kill -STOP $lps
	pl_pub "$1" "$2"
	PUSHLITE_CONF=$PL_CONF "$PL_TOOLS/pushlite-purge" --quiet --max-rows 0 || pl_fail "purge failed"
	# shellcheck disable=SC2086
	kill -CONT $lps
}

@test "gap: true only when a positive cursor is older than the oldest retained message - 1" {
	pl_pub /g m1; m1=$PUB_ID
	pl_pub /g m2; m2=$PUB_ID
	pl_pub /g m3; m3=$PUB_ID
	pl_poll "topic=/g&since=$m1"
	pl_expect_status 200
	no_flag gap
	del "$m1"
	# oldest retained is m2 = m1 + 1: nothing was missed after m1
	pl_poll "topic=/g&since=$m1"
	no_flag gap
	[ "$(pl_ids)" = "$m2 $m3" ]
	del "$m2"
	pl_poll "topic=/g&since=$m1"
	pl_expect_status 200
	pl_jq_true '.gap == true'
	[ "$(pl_ids)" = "$m3" ]
	pl_poll "topic=/g&since=$m2"
	no_flag gap
	[ "$(pl_ids)" = "$m3" ]
	pl_poll "topic=/g&last_event_id=$m1"
	pl_jq_true '.gap == true'
	pl_poll "topic=/g" -H "Last-Event-ID: $m1"
	pl_jq_true '.gap == true'
}

@test "gap: never for since=all, since=now, since=duration or since=0" {
	for s in all now 10m 0; do
		pl_poll "topic=/g&since=$s"
		pl_expect_status 200
		no_flag gap || pl_fail "since=$s"
		no_flag reset || pl_fail "since=$s"
	done
}

@test "reset: a cursor beyond the newest id ever assigned gets reset=true and the retained messages from the start" {
	pl_pub /g m4; m4=$PUB_ID
	n=$(pl_stat last_id)
	[ "$n" = "$m4" ]
	pl_poll "topic=/g&since=$((n + 1000))"
	pl_expect_status 200
	pl_jq_true '.reset == true'
	pl_poll "topic=/g&since=all"
	all_ids=$(pl_ids)
	pl_poll "topic=/g&since=$((n + 1000))"
	[ "$(pl_ids)" = "$all_ids" ] || pl_fail "reset gave '$(pl_ids)', want '$all_ids'"
	c=$(pl_json .cursor)
	(( c <= n )) || pl_fail "cursor after reset $c is beyond the newest id $n"
	pl_poll "topic=/g&since=$c"
	no_flag reset
	pl_poll "topic=/g&since=$n"
	no_flag reset
	[ -z "$(pl_ids)" ]
}

@test "reset: also with limit, following the cursor afterwards gets the rest" {
	pl_pub /g m5; m5=$PUB_ID
	pl_poll "topic=/g&since=$((m5 + 50))&limit=1"
	pl_jq_true '.reset == true and .more == true and (.messages|length) == 1'
	c=$(pl_json .cursor)
	pl_poll "topic=/g&since=$c&limit=1000"
	no_flag reset
	pl_jq_true --argjson m "$m5" '.messages[-1].id == $m'
}

@test "ids are never reused, also after every message was deleted" {
	pl_poll "topic=/&since=all&limit=1000"
	last=$(pl_json '.messages[-1].id')
	for id in $(pl_ids); do
		del "$id"
	done
	pl_admin GET /push/admin/stats
	pl_jq_true '.rows == 0'
	# the old cursor is not "beyond the newest id ever assigned"
	pl_poll "topic=/g&since=$last"
	pl_expect_status 200
	no_flag reset
	pl_pub /g again
	(( PUB_ID > last )) || pl_fail "new id $PUB_ID reuses an id <= $last"
	pl_poll "topic=/g&since=$last"
	[ "$(pl_ids)" = "$PUB_ID" ]
	no_flag gap
	no_flag reset
}

# hold_lp TOPIC CURSOR SECONDS: a long poll (timeout 20 s) at CURSOR, held
# (its body goes to $BATS_TEST_TMPDIR/lp; curl gives up after SECONDS); its
# curl's pid in LP_PID.
hold_lp() {
	curl -sS -g --max-time "$3" -o "$BATS_TEST_TMPDIR/lp" \
		"$PL_URL/push/longpoll?topic=$1&since=$2&timeout=20" 3>&- &
	LP_PID=$!
	wait_for 10 waiting_ge 1 || pl_fail "the long poll is not held"
}

# gap_answered TOPIC CURSOR M: the held long poll answered gap, no messages
# and a cursor at M or beyond, and a poll at CURSOR says gap too.
gap_answered() {
	wait "$LP_PID" || pl_fail "long poll: no answer before curl gave up"
	BODY=$(cat "$BATS_TEST_TMPDIR/lp")
	pl_jq_true --argjson m "$3" '.gap == true and .messages == [] and .cursor >= $m' ||
		pl_fail "held long poll after the purge"
	pl_poll "topic=$1&since=$2"
	pl_jq_true '.gap == true' || pl_fail "a poll at the same cursor"
}

@test "gap: a held long poll whose next message is purged before it is read answers gap, as a poll would" {
	pl_need longpoll
	local T=/lpgap c m2
	pl_pub "$T" first; c=$PUB_ID
	hold_lp "$T" "$c" 30
	purged_unread "$T" second; m2=$PUB_ID
	gap_answered "$T" "$c" "$m2"
}

@test "gap: a held long poll at an id answers gap at once when a purge passes that id, also over messages it did not want" {
	pl_need longpoll
	local c m2
	pl_pub /lpgap2/mine first; c=$PUB_ID
	pl_pub /lpgap2/other x1
	pl_pub /lpgap2/other x2; m2=$PUB_ID
	# Held: nothing after c is on its topic; the process has read up to m2.
	# curl gives up after 12 s, long before the 20 s timeout.
	hold_lp /lpgap2/mine "$c" 12
	PUSHLITE_CONF=$PL_CONF "$PL_TOOLS/pushlite-purge" --quiet --max-rows 1 || pl_fail "purge failed"
	gap_answered /lpgap2/mine "$c" "$m2"
}

lp_at_zero() {  # a long poll that answers at once says cursor 0: the new file is in use
	pl_get "/push/longpoll?topic=/fresh&timeout=0"
	[ "$(pl_json .cursor)" = 0 ]
}

# Last in this file: it starts the database over. A long poll that joined
# it empty (cursor 0) keeps that cursor while other topics' messages pass;
# its true cursor is what its process has read since.
@test "gap: a long poll that joined a new, empty database is told of its purged message too" {
	pl_need longpoll
	# One long-poll process (lighttpd's max-procs 1): the wake it is seen to
	# handle below is the one the waiter's process handled.
	[ "$PL_SERVER" = lighttpd ] || skip "needs one long-poll process"
	local p1 p2 m
	rm -f "$PL_DB-wal" "$PL_DB-shm" "$PL_DB"
	"$PL_TOOLS/pushlite" --conf "$PL_CONF" init >/dev/null || pl_fail "pushlite init"
	wait_for 10 lp_at_zero || pl_fail "the long-poll process did not take the new file: $BODY"
	# A process that opened the new file while the old -wal or -shm was
	# still there opens it again once it sees them replaced (at most a
	# second later), ending whatever it holds then: before the two below.
	sleep 1.2
	lp_at_zero || pl_fail "the long-poll process left the new file: $BODY"
	curl -sS -g --max-time 30 -o "$BATS_TEST_TMPDIR/lp1" "$PL_URL/push/longpoll?topic=/fresh/a&timeout=20" 3>&- &
	p1=$!
	curl -sS -g --max-time 30 -o "$BATS_TEST_TMPDIR/lp2" "$PL_URL/push/longpoll?topic=/fresh/b&timeout=20" 3>&- &
	p2=$!
	wait_for 10 waiting_ge 2 || pl_fail "the two long polls are not held"
	pl_pub /fresh/b passes     # read by the process: the second long poll gets it
	wait "$p2" || pl_fail "second long poll"
	purged_unread /fresh/a lost; m=$PUB_ID
	wait "$p1" || pl_fail "first long poll"
	BODY=$(cat "$BATS_TEST_TMPDIR/lp1")
	pl_jq_true --argjson m "$m" '.gap == true and .messages == [] and .cursor >= $m' ||
		pl_fail "the long poll that joined at 0"
}
