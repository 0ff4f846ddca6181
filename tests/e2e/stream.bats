#!/usr/bin/env bats
# SPEC 4 and 10: HTTP streaming (SSE, NDJSON, iframe script). Skipped only
# while cgi-bin/stream is not built. The test config has heartbeat = 1 and
# stream_max_time = 4.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

setup() { pl_need stream; }

# st_bg QUERY [CURL-ARGS...]: open a stream in the background; ST_PID, ST_OUT.
st_bg() {
	local q=$1
	shift
	ST_OUT=$BATS_TEST_TMPDIR/st.$RANDOM
	curl -sS -N -g --max-time 15 -D "$ST_OUT.h" -o "$ST_OUT" -w '%{http_code}' "$@" \
		"$PL_URL/push/stream?$q" >"$ST_OUT.status" 2>"$ST_OUT.err" 3>&- &
	ST_PID=$!
	wait_for 5 test -s "$ST_OUT.h" || true
}

st_has() { grep -q -- "$1" "$ST_OUT"; }

st_end() {  # wait for the stream to end by itself; ST_RC is curl's status
	ST_RC=0
	wait "$ST_PID" || ST_RC=$?
	HEADERS=$ST_OUT.h
	HTTP_STATUS=$(cat "$ST_OUT.status")
	BODY=$(cat "$ST_OUT")
}

# sse_data ID: the JSON of the data: line of the event with id: ID
sse_data() {
	awk -v id="$1" '{ sub(/\r$/, "") } $0 == "id: " id || $0 == "id:" id { f = 1; next }
		f && /^data:/ { sub(/^data: ?/, ""); print; exit } /^$/ { f = 0 }' "$ST_OUT"
}

# slow_reader PATH OUT SECONDS body|all: a client with a small window that
# asks for PATH, reads nothing for SECONDS, then reads to the end into OUT
# (the body only, or the whole answer with its head).
slow_reader() {
	python3 - "$PL_PORT" "$@" <<'PY'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET %s HTTP/1.0\r\nHost: x\r\n\r\n" % sys.argv[2]).encode())
time.sleep(float(sys.argv[4]))
out = b""
s.settimeout(30)
while True:
    d = s.recv(65536)
    if not d:
        break
    out += d
if sys.argv[5] == "body":
    out = out.split(b"\r\n\r\n", 1)[1]
open(sys.argv[3], "wb").write(out)
PY
}

@test "the default since=now is when the client asked: three streams at once, a publish once they are held reaches all" {
	T=$(pl_topic)
	outs=()
	pids=()
	w0=$(waiting_settled)
	for i in 1 2 3; do
		out=$BATS_TEST_TMPDIR/now.$i
		curl -sS -N --max-time 8 -o "$out" "$PL_URL/push/stream?topic=$T&format=ndjson" 2>/dev/null 3>&- &
		pids+=($!)
		outs+=("$out")
	done
	# since=now is taken when the program reads the request: publish only once
	# all three are held, however slow the machine.
	wait_for 10 waiting_ge $((w0 + 3)) || pl_fail "not all three streams are held: $(waiting) waiting"
	pl_pub "$T" all
	for i in 0 1 2; do
		f=${outs[$i]}
		wait_for 6 grep -q "\"id\":$PUB_ID," "$f" || pl_fail "stream $i did not get $PUB_ID: $(cat "$f")"
	done
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}

@test "SSE (default format): text/event-stream, id/event/data per message, heartbeats, ends by itself" {
	T=$(pl_topic)
	t0=$(pl_now_ms)
	st_bg "topic=$T"
	[ "$(tr -d '\r' <"$ST_OUT.h" | awk 'NR==1{print $2}')" = 200 ] || { cat "$ST_OUT.h" >&2; pl_fail "status"; }
	HEADERS=$ST_OUT.h
	pl_expect_ctype text/event-stream
	pl_expect_no_store
	pl_publish "topic=$T/x&type=notice" -H 'Content-Type: application/json' --data-binary '{"n":1}'
	pl_expect_status 201
	id=$(pl_json .id)
	wait_for 5 st_has "id: *$id" || { cat "$ST_OUT" >&2; pl_fail "event $id not streamed"; }
	wait_for 5 st_has '^: hb' || { cat "$ST_OUT" >&2; pl_fail "no heartbeat ': hb'"; }
	st_end
	el=$(( $(pl_now_ms) - t0 ))
	[ "$ST_RC" = 0 ] || pl_fail "curl status $ST_RC (the stream did not end by itself within 15 s)"
	(( el >= 3500 && el < 12000 )) || pl_fail "stream lasted $el ms, stream_max_time is 4 s"
	d=$(sse_data "$id")
	printf '%s' "$d" | jq_true --argjson id "$id" --arg t "$T/x" \
		'.id == $id and .topic == $t and .data == {"n":1} and .type == "notice"' >/dev/null ||
		{ cat "$ST_OUT" >&2; pl_fail "data line of event $id: '$d'"; }
	grep -B3 -A3 "id: *$id" "$ST_OUT" | grep -q '^event: *message' || { cat "$ST_OUT" >&2; pl_fail "no 'event: message'"; }
}

