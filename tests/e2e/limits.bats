#!/usr/bin/env bats
# SPEC 7 and 8: every limit answers with its own status and a JSON error,
# at once, and nothing crashes. The server of this file runs with small
# limits: max_body 64 KiB, max_waiting 3, stream_max_time 3 s.

load helper
load reliability

setup_file() {
	pl_setup_server max_body=65536 max_waiting=3 stream_max_time=3 longpoll_timeout=25
}
teardown_file() { pl_teardown_server; }

setup() { pl_need publish poll longpoll stream admin; }

# health_ok: the server and admin still answer.
health_ok() {
	pl_get /push/health
	pl_expect_status 200
}

secs_since() {  # secs_since START-MS: elapsed seconds with 3 decimals
	local e=$(( $(pl_now_ms) - $1 ))
	printf '%d.%03d' $(( e / 1000 )) $(( e % 1000 ))
}

@test "body over max_body: 413 JSON, nothing stored; exactly max_body: 201" {
	T=$(pl_topic)
	head -c 65537 /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/big"
	pl_publish "topic=$T" -H 'Content-Type: text/plain' --data-binary "@$BATS_TEST_TMPDIR/big"
	pl_expect_error 413
	# chunked (no Content-Length from the client)
	pl_publish "topic=$T" -H 'Content-Type: text/plain' -H 'Transfer-Encoding: chunked' \
		--data-binary "@$BATS_TEST_TMPDIR/big"
	pl_expect_error 413
	pl_expect_nothing_stored "$T"
	head -c 65536 /dev/zero | tr '\0' b >"$BATS_TEST_TMPDIR/fits"
	pl_publish "topic=$T" -H 'Content-Type: text/plain' --data-binary "@$BATS_TEST_TMPDIR/fits"
	pl_expect_status 201
	health_ok
}

@test "body over max_body in the asked format: XML with 413, JSONP with 200 and the error inside" {
	T=$(pl_topic)
	head -c 65537 /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/big"
	# With a Content-Length the program refuses it before reading; chunked,
	# it finds out while reading: both paths, both formats.
	for chunked in '' 'Transfer-Encoding: chunked'; do
		pl_publish "topic=$T&format=xml" -H 'Content-Type: text/plain' ${chunked:+-H "$chunked"} \
			--data-binary "@$BATS_TEST_TMPDIR/big"
		pl_expect_status 413
		pl_expect_ctype application/xml
		printf '%s' "$BODY" | xmllint --xpath 'string(/error/@code)' - 2>/dev/null | grep -qx too_large ||
			{ pl_show; pl_fail "413 as XML (${chunked:-Content-Length}): no <error code=\"too_large\">"; }
		pl_publish "topic=$T&format=jsonp&callback=cb" -H 'Content-Type: text/plain' ${chunked:+-H "$chunked"} \
			--data-binary "@$BATS_TEST_TMPDIR/big"
		pl_expect_status 200
		[[ $BODY == '/**/cb({'*'"error":"too_large"'* ]] ||
			{ pl_show; pl_fail "413 as JSONP (${chunked:-Content-Length}): not 200 with the error inside"; }
	done
	pl_expect_nothing_stored "$T"
}

@test "a batch over 10,000 lines: 413, nothing stored" {
	T=$(pl_topic)
	for i in $(seq 1 10001); do printf '{"topic":"%s","data":%d}\n' "$T" "$i"; done >"$BATS_TEST_TMPDIR/batch"
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/batch")" -lt 65536 ] || {
		# keep the batch under max_body so that the line limit is what refuses it
		for i in $(seq 1 10001); do printf '{"data":%d}\n' "$i"; done >"$BATS_TEST_TMPDIR/batch"
	}
	pl_publish "topic=$T" -H 'Content-Type: application/x-ndjson' --data-binary "@$BATS_TEST_TMPDIR/batch"
	pl_expect_error 413
	pl_expect_nothing_stored "$T"
}

@test "too many topics in one subscription: 400 (17 of max_topics 16), 16 is fine" {
	T=$(pl_topic)
	t16=$(for i in $(seq 1 16); do printf '%s/%d,' "$T" "$i"; done)
	t16=${t16%,}
	pl_poll "topic=$t16"
	pl_expect_status 200
	pl_poll "topic=$t16,$T/17"
	pl_expect_error 400
	q=$(for i in $(seq 1 17); do printf 'topic=%s/%d&' "$T" "$i"; done)
	for ep in poll longpoll stream; do
		pl_get "/push/$ep?${q}timeout=1"
		pl_expect_error 400
	done
}

