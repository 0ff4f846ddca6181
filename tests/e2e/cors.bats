#!/usr/bin/env bats
# SPEC 4 (cross-origin) and 8: only configured origins get CORS headers.
# The test config lists https://allowed.example, credentials off.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

@test "a listed origin gets Access-Control-Allow-Origin on poll, without credentials" {
	T=$(pl_topic)
	pl_poll "topic=$T" -H "Origin: $PL_ORIGIN"
	pl_expect_status 200
	[ "$(pl_hdr Access-Control-Allow-Origin)" = "$PL_ORIGIN" ] || { pl_show; pl_fail "no ACAO for $PL_ORIGIN"; }
	! pl_hdr Access-Control-Allow-Credentials | grep -qi true || pl_fail "credentials allowed while cors_credentials = off"
}

@test "a listed origin gets Access-Control-Allow-Origin on publish and on errors" {
	T=$(pl_topic)
	pl_pub "$T" x -H "Origin: $PL_ORIGIN"
	[ "$(pl_hdr Access-Control-Allow-Origin)" = "$PL_ORIGIN" ] || { pl_show; pl_fail "no ACAO on publish"; }
	pl_poll "topic=bad" -H "Origin: $PL_ORIGIN"
	pl_expect_error 400
	[ "$(pl_hdr Access-Control-Allow-Origin)" = "$PL_ORIGIN" ] || { pl_show; pl_fail "no ACAO on an error"; }
}

@test "errors answered before the CORS step carry it too: 413, unreadable query, wrong path" {
	T=$(pl_topic)
	head -c 1048577 /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/big"
	pl_publish "topic=$T" -H "Origin: $PL_ORIGIN" -H 'Content-Type: text/plain' --data-binary @"$BATS_TEST_TMPDIR/big"
	pl_expect_error 413
	[ "$(pl_hdr Access-Control-Allow-Origin)" = "$PL_ORIGIN" ] || { pl_show; pl_fail "no ACAO on the 413"; }
	for ep in poll longpoll stream; do
		pl_req GET "/push/$ep?topic=$T&x=%zz%ff" -H "Origin: $PL_ORIGIN"
		pl_expect_error 400
		[ "$(pl_hdr Access-Control-Allow-Origin)" = "$PL_ORIGIN" ] || { pl_show; pl_fail "no ACAO on $ep's 400"; }
		pl_req GET "/push/${ep}x?topic=$T" -H "Origin: $PL_ORIGIN"
		pl_expect_error 404
		[ "$(pl_hdr Access-Control-Allow-Origin)" = "$PL_ORIGIN" ] || { pl_show; pl_fail "no ACAO on ${ep}x's 404"; }
	done
	pl_req GET "/push/poll?topic=$T&x=%ff" -H 'Origin: https://evil.example'
	pl_expect_error 400
	! pl_hdr Access-Control-Allow-Origin >/dev/null || { pl_show; pl_fail "ACAO given to an unlisted origin on a 400"; }
}

@test "an unlisted origin gets no CORS headers" {
	T=$(pl_topic)
	for o in https://evil.example http://allowed.example https://allowed.example.evil.example null; do
		pl_poll "topic=$T" -H "Origin: $o"
		pl_expect_status 200
		! pl_hdr Access-Control-Allow-Origin >/dev/null || { pl_show; pl_fail "ACAO given to $o"; }
	done
}

@test "preflight OPTIONS from a listed origin is answered with methods and headers" {
	T=$(pl_topic)
	pl_req OPTIONS "/push/publish?topic=$T" -H "Origin: $PL_ORIGIN" \
		-H 'Access-Control-Request-Method: POST' \
		-H 'Access-Control-Request-Headers: authorization, content-type'
	pl_expect_status 200 204
	[ "$(pl_hdr Access-Control-Allow-Origin)" = "$PL_ORIGIN" ] || { pl_show; pl_fail "no ACAO"; }
	pl_hdr Access-Control-Allow-Methods | grep -q POST || { pl_show; pl_fail "POST not allowed"; }
	pl_hdr Access-Control-Allow-Headers | grep -qi authorization || { pl_show; pl_fail "Authorization not allowed"; }
	pl_expect_nothing_stored "$T"
	pl_req OPTIONS "/push/poll?topic=$T" -H "Origin: $PL_ORIGIN" \
		-H 'Access-Control-Request-Method: GET' -H 'Access-Control-Request-Headers: last-event-id'
	pl_expect_status 200 204
	[ "$(pl_hdr Access-Control-Allow-Origin)" = "$PL_ORIGIN" ] || { pl_show; pl_fail "no ACAO on poll preflight"; }
}

@test "OPTIONS without an Origin (not a preflight): 204 with Allow, on every endpoint" {
	for ep in publish:POST poll:GET longpoll:GET stream:GET admin/messages:DELETE; do
		pl_req OPTIONS "/push/${ep%%:*}"
		pl_expect_status 204
		[[ $(pl_hdr Allow) == *"${ep#*:}"* ]] || { pl_show; pl_fail "OPTIONS /push/${ep%%:*}: no Allow with ${ep#*:}"; }
	done
}