@test "SSE: since=all sends what exists, then what comes, each once in order" {
	T=$(pl_topic)
	pl_pub "$T" one; a=$PUB_ID
	pl_pub "$T" two; b=$PUB_ID
	st_bg "topic=$T&since=all&format=sse"
	wait_for 5 st_has "id: *$b" || { cat "$ST_OUT" >&2; pl_fail "old events not sent"; }
	pl_pub "$T" three; c=$PUB_ID
	wait_for 5 st_has "id: *$c" || { cat "$ST_OUT" >&2; pl_fail "new event not sent"; }
	st_end
	got=$(tr -d '\r' <"$ST_OUT" | sed -n 's/^id: *//p' | tr '\n' ' ')
	[ "$got" = "$a $b $c " ] || pl_fail "ids '$got', want '$a $b $c'"
}

@test "SSE: Last-Event-ID header resumes after that id (EventSource reconnect), beating since=" {
	T=$(pl_topic)
	pl_pub "$T" one; a=$PUB_ID
	pl_pub "$T" two; b=$PUB_ID
	st_bg "topic=$T&since=all" -H "Last-Event-ID: $a"
	wait_for 5 st_has "id: *$b" || { cat "$ST_OUT" >&2; pl_fail "event $b not sent"; }
	st_end
	! grep -q "^id: *$a\$" <(tr -d '\r' <"$ST_OUT") || pl_fail "event $a sent again"
}

@test "SSE: a stream that ends without a message names its cursor as its last id, so a reconnect misses nothing" {
	T=$(pl_topic)
	pl_pub "$T/old" old; old=$PUB_ID
	# Two at once, both ended by stream_max_time: one on a quiet topic, one
	# that carries a message.
	st_bg "topic=$T/quiet"
	quiet=$ST_OUT quiet_pid=$ST_PID
	st_bg "topic=$T/busy"
	wait_for 5 st_has '^retry:' || { cat "$ST_OUT" >&2; pl_fail "no retry block"; }
	pl_pub "$T/busy" one; one=$PUB_ID
	st_end
	# The busy one: its last id is its message's, no block after it.
	last=$(tr -d '\r' <"$ST_OUT" | sed -n 's/^id: //p' | tail -1)
	[ "$last" = "$one" ] || { cat "$ST_OUT" >&2; pl_fail "last id '$last' of a stream that carried $one"; }
	ST_OUT=$quiet ST_PID=$quiet_pid
	st_end
	# The quiet one: a last block with the cursor as its id and no data
	# (EventSource takes it as its last event id and fires no event).
	blk=$(tr -d '\r' <"$ST_OUT" | awk 'BEGIN { RS = "" } END { print }')
	cur=$(sed -n 's/^id: //p' <<<"$blk")
	[[ $cur =~ ^[0-9]+$ ]] && (( cur >= one )) || { cat "$ST_OUT" >&2; pl_fail "last block '$blk': no id at or past $one"; }
	[ "$(grep -c '^id:' <<<"$(tr -d '\r' <"$ST_OUT")")" = 1 ] && ! grep -q '^data:' "$ST_OUT" ||
		{ cat "$ST_OUT" >&2; pl_fail "a stream without messages carries more than its cursor"; }
	# Published while the browser waits to reconnect: it comes with the
	# reconnect's Last-Event-ID.
	pl_pub "$T/quiet" gap; gap=$PUB_ID
	st_bg "topic=$T/quiet" -H "Last-Event-ID: $cur"
	wait_for 5 st_has "^id: $gap" || { cat "$ST_OUT" >&2; pl_fail "message $gap of the gap not sent"; }
	kill "$ST_PID" 2>/dev/null || true
	wait "$ST_PID" 2>/dev/null || true
}

