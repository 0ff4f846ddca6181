#!/usr/bin/env bats
# SPEC 1, 4: every program as plain CGI behind Apache's mod_cgid, set up as
# docs/deploy.md 4e says, on a host whose global mod_deflate compresses XML
# and JavaScript (Debian's deflate.conf). Runs in the apache pass, with a
# server of its own; a process per request, so few requests.

load helper

setup_file() {
	[ "$PL_SERVER" = apache ] || return 0
	# Keep-alive writes every 3 s (the default): what must come at once
	# has to come sooner.
	PL_SERVER=apache-cgi pl_setup_server longpoll_keepalive=3 stream_max_time=60
}
teardown_file() { pl_teardown_server; }

setup() {
	[ "$PL_SERVER" = apache ] || skip "starts an Apache with mod_cgid of its own, in the apache pass"
	pl_need publish poll longpoll stream admin
}

@test "CGI behind Apache: publish, poll, admin and health answer as under FastCGI" {
	pl_pub /cgi/a hello
	pl_poll "topic=/cgi&since=all"
	pl_expect_status 200
	pl_jq_true '[.messages[].data] == ["hello"]'
	pl_get /push/health
	pl_expect_status 200
	pl_admin GET /push/admin/stats
	pl_expect_status 200
	pl_jq_true '.rows >= 1'
	pl_publish "topic=/cgi/a" -H 'Content-Type: application/json' --data-binary '{"a":'
	pl_expect_error 400
}

@test "CGI behind Apache: a held long poll wakes at once on a publish" {
	local p out=$BATS_TEST_TMPDIR/lp
	curl -sS -g --max-time 8 -o "$out" "$PL_URL/push/longpoll?topic=/cgi/lp&timeout=30" 3>&- &
	p=$!
	wait_for 10 waiting_ge 1 || pl_fail "the long poll is not held"
	pl_pub /cgi/lp woke
	wait "$p" || pl_fail "no answer within 8 s of a 30 s long poll (curl failed)"
	BODY=$(cat "$out")
	pl_jq_true '[.messages[].data] == ["woke"]'
}

@test "CGI behind Apache: each stream format carries a message the moment it is published" {
	local f out p
	for f in sse ndjson js xml jsonp; do
		out=$BATS_TEST_TMPDIR/stream.$f
		curl -sS -g -N --max-time 20 -o "$out" \
			"$PL_URL/push/stream?topic=/cgi/s$f&format=$f&callback=cb" 3>&- &
		p=$!
		wait_for 10 waiting_ge 1 || pl_fail "$f: the stream is not held"
		pl_pub "/cgi/s$f" "now-$f"
		wait_for 2 grep -q "now-$f" "$out" ||
			{ kill "$p"; pl_fail "$f: the message did not arrive within 2 s: $(head -c 300 "$out")"; }
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null || true   # killed: 143
		wait_for 10 waiting_le 0 || pl_fail "$f: the stream's place was not freed"
	done
}

@test "CGI behind Apache: a held XML or JSONP long poll sends its head at once, and a client that leaves frees its place" {
	local f hdr
	for f in xml jsonp; do
		hdr=$BATS_TEST_TMPDIR/head.$f
		# curl gives up after 2 s of a 30 s long poll: the head came before
		# (held back, it would come with the first blank, at 3 s).
		curl -sS -g -N --max-time 2 -D "$hdr" -o /dev/null \
			"$PL_URL/push/longpoll?topic=/cgi/h$f&timeout=30&format=$f&callback=cb" 3>&- 2>/dev/null || true
		grep -q '^HTTP/1.1 200' "$hdr" || pl_fail "$f: no head within 2 s: $(cat "$hdr")"
		wait_for 10 waiting_le 0 || pl_fail "$f: the long poll's place was not freed after its client left"
	done
}

