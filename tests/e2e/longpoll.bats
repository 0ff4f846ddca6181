#!/usr/bin/env bats
# SPEC 4 and 10: long poll. Skipped only while cgi-bin/longpoll is not built.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

setup() { pl_need longpoll; }

# lp_bg QUERY: start a long poll in the background; LP_PID, LP_OUT.
lp_bg() {
	LP_OUT=$BATS_TEST_TMPDIR/lp.$RANDOM
	curl -sS -g --max-time 30 -D "$LP_OUT.h" -o "$LP_OUT" -w '%{http_code}' \
		"$PL_URL/push/longpoll?$1" >"$LP_OUT.status" 2>"$LP_OUT.err" 3>&- &
	LP_PID=$!
}

lp_wait() {  # lp_wait: wait for the background long poll, load its answer
	wait "$LP_PID" || true
	HTTP_STATUS=$(cat "$LP_OUT.status")
	BODY=$(cat "$LP_OUT")
	HEADERS=$LP_OUT.h
}

# cur TOPIC: the current cursor, so that a long poll started late (a web
# server may start a program for it first) still sees what comes after now.
cur() {
	pl_poll "topic=$1&since=now"
	pl_json .cursor
}


@test "answers at once when something is already new since the cursor" {
	T=$(pl_topic)
	pl_pub "$T" old
	t0=$(pl_now_ms)
	pl_req GET "/push/longpoll?topic=$T&since=$((PUB_ID - 1))&timeout=10"
	pl_expect_status 200
	(( $(pl_now_ms) - t0 < 2000 )) || pl_fail "took $(( $(pl_now_ms) - t0 )) ms"
	pl_jq_true --argjson id "$PUB_ID" '.messages[0].id == $id and .messages[0].data == "old"'
	pl_expect_no_store
	# an answer given at once carries the cursor as ETag, as poll's does
	[ "$(pl_hdr ETag)" = "\"$(pl_json .cursor)\"" ] || { pl_show; pl_fail "ETag is not the cursor"; }
}

@test "default since is now: an old message does not answer it; timeout gives 200, no messages, current cursor" {
	T=$(pl_topic)
	pl_pub "$T" old
	t0=$(pl_now_ms)
	pl_req GET "/push/longpoll?topic=$T&timeout=1"
	el=$(( $(pl_now_ms) - t0 ))
	pl_expect_status 200
	pl_jq_true '.messages == [] and (.cursor|type=="number")'
	pl_jq_true --argjson id "$PUB_ID" '.cursor >= $id'
	(( el >= 900 && el < 5000 )) || pl_fail "timeout=1 answered after $el ms"
}

@test "wakes within a second of a matching publish (inotify, not a slow timer)" {
	T=$(pl_topic)
	w0=$(waiting)
	lp_bg "topic=$T&since=$(cur "$T")&timeout=20"
	wait_for 10 waiting_ge $((w0 + 1)) || pl_fail "the long poll is not held"
	t0=$(pl_now_ms)
	pl_pub "$T/sub" wake
	id=$PUB_ID
	lp_wait
	el=$(( $(pl_now_ms) - t0 ))
	pl_expect_status 200
	pl_jq_true --argjson id "$id" '[.messages[].id] == [$id] and .messages[0].data == "wake"'
	# Well below the 5 s fallback timer; the time includes the publish's
	# own curl and jq.
	(( el < 2500 )) || pl_fail "woke $el ms after the publish"
}

@test "a publish on another topic, or for another user, does not answer it" {
	T=$(pl_topic)
	w0=$(waiting_settled)
	# Its timeout leaves seconds for the three publishes to be read by its
	# process before it answers with what that process has read.
	lp_bg "topic=$T/mine&since=$(cur "$T")&timeout=6"
	wait_for 10 waiting_ge $((w0 + 1)) || pl_fail "the long poll is not held"
	pl_pub "$T/mine" no-user -H 'X-User: alice'
	pl_publish "topic=$T/mine&clients=ios" -H 'Content-Type: text/plain' --data-binary no-client
	pl_pub "$T/other" no
	lp_wait
	pl_expect_status 200
	pl_jq_true '.messages == []'
	# The rows it was not woken for were examined all the same: its
	# cursor moved past them, the last one on a topic it does not hold.
	pl_jq_true --argjson id "$PUB_ID" '.cursor >= $id'
}

@test "a user's long poll gets the user's message; anonymous ones do not" {
	T=$(pl_topic)
	tok=$(pl_user_token alice)
	c=$(cur "$T")
	lp_bg "topic=$T&since=$c&timeout=10&token=$tok"
	a_pid=$LP_PID a_out=$LP_OUT
	lp_bg "topic=$T&since=$c&timeout=2"
	sleep 0.3
	pl_publish "topic=$T&user=alice" -H 'Content-Type: text/plain' --data-binary for-alice
	pl_expect_status 201
	lp_wait
	pl_jq_true '.messages == []'
	LP_PID=$a_pid LP_OUT=$a_out
	lp_wait
	pl_jq_true '[.messages[].data] == ["for-alice"]'
}