@test "query string over 8 KiB through lighttpd: refused by lighttpd with 431, or by pushlite with 400" {
	T=$(pl_topic)
	pad=$(head -c 8300 /dev/zero | tr '\0' x)
	for ep in poll longpoll stream; do
		pl_get "/push/$ep?topic=$T&pad=$pad&timeout=1"
		pl_expect_status 400 414 431
		if [ "$HTTP_STATUS" = 400 ]; then pl_expect_error 400; fi
		echo "# $ep: $HTTP_STATUS" >&3
	done
	pl_publish "topic=$T&pad=$pad" --data-binary x -H 'Content-Type: text/plain'
	pl_expect_status 400 414 431
	pl_expect_nothing_stored "$T"
	health_ok
}

@test "query string over 8 KiB as plain CGI (no web server limit in front): pushlite's own 400 JSON" {
	T=$(pl_topic)
	pad=$(head -c 8300 /dev/zero | tr '\0' x)
	for p in poll longpoll stream admin; do
		pl_cgi_req "$p" GET "topic=$T&pad=$pad&timeout=0"
		pl_expect_error 400
	done
	CGI_ENV=(CONTENT_TYPE=text/plain HTTP_AUTHORIZATION="Bearer $PL_PUB_TOKEN")
	pl_cgi_req publish POST "topic=$T&pad=$pad" x
	pl_expect_error 400
	# exactly 8 KiB is accepted
	q="topic=$T&pad="
	pad=$(head -c $(( 8192 - ${#q} )) /dev/zero | tr '\0' x)
	CGI_ENV=()
	pl_cgi_req poll GET "$q$pad"
	pl_expect_status 200
}

@test "very long header values: 400/401 JSON from pushlite (7 KB), 431 from lighttpd (past its 8 KB header limit); never a crash" {
	T=$(pl_topic)
	long=$(head -c 7000 /dev/zero | tr '\0' a)
	pl_publish "" -H "X-Topic: /$long" --data-binary x -H 'Content-Type: text/plain'
	pl_expect_error 400
	pl_publish "topic=$T" -H "X-Type: $long" --data-binary x -H 'Content-Type: text/plain'
	pl_expect_error 400
	pl_publish "topic=$T" -H "X-User: $long" --data-binary x -H 'Content-Type: text/plain'
	pl_expect_error 400
	pl_publish "topic=$T" -H "X-Clients: $long" --data-binary x -H 'Content-Type: text/plain'
	pl_expect_error 400
	pl_publish "topic=$T" -H "X-TTL: $long" --data-binary x -H 'Content-Type: text/plain'
	pl_expect_error 400
	pl_req POST "/push/publish?topic=$T" -H "Authorization: Bearer $long" --data-binary x
	pl_expect_error 401
	pl_poll "topic=$T" -H "Last-Event-ID: $long"
	pl_expect_error 400
	pl_poll "topic=$T" -H "Authorization: Bearer v1.$long.1.x"
	pl_expect_error 401
	pl_expect_nothing_stored "$T"
	# Past lighttpd's header limit: lighttpd answers itself.
	huge=$(head -c 9000 /dev/zero | tr '\0' a)
	pl_poll "topic=$T" -H "X-Junk: $huge"
	pl_expect_status 431 400
	health_ok
}

@test "max_waiting 3: the fourth waiting long poll gets 429 at once, JSON; the slot frees again" {
	# Under mod_fcgid each held request is a process that mod_fcgid starts on
	# demand, throttled by its own spawn score: how many are held at a moment
	# is mod_fcgid's choice, not ours. The host-wide cap (summed over
	# processes) is exercised here on lighttpd.
	[ "$PL_SERVER" = apache ] && skip "mod_fcgid starts held requests' processes at its own pace"
	T=$(pl_topic)
	pids=()
	for i in 1 2 3; do
		curl -sS -o "$BATS_TEST_TMPDIR/held.$i" --max-time 40 "$PL_URL/push/longpoll?topic=$T/held&timeout=30" 3>&- &
		pids+=($!)
	done
	three() { [ "$(pl_stat waiting)" = 3 ]; }
	wait_for 10 three || pl_fail "waiting is $(pl_stat waiting), not 3"
	t0=$(pl_now_ms)
	pl_get "/push/longpoll?topic=$T&timeout=30"
	el=$(secs_since "$t0")
	pl_expect_error 429
	[ "${el%.*}" -lt 1 ] || pl_fail "429 took $el s"
	# the refusal speaks the asked format, with CORS for a listed origin
	pl_get "/push/longpoll?topic=$T&timeout=30&format=jsonp&callback=cb"
	pl_expect_status 200
	[[ $BODY == *'cb({'*'"error":"too_many_subscribers"'* ]] || { pl_show; pl_fail "429 as JSONP: not 200 with the error inside"; }
	# a script tag cannot read Retry-After: its seconds come inside
	[[ $BODY == *'"retry_after":5'* ]] || { pl_show; pl_fail "429 as JSONP: no retry_after inside"; }
	pl_get "/push/stream?topic=$T&format=js&callback=cb"
	[[ $BODY == *'parent.cb({'*'"error":"too_many_subscribers"'*'"retry_after":5'* ]] ||
		{ pl_show; pl_fail "429 as an iframe page: no error call with retry_after"; }
	pl_get "/push/longpoll?topic=$T&timeout=30&format=xml"
	pl_expect_status 429
	printf '%s' "$BODY" | xmllint --xpath 'string(/error/@code)' - 2>/dev/null | grep -qx too_many_subscribers ||
		{ pl_show; pl_fail "429 as XML: no <error code=\"too_many_subscribers\">"; }
	pl_get "/push/longpoll?topic=$T&timeout=30" -H "Origin: $PL_ORIGIN"
	pl_expect_error 429
	[ "$(pl_hdr Access-Control-Allow-Origin)" = "$PL_ORIGIN" ] || { pl_show; pl_fail "no ACAO on the 429"; }
	# a stream would always wait: refused too
	pl_get "/push/stream?topic=$T&format=ndjson"
	pl_expect_error 429
	# a long poll that need not wait is answered, full or not
	U=$(pl_topic /ready)
	pl_pub "$U" ready
	pl_get "/push/longpoll?topic=$U&since=all&timeout=30"
	pl_expect_status 200
	[ "$(pl_json '.messages[0].data')" = ready ] || { pl_show; pl_fail "an answer-ready long poll was refused while full"; }
	# a publish answers the three held ones; then a long poll is held again
	pl_pub "$T/held" wake
	for p in "${pids[@]}"; do wait "$p"; done
	for i in 1 2 3; do
		jq_true '.messages[0].data == "wake"' "$BATS_TEST_TMPDIR/held.$i" >/dev/null ||
			pl_fail "held $i: $(cat "$BATS_TEST_TMPDIR/held.$i")"
	done
	# at once: the slots of requests that ended count no more (the
	# process's own count is exact; its file lags up to 100 ms)
	for i in 1 2 3; do
		curl -sS -o /dev/null -w '%{http_code}\n' --max-time 10 "$PL_URL/push/longpoll?topic=$T&since=$PUB_ID&timeout=1" \
			>"$BATS_TEST_TMPDIR/again.$i" 3>&- &
		pids[$i]=$!
	done
	for i in 1 2 3; do wait "${pids[$i]}"; done
	for i in 1 2 3; do
		[ "$(cat "$BATS_TEST_TMPDIR/again.$i")" = 200 ] || pl_fail "a long poll right after the held ones ended: $(cat "$BATS_TEST_TMPDIR/again.$i")"
	done
	rl_note "max_waiting=3: 4th long poll answered 429 in $el s"
}

@test "max_waiting 3 across processes: a burst of long polls and streams at once holds 3, the rest 429" {
	T=$(pl_topic)
	pids=()
	# long poll and stream are two programs: the cap is summed over both
	for i in 1 2 3 4 5 6; do
		curl -sS -o /dev/null -w '%{http_code}\n' --max-time 20 "$PL_URL/push/longpoll?topic=$T&timeout=4" \
			>"$BATS_TEST_TMPDIR/lp.$i" 3>&- &
		pids+=($!)
		curl -sS -N -o /dev/null -w '%{http_code}\n' --max-time 20 "$PL_URL/push/stream?topic=$T&format=ndjson" \
			>"$BATS_TEST_TMPDIR/st.$i" 3>&- &
		pids+=($!)
	done
	sleep 1.5
	held=$(pl_stat waiting)
	for p in "${pids[@]}"; do wait "$p" || true; done
	ok=$(cat "$BATS_TEST_TMPDIR"/lp.* "$BATS_TEST_TMPDIR"/st.* | grep -c '^200$' || true)
	full=$(cat "$BATS_TEST_TMPDIR"/lp.* "$BATS_TEST_TMPDIR"/st.* | grep -c '^429$' || true)
	rl_note "burst of 12 against max_waiting=3: $held held at once, $ok answered 200, $full refused 429"
	(( held <= 3 )) || pl_fail "$held requests held at once with max_waiting = 3"
	(( ok <= 3 && ok + full == 12 )) || pl_fail "$ok held and $full refused of 12 (want at most 3 held, the rest 429)"
}

@test "stream ends after stream_max_time (3 s), cleanly" {
	T=$(pl_topic)
	d=$BATS_TEST_TMPDIR
	# the three formats at once; each notes its curl exit and duration
	pids=()
	for fmt in sse ndjson js; do
		(
			t0=$(pl_now_ms)
			rc=0
			curl -sS -N --max-time 20 -o "$d/s.$fmt" "$PL_URL/push/stream?topic=$T&format=$fmt" || rc=$?
			echo "$rc $(( $(pl_now_ms) - t0 ))" >"$d/r.$fmt"
		) 3>&- &
		pids+=($!)
	done
	wait "${pids[@]}"
	for fmt in sse ndjson js; do
		read -r rc ms <"$d/r.$fmt" || pl_fail "$fmt: no result"
		[ "$rc" = 0 ] || pl_fail "$fmt: curl exit $rc after $ms ms (the stream did not end cleanly)"
		(( ms >= 2900 && ms < 5000 )) || pl_fail "$fmt: stream lasted $ms ms, expected 3 s"
		echo "# $fmt lasted $ms ms" >&3
	done
}

@test "longpoll timeout is honoured within a second (timeout=2, timeout=0)" {
	# mod_fcgid may start a process for the request first (its spawn throttle
	# adds up to about a second); lighttpd's program is already running.
	SPAWN_MS=0
	[ "$PL_SERVER" = apache ] && SPAWN_MS=1500
	T=$(pl_topic)
	t0=$(pl_now_ms)
	pl_get "/push/longpoll?topic=$T&timeout=2"
	ms=$(( $(pl_now_ms) - t0 ))
	pl_expect_status 200
	pl_jq_true '.messages == []'
	(( ms >= 1900 && ms < 3000 + SPAWN_MS )) || pl_fail "timeout=2 answered after $ms ms"
	t0=$(pl_now_ms)
	pl_get "/push/longpoll?topic=$T&timeout=0"
	ms=$(( $(pl_now_ms) - t0 ))
	pl_expect_status 200
	(( ms < 1000 + SPAWN_MS )) || pl_fail "timeout=0 answered after $ms ms"
	t0=$(pl_now_ms)
	pl_get "/push/longpoll?topic=$T&timeout=3s"
	ms=$(( $(pl_now_ms) - t0 ))
	(( ms >= 2900 && ms < 4000 + SPAWN_MS )) || pl_fail "timeout=3s answered after $ms ms"
}

@test "stream as xml is one well-formed document, closed when the stream ends; jsonp calls back per message; json is ndjson" {
	T=$(pl_topic)
	pl_pub "$T" '</script><!-- ]]> & "x"'
	pl_publish "topic=$T" -H 'Content-Type: application/json' --data-binary '{"n":2}'
	pl_expect_status 201
	d=$BATS_TEST_TMPDIR
	# the three streams at once, each until its end (stream_max_time)
	curl -sS -N --max-time 20 -D "$d/h.xml" -o "$d/s.xml" "$PL_URL/push/stream?topic=$T&since=all&format=xml" 3>&- &
	p1=$!
	curl -sS -N --max-time 20 -D "$d/h.js" -o "$d/s.js" "$PL_URL/push/stream?topic=$T&since=all&format=jsonp&callback=cb" 3>&- &
	p2=$!
	curl -sS -N --max-time 20 -D "$d/h.nd" -o "$d/s.nd" "$PL_URL/push/stream?topic=$T&since=all&format=json" 3>&- &
	p3=$!
	wait "$p1" && wait "$p2" && wait "$p3" || pl_fail "a stream did not end cleanly"
	HEADERS=$d/h.xml
	pl_hdr Content-Type | grep -q '^application/xml' || { cat "$d/h.xml" >&2; pl_fail "xml stream: wrong type"; }
	xmllint --noout "$d/s.xml" || { cat "$d/s.xml" >&2; pl_fail "xml stream: not well-formed"; }
	[ "$(xmllint --xpath 'count(/messages/message)' "$d/s.xml")" = 2 ] || { cat "$d/s.xml" >&2; pl_fail "xml stream: not 2 messages"; }
	[ "$(xmllint --xpath 'string(/messages/message[1]/data)' "$d/s.xml" | jq -r .)" = '</script><!-- ]]> & "x"' ] ||
		{ cat "$d/s.xml" >&2; pl_fail "xml stream: data not intact"; }
	HEADERS=$d/h.js
	pl_hdr Content-Type | grep -Eq '^(application|text)/javascript' || { cat "$d/h.js" >&2; pl_fail "jsonp stream: wrong type"; }
	! grep -qi '</script' "$d/s.js" || { cat "$d/s.js" >&2; pl_fail "jsonp stream: </script> unescaped"; }
	# each message one call: /**/cb(JSON); the JSON stays JSON
	[ "$(grep -c . "$d/s.js")" = 2 ] || { cat "$d/s.js" >&2; pl_fail "jsonp stream: not one line per message"; }
	sed -n 's|^/\*\*/cb(\(.*\));$|\1|p' "$d/s.js" >"$d/s.js.json"
	[ "$(grep -c . "$d/s.js.json")" = 2 ] &&
		jq -s -e '.[0].data == "</script><!-- ]]> & \"x\"" and .[1].data.n == 2' "$d/s.js.json" >/dev/null ||
		{ cat "$d/s.js" >&2; pl_fail "jsonp stream: callbacks wrong"; }
	[ "$(grep -c . "$d/s.nd")" = 2 ] && jq -s -e '.[0].data == "</script><!-- ]]> & \"x\"" and .[1].data.n == 2' "$d/s.nd" >/dev/null ||
		{ cat "$d/s.nd" >&2; pl_fail "json stream: not two JSON lines"; }
}

@test "a body that stalls is dropped by Apache's mod_reqtimeout (as Debian enables it), nothing stored" {
	case $PL_SERVER in
	apache | apache-proxy) ;;
	*) skip "lighttpd has no minimum rate: server.max-read-idle drops an idle client after its own time" ;;
	esac
	T=$(pl_topic)
	# 3 of 100 bytes, then nothing: without mod_reqtimeout the request
	# holds a worker until Timeout (600 s).
	out=$(python3 - "$PL_PORT" "$T" "$PL_PUB_TOKEN" "$BATS_TEST_TMPDIR/body" 3>&- <<'PY'
import socket, sys, time
port, topic, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("POST /push/publish?topic=%s HTTP/1.1\r\nHost: t\r\n"
           "Authorization: Bearer %s\r\nContent-Type: text/plain\r\n"
           "Content-Length: 100\r\n\r\nabc" % (topic, token)).encode())
s.settimeout(60)
t, got = time.time(), b""
try:
    while True:
        c = s.recv(4096)
        if not c:
            break
        got += c
except socket.timeout:
    pass
head, _, body = got.partition(b"\r\n\r\n")
open(sys.argv[4], "wb").write(body)
line = head.split(b"\r\n", 1)[0].decode("latin-1")
print("%.1f %s" % (time.time() - t, line or "(closed without an answer)"))
PY
)
	echo "# stalled body: $out" >&3
	secs=${out%% *}
	(( ${secs%.*} < 45 )) || pl_fail "the stalled request was held ${secs} s: $out"
	[[ $out != *" 2"[0-9][0-9]* ]] || pl_fail "a stalled body was answered as a success: $out"
	# mod_proxy_fcgi: Apache's 408, in JSON (errors/status-408.html);
	# mod_fcgid reports the body it could not read as its own 500.
	case $out in
	*" 408 "*) jq_true '.error == "timeout"' "$BATS_TEST_TMPDIR/body" >/dev/null ||
		pl_fail "408 without the JSON body: $(head -c 300 "$BATS_TEST_TMPDIR/body")" ;;
	*" 500 "*) [ "$PL_SERVER" = apache ] || pl_fail "500 from $PL_SERVER: $out" ;;
	*) pl_fail "neither 408 nor mod_fcgid's 500: $out" ;;
	esac
	pl_expect_nothing_stored "$T"
	pl_pub "$T" after
	health_ok
}