@test "a plain OPTIONS and a 405 list the same methods, on every endpoint" {
	local opt
	for ep in publish poll longpoll stream admin/messages admin/messages/1 admin/stats health; do
		pl_req OPTIONS "/push/$ep?topic=/x"
		pl_expect_status 204
		opt=$(pl_hdr Allow) || { pl_show; pl_fail "OPTIONS /push/$ep: no Allow"; }
		pl_req PUT "/push/$ep?topic=/x" -H "Authorization: Bearer $PL_ADMIN_TOKEN" -d x
		pl_expect_status 405
		[ "$(pl_hdr Allow)" = "$opt" ] || { pl_show; pl_fail "/push/$ep: OPTIONS says Allow: $opt, a 405 another"; }
		[[ $opt == *OPTIONS* ]] || pl_fail "/push/$ep: Allow without OPTIONS: $opt"
		# TRACE, which Apache refuses itself, names the same
		pl_req TRACE "/push/$ep?topic=/x" -H "Authorization: Bearer $PL_ADMIN_TOKEN"
		pl_expect_status 405
		[ "$(pl_hdr Allow)" = "$opt" ] || { pl_show; pl_fail "/push/$ep: OPTIONS says Allow: $opt, a TRACE's 405 another"; }
	done
}

@test "preflight from an unlisted origin gets no Access-Control-Allow-Origin" {
	pl_req OPTIONS /push/publish -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: POST'
	! pl_hdr Access-Control-Allow-Origin >/dev/null || { pl_show; pl_fail "ACAO given to an unlisted origin"; }
	# refused like any other error: 403 with a JSON body that says why
	pl_expect_error 403
}

@test "cors_origins = * allows any origin; cors_credentials = on echoes the origin with credentials (plain CGI)" {
	CGI_CONF=$BATS_TEST_TMPDIR/star.conf
	pl_write_test_conf "$CGI_CONF" "$PL_DB" 'cors_origins=*'
	CGI_ENV=(HTTP_ORIGIN=https://anyone.example)
	pl_cgi_req poll GET "topic=/x"
	pl_expect_status 200
	acao=$(pl_hdr Access-Control-Allow-Origin) || { pl_show; pl_fail "no ACAO with *"; }
	[ "$acao" = '*' ] || [ "$acao" = https://anyone.example ] || pl_fail "ACAO '$acao'"
	# "*" never covers the opaque origin of sandboxed frames and files
	CGI_CONF=$BATS_TEST_TMPDIR/star-cred.conf
	pl_write_test_conf "$CGI_CONF" "$PL_DB" 'cors_origins=*' 'cors_credentials=on'
	CGI_ENV=(HTTP_ORIGIN=null)
	pl_cgi_req poll GET "topic=/x"
	! pl_hdr Access-Control-Allow-Origin >/dev/null || { pl_show; pl_fail "ACAO for Origin: null under *"; }
	CGI_ENV=(HTTP_ORIGIN=https://anyone.example)
	pl_cgi_req poll GET "topic=/x"
	[ "$(pl_hdr Access-Control-Allow-Origin)" = https://anyone.example ] || { pl_show; pl_fail "* with credentials: origin not echoed"; }
	pl_hdr Vary | grep -qi origin || { pl_show; pl_fail "an echoed origin without Vary: Origin"; }
	CGI_CONF=$BATS_TEST_TMPDIR/cred.conf
	pl_write_test_conf "$CGI_CONF" "$PL_DB" 'cors_origins=https://a.example, https://b.example' 'cors_credentials=on'
	CGI_ENV=(HTTP_ORIGIN=https://b.example)
	pl_cgi_req poll GET "topic=/x"
	[ "$(pl_hdr Access-Control-Allow-Origin)" = https://b.example ] || { pl_show; pl_fail "comma-separated list: no ACAO for b"; }
	pl_hdr Access-Control-Allow-Credentials | grep -qi true || { pl_show; pl_fail "no credentials"; }
	CGI_ENV=(HTTP_ORIGIN=https://c.example)
	pl_cgi_req poll GET "topic=/x"
	! pl_hdr Access-Control-Allow-Origin >/dev/null || { pl_show; pl_fail "ACAO for an unlisted origin"; }
}

@test "a listed origin gets Access-Control-Allow-Origin on streams (sse, ndjson, js) and on held long polls" {
	T=$(pl_topic)
	# a message to send at once: a stream's head may wait for its first
	# body bytes (Apache), and mod_fcgid may start a process first
	pl_pub "$T" x
	# the three streams at once: each is held until curl gives up
	pids=()
	for fmt in sse ndjson js; do
		curl -sS -N --max-time 4 -D "$BATS_TEST_TMPDIR/h.$fmt" -o /dev/null -H "Origin: $PL_ORIGIN" \
			"$PL_URL/push/stream?topic=$T&format=$fmt&since=all" 3>&- &
		pids+=($!)
	done
	wait "${pids[@]}" || true
	for fmt in sse ndjson js; do
		h=$BATS_TEST_TMPDIR/h.$fmt
		HEADERS=$h
		grep -q '^HTTP/1.1 200' "$h" || { cat "$h" >&2; pl_fail "$fmt: not 200"; }
		[ "$(pl_hdr Access-Control-Allow-Origin)" = "$PL_ORIGIN" ] || { cat "$h" >&2; pl_fail "$fmt stream: no ACAO"; }
	done
	h=$BATS_TEST_TMPDIR/h.lp
	curl -sS --max-time 5 -D "$h" -o /dev/null -H "Origin: $PL_ORIGIN" "$PL_URL/push/longpoll?topic=$T&timeout=1" 3>&-
	HEADERS=$h
	[ "$(pl_hdr Access-Control-Allow-Origin)" = "$PL_ORIGIN" ] || { cat "$h" >&2; pl_fail "held long poll: no ACAO"; }
}