# five_wake TOPIC EXTRA: five long polls on TOPIC at once (EXTRA added to
# their query), a publish once all five are held: each gets just that
# message.
five_wake() {
	local pids=() outs=() i w0
	w0=$(waiting)
	for i in 1 2 3 4 5; do
		lp_bg "topic=$1$2&timeout=20"
		pids+=("$LP_PID")
		outs+=("$LP_OUT")
	done
	wait_for 10 waiting_ge $((w0 + 5)) || pl_fail "not all five are held: $(waiting) waiting"
	pl_pub "$1" all
	for i in 0 1 2 3 4; do
		LP_PID=${pids[$i]} LP_OUT=${outs[$i]}
		lp_wait
		pl_jq_true --argjson id "$PUB_ID" '[.messages[].id] == [$id]' || pl_fail "subscriber $i: $BODY"
	done
}

@test "several waiting subscribers all wake on one publish" {
	T=$(pl_topic)
	five_wake "$T" "&since=$(cur "$T")"
}

@test "the default since=now is when the client asked: five at once, a publish half a second later reaches all" {
	# Under mod_fcgid each waiting request needs a process of its own, and
	# starting one may take a second: "now" is still when Apache received
	# the request (X-Pushlite-Start), not when the program got it.
	five_wake "$(pl_topic)" ""
}

@test "X-Pushlite-Start (set by the Apache configs): since=now counts from then, within a minute" {
	[ "$PL_SERVER" = lighttpd ] || skip "Apache sets X-Pushlite-Start itself, over the client's"
	T=$(pl_topic)
	pl_pub "$T" before
	sleep 1.1
	t0=$(( $(date +%s%N) / 1000 ))
	pl_pub "$T" after; after=$PUB_ID
	sleep 0.3
	lp_start() { curl -sS --max-time 10 -H "X-Pushlite-Start: t=$1" "$PL_URL/push/longpoll?topic=$T&timeout=1"; }
	BODY=$(lp_start $(( t0 - 500000 )))
	pl_jq_true --argjson id "$after" '[.messages[].id] == [$id]' || pl_fail "received 0.8 s ago: $BODY"
	# made up: more than a minute back, or in the future, counts for nothing
	for t in $(( t0 - 120000000 )) $(( t0 + 60000000 )) x; do
		BODY=$(lp_start "$t")
		pl_jq_true '.messages == []' || pl_fail "X-Pushlite-Start: t=$t: $BODY"
	done
}

@test "a batch wakes it with every matching message; cursor follows" {
	T=$(pl_topic)
	lp_bg "topic=$T&since=$(cur "$T")&timeout=10"
	sleep 0.3
	printf '%s\n' "{\"topic\":\"$T\",\"data\":1}" "{\"topic\":\"$T/x\",\"data\":2}" >"$BATS_TEST_TMPDIR/b"
	pl_publish "" -H 'Content-Type: application/x-ndjson' --data-binary "@$BATS_TEST_TMPDIR/b"
	pl_expect_status 201
	last=$(pl_json '.ids[-1]')
	lp_wait
	pl_jq_true --argjson l "$last" '[.messages[].data] == [1,2] and .cursor == $l'
}

@test "since=ID, last_event_id and Last-Event-ID work as in poll" {
	T=$(pl_topic)
	pl_pub "$T" a; a=$PUB_ID
	pl_pub "$T" b; b=$PUB_ID
	pl_req GET "/push/longpoll?topic=$T&since=$a&timeout=5"
	pl_jq_true --argjson b "$b" '[.messages[].id] == [$b]'
	pl_req GET "/push/longpoll?topic=$T&since=0&last_event_id=$a&timeout=5"
	pl_jq_true --argjson b "$b" '[.messages[].id] == [$b]'
	pl_req GET "/push/longpoll?topic=$T&since=0&last_event_id=0&timeout=5" -H "Last-Event-ID: $a"
	pl_jq_true --argjson b "$b" '[.messages[].id] == [$b]'
}

@test "bad timeout, since, topic: 400 at once" {
	T=$(pl_topic)
	for q in "topic=$T&timeout=abc" "topic=$T&timeout=-1" "topic=$T&timeout=1.5" "topic=$T&since=x" "topic=bad" "topic=$T&limit=0" ""; do
		PL_MAX_TIME=5 pl_req GET "/push/longpoll?$q"
		pl_expect_error 400 || pl_fail "query '$q'"
	done
}

@test "timeout above longpoll_max_timeout is capped, not refused" {
	T=$(pl_topic)
	pl_pub "$T" x
	pl_req GET "/push/longpoll?topic=$T&since=$((PUB_ID - 1))&timeout=9999"
	pl_expect_status 200
	pl_jq_true '.messages | length == 1'
}