@test "Accept chooses NDJSON only when it names it with a q-value above 0 and not below text/event-stream's" {
	T=$(pl_topic)
	while IFS='|' read -r accept want; do
		[ -n "$accept" ] || continue
		pl_req HEAD "/push/stream?topic=$T" -H "Accept: $accept"
		pl_expect_status 200
		pl_expect_ctype "$want" || pl_fail "Accept: $accept"
	done <<'TABLE'
application/x-ndjson|application/x-ndjson
text/event-stream|text/event-stream
application/x-ndjson;q=0|text/event-stream
application/x-ndjson; q=0.0, */*|text/event-stream
text/event-stream, application/x-ndjson;q=0.5|text/event-stream
application/x-ndjson;q=0.9, text/event-stream;q=0.5|application/x-ndjson
APPLICATION/X-NDJSON|application/x-ndjson
application/x-ndjsonp|text/event-stream
TABLE
	# format= decides whatever Accept says
	pl_req HEAD "/push/stream?topic=$T&format=sse" -H 'Accept: application/x-ndjson'
	pl_expect_ctype text/event-stream
}

@test "NDJSON: one message object per line, heartbeats are empty lines" {
	T=$(pl_topic)
	st_bg "topic=$T&format=ndjson"
	HEADERS=$ST_OUT.h
	pl_expect_ctype application/x-ndjson
	pl_pub "$T" nd
	id=$PUB_ID
	wait_for 5 st_has "\"id\": *$id" || { cat "$ST_OUT" >&2; pl_fail "message not streamed"; }
	st_end
	grep -q '^\r\?$' "$ST_OUT" || pl_fail "no empty heartbeat line"
	grep -v '^\r\?$' "$ST_OUT" | jq_true -s --argjson id "$id" 'map(select(.id == $id)) | length == 1 and .[0].data == "nd"' >/dev/null ||
		{ cat "$ST_OUT" >&2; pl_fail "lines are not the message objects"; }
}

@test "iframe script stream (format=js): HTML with script blocks; </script> in data is escaped" {
	T=$(pl_topic)
	st_bg "topic=$T&format=js"
	HEADERS=$ST_OUT.h
	pl_expect_ctype text/html
	pl_pub "$T" '</script><script>alert(1)</script>'
	id=$PUB_ID
	wait_for 5 st_has "$id" || { cat "$ST_OUT" >&2; pl_fail "message not streamed"; }
	st_end
	grep -qi '<script' "$ST_OUT" || pl_fail "no <script> in the iframe stream"
	! grep -q '</script><script>alert' "$ST_OUT" || { cat "$ST_OUT" >&2; pl_fail "</script> not escaped"; }
	! grep -qi '<script>alert(1)' "$ST_OUT" || { cat "$ST_OUT" >&2; pl_fail "injected script"; }
	# at stream_max_time the document is ended, not cut off
	[ "$ST_RC" = 0 ] || pl_fail "curl status $ST_RC: the stream did not end by itself"
	[ "$(tail -n 1 "$ST_OUT")" = '</body></html>' ] || { tail -n 3 "$ST_OUT" >&2; pl_fail "the iframe document does not end with </body></html>"; }
	[ "$(grep -c '<html' "$ST_OUT")" = 1 ] || pl_fail "not one document"
}

@test "a stream never carries another user's message" {
	T=$(pl_topic)
	st_bg "topic=$T&since=all&token=$(pl_user_token bob)"
	bob_out=$ST_OUT bob_pid=$ST_PID
	st_bg "topic=$T&since=all"
	pl_publish "topic=$T&user=alice" -H 'Content-Type: text/plain' --data-binary alice-secret
	pl_pub "$T" broadcast
	wait_for 5 st_has broadcast || pl_fail "anonymous stream got nothing"
	st_end
	! st_has alice-secret || pl_fail "anonymous stream got alice's message"
	ST_OUT=$bob_out ST_PID=$bob_pid
	wait_for 5 st_has broadcast || pl_fail "bob's stream got nothing"
	st_end
	! st_has alice-secret || pl_fail "bob's stream got alice's message"
}

@test "bad parameters: 400 JSON error, not a stream" {
	T=$(pl_topic)
	for q in "topic=bad" "topic=$T&since=x" "topic=$T&format=yaml" ""; do
		PL_MAX_TIME=5 pl_req GET "/push/stream?$q"
		pl_expect_error 400 || pl_fail "query '$q'"
	done
}

@test "push = off: stream answers 503 with Retry-After (plain CGI)" {
	CGI_CONF=$BATS_TEST_TMPDIR/off.conf
	pl_write_test_conf "$CGI_CONF" "$PL_DB" 'push=off'
	pl_cgi_req stream GET "topic=/x"
	pl_expect_error 503
	ra=$(pl_hdr Retry-After) || { pl_show; pl_fail "no Retry-After"; }
	# The iframe page reads no header: the error call carries the wait.
	pl_cgi_req stream GET "topic=/x&format=js&callback=app_cb"
	[[ $BODY == *'parent.app_cb({'*'"error":"push_off"'*"\"retry_after\":$ra"* ]] ||
		{ pl_show; pl_fail "iframe: no retry_after $ra in the error call"; }
}

@test "a reader too far behind: its stream ends with whole messages and the format's end (XML stays well-formed)" {
	T=$(pl_topic)
	head -c 100000 /dev/zero | tr '\0' 'x' >"$BATS_TEST_TMPDIR/big"
	# a reader with a small window that reads nothing while 5 MB are
	# published, then reads what it is sent
	slow_reader "/push/stream?topic=$T&format=xml" "$BATS_TEST_TMPDIR/out" 4 body 3>&- &
	reader=$!
	sleep 0.5
	for i in $(seq 50); do
		pl_publish "topic=$T" -H 'Content-Type: text/plain' --data-binary @"$BATS_TEST_TMPDIR/big"
		pl_expect_status 201 || break
	done
	wait "$reader" || pl_fail "the reader failed"
	got=$(grep -o '<message ' "$BATS_TEST_TMPDIR/out" | wc -l)
	echo "# a reader that fell behind got $got of 50 messages before its stream was ended" >&3
	(( got < 50 )) || skip "the reader kept up here (nothing to check)"
	xmllint --noout "$BATS_TEST_TMPDIR/out" || pl_fail "the cut stream is no well-formed XML document"
	tail -c 20 "$BATS_TEST_TMPDIR/out" | grep -q '</messages>' || pl_fail "no </messages> at the end"
}

@test "a backlog far over the output bound reaches a reader that keeps up, in one stream" {
	local T=/s/backlog first n b line
	line=$(head -c 3000 /dev/zero | tr '\0' 'y')
	# 1,500 messages of 3 KB (4.5 MB; pages of 100 are 300 KB, over the
	# bound by themselves) in batches under max_body; the one stream ends
	# at stream_max_time (4 s here)
	for b in 0 1 2 3 4; do
		for n in $(seq 1 300); do printf '{"data":"%s %d"}\n' "$line" $((b * 300 + n)); done >"$BATS_TEST_TMPDIR/batch"
		pl_publish "topic=$T" -H 'Content-Type: application/x-ndjson' --data-binary @"$BATS_TEST_TMPDIR/batch"
		pl_expect_status 201
		[ "$b" = 0 ] && first=$(pl_json '.ids[0]')
	done
	curl -sS -g -N --max-time 20 -o "$BATS_TEST_TMPDIR/out" \
		"$PL_URL/push/stream?topic=$T&format=ndjson&since=$((first - 1))" || true
	n=$(grep -c '"topic"' "$BATS_TEST_TMPDIR/out" || true)
	[ "$n" = 1500 ] || pl_fail "one stream carried $n of the 1,500 messages of its backlog"
}

# stream_rss_kb: the resident memory of the stream programs, summed (kB).
stream_rss_kb() {
	local p sum=0 kb
	for p in $(stream_pids); do
		kb=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$p/status" 2>/dev/null) || kb=0
		sum=$(( sum + ${kb:-0} ))
	done
	echo "$sum"
}

@test "streams whose readers read nothing hold little of a backlog of large messages, each" {
	local T=/s/noread b n before during holder
	[ "$PL_SERVER" = lighttpd ] || skip "one stream process holds every stream only behind lighttpd"
	line=$(head -c 100000 /dev/zero | tr '\0' 'n')
	# 36 messages of 100 KB (3.6 MB), read by 8 streams at once with
	# limit=1000: one page of the backlog each, were it queued whole
	for b in 1 2 3 4; do
		for n in $(seq 1 9); do printf '{"data":"%s %d"}\n' "$line" "$n"; done >"$BATS_TEST_TMPDIR/batch"
		pl_publish "topic=$T" -H 'Content-Type: application/x-ndjson' --data-binary @"$BATS_TEST_TMPDIR/batch"
		pl_expect_status 201
	done
	curl -sS -N --max-time 1 -o /dev/null "$PL_URL/push/stream?topic=/s/none" 2>/dev/null || true
	before=$(stream_rss_kb)
	python3 - "$PL_PORT" "/push/stream?topic=$T&since=all&limit=1000&format=ndjson" 2.5 3>&- <<'PY' &
import socket, sys, time
ss = []
for i in range(8):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", int(sys.argv[1])))
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % sys.argv[2]).encode())
    ss.append(s)
time.sleep(float(sys.argv[3]))
PY
	holder=$!
	sleep 1.5
	during=$(stream_rss_kb)
	wait "$holder"
	echo "# 8 streams that read nothing of 3.6 MB each: the stream program grew by $(( during - before )) kB" >&3
	# queued whole: 8 x 3.6 MB; bounded: about 8 x 256 KB. A sanitizer
	# build keeps what is freed resident for a while (its quarantine):
	# there only the reader below is checked.
	if [ -z "${ASAN_OPTIONS-}" ]; then
		(( during - before < 12000 )) || pl_fail "the stream program grew by $(( during - before )) kB"
	fi
	# and a reader that reads gets every message of the backlog (it stops
	# at the 36th, or after 4 s)
	n=$(python3 - "$PL_PORT" "/push/stream?topic=$T&format=ndjson&since=all&limit=1000" 3>&- <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
# HTTP/1.0: the body comes as it is, no chunk heads inside the messages
s.sendall(("GET %s HTTP/1.0\r\nHost: x\r\n\r\n" % sys.argv[2]).encode())
s.settimeout(0.5)
data, end = b"", time.time() + 4
while data.count(b'"topic"') < 36 and time.time() < end:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        continue
    if not chunk:
        break
    data += chunk
print(data.count(b'"topic"'))
PY
)
	[ "$n" = 36 ] || pl_fail "a reader got $n of the 36 messages"
}

# stream_pids: the pids of the running stream programs.
stream_pids() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$PL_BIN/stream" ] && echo "${p#/proc/}"
	done
	return 0
}

# Last in this file: it deletes the database's -shm under the running
# programs (they open the file again, and end what they hold).
@test "a stream catching up on its backlog when the database is replaced ends cleanly, and its process goes on" {
	local T=/s/replaced first n b line pids p
	[ "$PL_SERVER" = lighttpd ] || skip "one stream process holds every stream only behind lighttpd"
	line=$(head -c 3000 /dev/zero | tr '\0' 'z')
	# 6 MB: more than lighttpd takes in while the reader reads nothing, so
	# that the program still has backlog to send once the -shm is gone
	for b in 0 1 2 3 4 5 6; do
		for n in $(seq 1 300); do printf '{"data":"%s %d"}\n' "$line" $((b * 300 + n)); done >"$BATS_TEST_TMPDIR/batch"
		pl_publish "topic=$T" -H 'Content-Type: application/x-ndjson' --data-binary @"$BATS_TEST_TMPDIR/batch"
		pl_expect_status 201
		[ "$b" = 0 ] && first=$(pl_json '.ids[0]')
	done
	# A reader with a small window: its backlog waits for it to read.
	slow_reader "/push/stream?topic=$T&format=ndjson&since=$((first - 1))" "$BATS_TEST_TMPDIR/out" 3 all 3>&- &
	reader=$!
	wait_for 5 waiting_ge 1 || pl_fail "the stream is not held"
	pids=$(stream_pids)
	[ -n "$pids" ] || pl_fail "no stream process found"
	# The program looks for a replaced file once a second; the -shm's
	# deletion wakes nobody, so the reader's next read finds it.
	sleep 1.5
	rm -f "$PL_DB-shm"
	wait "$reader" || pl_fail "the reader failed"
	grep -q '^HTTP/1.[01] 200' "$BATS_TEST_TMPDIR/out" || pl_fail "no 200: $(head -c 300 "$BATS_TEST_TMPDIR/out")"
	n=$(grep -c '"topic"' "$BATS_TEST_TMPDIR/out" || true)
	echo "# the reader got $n of the 2,100 messages before its stream ended" >&3
	for p in $pids; do
		kill -0 "$p" 2>/dev/null || pl_fail "stream process $p died"
	done
	# ... and serves the next stream.
	st_bg "topic=$T&format=ndjson"
	wait_for 5 waiting_ge 1 || pl_fail "the next stream is not held"
	pl_pub "$T" after
	wait_for 5 st_has '"after"' || pl_fail "the next stream did not get the new message"
	kill "$ST_PID" 2>/dev/null || true
	# Every program sees what publish acknowledged (none commits into the
	# deleted -shm's index, which the others no longer read).
	for n in 1 2 3 4 5 6; do
		pl_pub "$T" "again $n"
		pl_poll "topic=$T&since=$((PUB_ID - 1))"
		pl_jq_true --argjson id "$PUB_ID" '[.messages[].id] == [$id]' || pl_fail "poll does not see message $PUB_ID"
		[ "$(pl_stat newest_id)" = "$PUB_ID" ] || pl_fail "admin stats do not see message $PUB_ID"
	done
	for p in $pids; do
		kill -0 "$p" 2>/dev/null || pl_fail "stream process $p died"
	done
}