# A program that answers without reading a body Apache is still writing
# to it makes Apache drop the answer (AH02651: Broken pipe): the client got
# no reply at all, most of the time.
@test "CGI behind Apache: a body over max_body gets its 413 every time, with a length or chunked" {
	local big=$BATS_TEST_TMPDIR/big i
	head -c 16777216 /dev/zero | tr '\0' a >"$big"
	for i in 1 2 3; do
		pl_publish "topic=/cgi/big" -H 'Content-Type: text/plain' -H 'Expect:' --data-binary "@$big"
		pl_expect_error 413
		pl_publish "topic=/cgi/big" -H 'Content-Type: text/plain' -H 'Transfer-Encoding: chunked' --data-binary "@$big"
		pl_expect_error 413
	done
	# one byte over the limit (1 MiB here), both ways
	head -c $((1024 * 1024 + 1)) "$big" >"$big.1"
	pl_publish "topic=/cgi/big" -H 'Content-Type: text/plain' --data-binary "@$big.1"
	pl_expect_error 413
	pl_publish "topic=/cgi/big" -H 'Content-Type: text/plain' -H 'Transfer-Encoding: chunked' --data-binary "@$big.1"
	pl_expect_error 413
	[ "$(pl_count_topic /cgi/big)" = 0 ] || pl_fail "a refused body was stored"
}

@test "CGI behind Apache: a declared length far over the limits is a JSON 413 at once, before any body is read" {
	# mod_cgid hands the body to the program before it reads the answer: a
	# declared length the client never sends would hold the request until
	# Apache's Timeout, unless refused before.
	for len in 100000000 10000000000; do
		pl_req POST "/push/publish?topic=/cgi/decl" -H "Authorization: Bearer $PL_PUB_TOKEN" \
			-H 'Content-Type: text/plain' -H "Content-Length: $len" --data-binary x --max-time 10
		pl_expect_error 413 || pl_fail "declared length $len"
	done
	[ "$(pl_count_topic /cgi/decl)" = 0 ] || pl_fail "stored"
}

# Apache passes a chunked body to a CGI program without CONTENT_LENGTH.
@test "CGI behind Apache: a chunked body is read whole (text, JSON, a batch, an admin form)" {
	pl_publish "topic=/cgi/ch" -H 'Content-Type: text/plain' -H 'Transfer-Encoding: chunked' --data-binary chunky
	pl_expect_status 201
	pl_publish "topic=/cgi/ch" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary '{"n":1}'
	pl_expect_status 201
	id=$(pl_json .id)
	printf '%s\n' '{"data":"b1"}' '{"data":"b2"}' >"$BATS_TEST_TMPDIR/batch"
	pl_publish "topic=/cgi/ch" -H 'Content-Type: application/x-ndjson' -H 'Transfer-Encoding: chunked' \
		--data-binary "@$BATS_TEST_TMPDIR/batch"
	pl_expect_status 201
	pl_poll "topic=/cgi/ch&since=all"
	pl_jq_true '[.messages[].data] == ["chunky", {"n":1}, "b1", "b2"]'
	pl_admin POST "/push/admin/messages/$id" -H 'Transfer-Encoding: chunked' --data-binary '_method=DELETE'
	pl_expect_status 204
	pl_poll "topic=/cgi/ch&since=all"
	pl_jq_true '[.messages[].data] == ["chunky", "b1", "b2"]'
}

@test "CGI behind Apache: a transfer coding besides chunked gets the program's 501, in the asked format" {
	pl_publish "topic=/cgi/te" -H 'Content-Type: text/plain' -H 'Transfer-Encoding: gzip, chunked' --data-binary hello
	pl_expect_error 501
	pl_publish "topic=/cgi/te&format=xml" -H 'Content-Type: text/plain' -H 'Transfer-Encoding: foo, chunked' \
		--data-binary hello
	[ "$HTTP_STATUS" = 501 ] && [[ $BODY == *'<error code="not_implemented">'* ]] || { pl_show; pl_fail "XML 501"; }
	pl_poll "topic=/cgi/te&since=all"
	pl_jq_true '.messages == []' || pl_fail "stored: $BODY"
}

# The program's answer, not the server-wide ErrorDocument (JSON too): it
# speaks the asked format.
@test "CGI behind Apache: any other path under /push/ is the admin program's 404, in the asked format" {
	for p in /push/pollx /push/ /push/healthx /push/poll.fcgi /push/nothing/here; do
		pl_get "$p"
		pl_expect_error 404
		pl_expect_no_store
		pl_get "$p?format=xml"
		pl_expect_status 404
		printf '%s' "$BODY" | xmllint --xpath 'string(/error/@code)' - 2>/dev/null | grep -qx not_found ||
			{ pl_show; pl_fail "$p: not the program's XML 404"; }
	done
}