@test "waiting subscribers show in stats while held, and leave when answered or gone" {
	T=$(pl_topic)
	w0=$(waiting_settled)
	[ -n "$w0" ] || pl_fail "no waiting count in stats"
	lp_bg "topic=$T&timeout=20"
	# (a function, so that each try reads the count afresh)
	wait_for 5 waiting_ge $((w0 + 1)) || pl_fail "waiting stayed $(waiting)"
	kill "$LP_PID" 2>/dev/null || true
	wait "$LP_PID" 2>/dev/null || true
	wait_for 10 waiting_le "$w0" || pl_fail "waiting stays $(waiting) after the client left"
}

@test "a held long poll writes keep-alive blanks only when longpoll_keepalive is set" {
	T=$(pl_topic)
	b=$BATS_TEST_TMPDIR/held.b
	# timeout 4: with blanks every 3 s, one blank comes before the answer
	HTTP_STATUS=$(curl -sS -g --max-time 20 -D "$BATS_TEST_TMPDIR/held.h" -o "$b" -w '%{http_code}' \
		"$PL_URL/push/longpoll?topic=$T&timeout=4" 2>/dev/null) || true
	HEADERS=$BATS_TEST_TMPDIR/held.h
	BODY=$(cat "$b")
	PL_LAST="held long poll"
	pl_expect_status 200
	pl_jq_true '.messages == [] and (.cursor | type == "number")'
	# what came before the JSON: the newline sent with the head, then blanks
	lead=$(LC_ALL=C awk '{ printf "%s", $0; exit }' RS='[{]' "$b" | LC_ALL=C tr -cd ' \n' | wc -c)
	if grep -q '^longpoll_keepalive = 0' "$PL_CONF"; then
		[ "$lead" -eq 1 ] || pl_fail "$lead characters before the answer; expected the one newline"
	else
		[ "$lead" -ge 2 ] || pl_fail "$lead characters before the answer; expected a newline and a blank"
	fi
}

@test "wrong method: 405" {
	pl_req POST "/push/longpoll?topic=/x" -d x
	pl_expect_error 405
}

@test "push = off: longpoll answers 503 with Retry-After (plain CGI)" {
	CGI_CONF=$BATS_TEST_TMPDIR/off.conf
	pl_write_test_conf "$CGI_CONF" "$PL_DB" 'push=off'
	pl_cgi_req longpoll GET "topic=/x&timeout=1"
	pl_expect_error 503
	ra=$(pl_hdr Retry-After) || { pl_show; pl_fail "no Retry-After"; }
	# A script tag reads no header: JSONP carries the wait inside.
	pl_cgi_req longpoll GET "topic=/x&timeout=1&format=jsonp&callback=cb"
	pl_expect_status 200
	[[ $BODY == '/**/cb({'*'"error":"push_off"'*"\"retry_after\":$ra"* ]] ||
		{ pl_show; pl_fail "JSONP: no retry_after $ra inside"; }
}

# half_closed PATH OUT: GET PATH with HTTP/1.0, then shut the socket for
# writing (a client that has said all it has to say, and still reads), and
# write the body that came back (chunked framing undone) to OUT.
half_closed() {
	python3 - "$PL_PORT" "$1" "$2" <<'PY' 3>&-
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET %s HTTP/1.0\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n" % sys.argv[2]).encode())
s.shutdown(socket.SHUT_WR)
s.settimeout(20)
out = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    out += d
head, _, body = out.partition(b"\r\n\r\n")
if b"transfer-encoding: chunked" in head.lower():
    plain, rest = b"", body
    while True:
        size, _, rest = rest.partition(b"\r\n")
        n = int(size.split(b";")[0], 16)
        if n == 0:
            break
        plain, rest = plain + rest[:n], rest[n + 2:]
    body = plain
if b"content-encoding: gzip" in head.lower():
    import gzip
    body = gzip.decompress(body)
open(sys.argv[3], "wb").write(body)
PY
}

@test "a client that half-closes after its request gets a whole answer (JSON, XML, gzip), held or ended at once" {
	local f out
	for f in json xml; do
		out=$BATS_TEST_TMPDIR/half.$f
		half_closed "/push/longpoll?topic=/lp/half&timeout=3&format=$f" "$out" ||
			pl_fail "$f: the answer could not be read whole (cut chunks or gzip)"
		if [ "$f" = json ]; then
			jq_true '.cursor >= 0 and .messages == []' "$out" >/dev/null ||
				pl_fail "json: not a whole answer: $(head -c 200 "$out")"
		else
			xmllint --noout "$out" && grep -q '</messages>' "$out" ||
				pl_fail "xml: not a whole document: $(head -c 200 "$out")"
		fi
	done
}
