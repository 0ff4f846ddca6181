#!/usr/bin/env bats
# SPEC 1, 3, 8: every program works as plain CGI (one request per process);
# config switches that need a config of their own are tested here, on the
# same database as the server.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

alt_conf() {  # alt_conf KEY=VALUE...: CGI_CONF with those settings
	CGI_CONF=$BATS_TEST_TMPDIR/alt.conf
	pl_write_test_conf "$CGI_CONF" "$PL_DB" "$@"
}

@test "publish as plain CGI: Status 201, JSON reply, visible to the server's poll" {
	T=$(pl_topic)
	CGI_ENV=(CONTENT_TYPE=text/plain "HTTP_AUTHORIZATION=Bearer $PL_PUB_TOKEN")
	pl_cgi_req publish POST "topic=$T" 'from cgi'
	pl_expect_status 201
	pl_expect_ctype application/json
	id=$(pl_json .id)
	pl_poll "topic=$T&since=all"
	pl_jq_true --argjson id "$id" '[.messages[].id] == [$id] and .messages[0].data == "from cgi"'
}

@test "poll and health as plain CGI" {
	T=$(pl_topic)
	pl_pub "$T" x
	pl_cgi_req poll GET "topic=$T&since=all"
	pl_expect_status 200
	pl_jq_true --argjson id "$PUB_ID" '[.messages[].id] == [$id]'
	pl_expect_no_store
	pl_cgi_req admin GET "/push/health"
	pl_expect_status 200
}

@test "admin as plain CGI" {
	CGI_ENV=("HTTP_AUTHORIZATION=Bearer $PL_ADMIN_TOKEN")
	pl_cgi_req admin GET "/push/admin/stats"
	pl_expect_status 200
	pl_jq_true 'has("rows")'
	CGI_ENV=()
	pl_cgi_req admin GET "/push/admin/stats"
	pl_expect_error 401
}

@test "any mount works: programs route by REQUEST_URI" {
	T=$(pl_topic)
	pl_pub "$T" mounted
	pl_cgi_req poll GET "/api/v2/poll?topic=$T&since=all"
	pl_expect_status 200
	pl_jq_true '.messages[0].data == "mounted"'
	CGI_ENV=("HTTP_AUTHORIZATION=Bearer $PL_ADMIN_TOKEN")
	pl_cgi_req admin GET "/api/v2/admin/messages/$PUB_ID"
	pl_expect_status 200
	pl_jq_true '.data == "mounted"'
	# a cgi-bin install with an extension: /cgi-bin/admin.cgi/stats
	pl_cgi_req admin GET "/cgi-bin/admin.cgi/messages/$PUB_ID"
	pl_expect_status 200
	pl_jq_true '.data == "mounted"'
	pl_cgi_req admin GET "/cgi-bin/admin.cgi/stats"
	pl_expect_status 200
	pl_jq_true 'has("rows")'
	pl_cgi_req admin GET "/cgi-bin/admin.cgi"
	pl_expect_error 404
	pl_cgi_req admin GET "/cgi-bin/adminx/stats"
	pl_expect_error 404
	CGI_ENV=()
	pl_cgi_req poll GET "/cgi-bin/poll.cgi?topic=$T&since=all"
	pl_expect_status 200
	pl_jq_true '.messages[0].data == "mounted"'
}

@test "errors as plain CGI: Status line and JSON body; nothing stored" {
	T=$(pl_topic)
	CGI_ENV=(CONTENT_TYPE=application/json "HTTP_AUTHORIZATION=Bearer $PL_PUB_TOKEN")
	pl_cgi_req publish POST "topic=$T" '{broken'
	pl_expect_error 400
	CGI_ENV=(CONTENT_TYPE=text/plain)
	pl_cgi_req publish POST "topic=$T" 'no token'
	pl_expect_error 401
	pl_cgi_req poll GET "topic=$T/../x"
	pl_expect_error 400
	pl_expect_nothing_stored "$T"
}

@test "a body that ends before its CONTENT_LENGTH (client gone mid-upload) is a 400; nothing stored" {
	T=$(pl_topic)
	CGI_ENV=(CONTENT_TYPE=text/plain "HTTP_AUTHORIZATION=Bearer $PL_PUB_TOKEN" CONTENT_LENGTH=50)
	pl_cgi_req publish POST "topic=$T" 'only part of it'
	pl_expect_error 400
	CGI_ENV=(CONTENT_TYPE=application/json "HTTP_AUTHORIZATION=Bearer $PL_PUB_TOKEN" CONTENT_LENGTH=40)
	pl_cgi_req publish POST "topic=$T" '{"a":1}'
	pl_expect_error 400
	CGI_ENV=(CONTENT_TYPE=text/plain "HTTP_AUTHORIZATION=Bearer $PL_PUB_TOKEN" CONTENT_LENGTH=-1)
	pl_cgi_req publish POST "topic=$T" 'x'
	pl_expect_error 400
	pl_expect_nothing_stored "$T"
	CGI_ENV=(CONTENT_TYPE=text/plain "HTTP_AUTHORIZATION=Bearer $PL_PUB_TOKEN")
	pl_cgi_req publish POST "topic=$T" 'whole'
	pl_expect_status 201
}

@test "publish_get = on: GET /push/publish?topic=&data=&token= publishes; without a token 401" {
	T=$(pl_topic)
	alt_conf publish_get=on
	pl_cgi_req publish GET "topic=$T&data=via%20get&type=g&token=$PL_PUB_TOKEN"
	pl_expect_status 201
	pl_stored "$T"
	pl_msg_true '.data == "via get" and .type == "g"'
	pl_cgi_req publish GET "topic=$T&data=x"
	pl_expect_error 401
	pl_cgi_req publish GET "topic=$T&data=x&token=wrong"
	pl_expect_error 401
	CGI_CONF=
	pl_cgi_req publish GET "topic=$T&data=x&token=$PL_PUB_TOKEN"
	pl_expect_error 405
	[ "$(pl_count_topic "$T")" = 1 ]
}

@test "trust_remote_user = on: REMOTE_USER may publish without a token; off: it may not" {
	T=$(pl_topic)
	CGI_ENV=(CONTENT_TYPE=text/plain REMOTE_USER=operator AUTH_TYPE=Basic)
	pl_cgi_req publish POST "topic=$T" 'by remote user'
	pl_expect_error 401
	alt_conf trust_remote_user=on
	pl_cgi_req publish POST "topic=$T" 'by remote user'
	pl_expect_status 201
	# the web server's Basic credentials come along (CGIPassAuth On): still
	# the web server's user, not a refused token
	basic="HTTP_AUTHORIZATION=Basic $(printf 'operator:pw' | base64 -w0)"
	CGI_ENV=(CONTENT_TYPE=text/plain REMOTE_USER=operator AUTH_TYPE=Basic "$basic")
	pl_cgi_req publish POST "topic=$T" 'by remote user, with Basic'
	pl_expect_status 201
	CGI_ENV=(CONTENT_TYPE=text/plain)
	pl_cgi_req publish POST "topic=$T" 'nobody'
	pl_expect_error 401
	[ "$(pl_count_topic "$T")" = 2 ]
}

@test "trust_remote_user = on: another site's page cannot publish on the visitor's login (403), this site's and a script can" {
	T=$(pl_topic)
	alt_conf trust_remote_user=on
	for env in "HTTP_SEC_FETCH_SITE=cross-site HTTP_ORIGIN=https://evil.example" \
		   "HTTP_ORIGIN=https://evil.example" "HTTP_ORIGIN=null" \
		   "HTTP_SEC_FETCH_SITE=same-site HTTP_ORIGIN=https://www.push.example" \
		   "HTTP_REFERER=https://evil.example/form"; do
		# shellcheck disable=SC2206
		CGI_ENV=(CONTENT_TYPE=application/x-www-form-urlencoded REMOTE_USER=victim HTTP_HOST=push.example:8080 $env)
		pl_cgi_req publish POST "" "topic=$T&user=alice&data=forged"
		pl_expect_error 403 || pl_fail "$env"
	done
	[ "$(pl_count_topic "$T")" = 0 ] || pl_fail "a forged publish was stored"
	for env in "HTTP_SEC_FETCH_SITE=same-origin HTTP_ORIGIN=http://push.example:8080" \
		   "HTTP_ORIGIN=http://Push.Example:8080" "HTTP_REFERER=http://push.example:8080/app" X_NONE=1 \
		   "HTTP_SEC_FETCH_SITE=same-origin HTTP_ORIGIN=null" \
		   "HTTP_SEC_FETCH_SITE=same-origin HTTP_ORIGIN=https://www.push.example"; do
		# shellcheck disable=SC2206
		CGI_ENV=(CONTENT_TYPE=text/plain REMOTE_USER=operator HTTP_HOST=push.example:8080 $env)
		pl_cgi_req publish POST "topic=$T" 'from this site'
		pl_expect_status 201 || pl_fail "$env"
	done
	# the browser's own word (a page cannot forge it) beats an Origin that
	# does not spell Host: a same-origin page with no-referrer sends "null",
	# a proxy may rewrite Host; default ports are the same origin
	for env in "HTTP_HOST=push.example:443 HTTP_ORIGIN=https://push.example" \
		   "HTTP_HOST=push.example HTTP_ORIGIN=http://push.example:80"; do
		# shellcheck disable=SC2206
		CGI_ENV=(CONTENT_TYPE=text/plain REMOTE_USER=operator $env)
		pl_cgi_req publish POST "topic=$T" 'default port'
		pl_expect_status 201 || pl_fail "$env"
	done
	# an origin trusted with credentials by name
	alt_conf trust_remote_user=on 'cors_origins=https://app.example' cors_credentials=on
	CGI_ENV=(CONTENT_TYPE=text/plain REMOTE_USER=operator HTTP_HOST=push.example:8080
		 HTTP_SEC_FETCH_SITE=cross-site HTTP_ORIGIN=https://app.example HTTP_REFERER=https://app.example/x)
	pl_cgi_req publish POST "topic=$T" 'from a trusted partner'
	pl_expect_status 201
	# a token is no ambient credential: from anywhere
	CGI_ENV=(CONTENT_TYPE=text/plain HTTP_SEC_FETCH_SITE=cross-site HTTP_ORIGIN=https://evil.example
		 "HTTP_AUTHORIZATION=Bearer $PL_PUB_TOKEN")
	pl_cgi_req publish POST "topic=$T" 'with a token'
	pl_expect_status 201
	[ "$(pl_count_topic "$T")" = 10 ]
}

@test "Basic credentials beside token=: the token is the credential (publish and admin)" {
	T=$(pl_topic)
	basic="HTTP_AUTHORIZATION=Basic $(printf 'someone:pw' | base64 -w0)"
	CGI_ENV=(CONTENT_TYPE=text/plain "$basic")
	pl_cgi_req publish POST "topic=$T&token=$PL_PUB_TOKEN" 'with basic'
	pl_expect_status 201
	pl_cgi_req admin GET "/push/admin/stats?token=$PL_ADMIN_TOKEN"
	pl_expect_status 200
	pl_cgi_req publish POST "topic=$T" 'no token'
	pl_expect_error 401
	pl_cgi_req admin GET "/push/admin/stats"
	pl_expect_error 401
	[ "$(pl_count_topic "$T")" = 1 ]
}

@test "REMOTE_USER is the subscriber's identity" {
	T=$(pl_topic)
	pl_publish "topic=$T&user=alice" -H 'Content-Type: text/plain' --data-binary for-alice
	pl_expect_status 201
	pl_pub "$T" for-all
	CGI_ENV=(REMOTE_USER=alice)
	pl_cgi_req poll GET "topic=$T&since=all"
	pl_jq_true '[.messages[].data] == ["for-alice","for-all"]'
	CGI_ENV=(REMOTE_USER=bob)
	pl_cgi_req poll GET "topic=$T&since=all"
	pl_jq_true '[.messages[].data] == ["for-all"]'
	# a login name pushlite cannot take (over 128 bytes): 401 that says so,
	# not a word about tokens, which the request did not send
	CGI_ENV=("REMOTE_USER=$(printf 'u%.0s' $(seq 150))")
	pl_cgi_req poll GET "topic=$T&since=all"
	pl_expect_error 401
	pl_jq_true '.message | test("REMOTE_USER") and (test("token") | not)'
}

@test "JSONP that a browser says another site asked for does not carry the web server's user (any site could read it)" {
	T=$(pl_topic)
	pl_publish "topic=$T&user=alice" -H 'Content-Type: text/plain' --data-binary for-alice
	pl_expect_status 201
	pl_pub "$T" for-all
	jsonp_data() { printf '%s' "$BODY" | sed -n 's/^[^(]*cb(\(.*\));[[:space:]]*$/\1/p' | jq -c '[.messages[].data]'; }
	# a script tag on another site: the visitor's login is not the subscriber
	CGI_ENV=(REMOTE_USER=alice HTTP_SEC_FETCH_SITE=cross-site HTTP_REFERER=https://evil.example/page)
	pl_cgi_req poll GET "topic=$T&since=all&format=jsonp&callback=cb"
	[ "$(jsonp_data)" = '["for-all"]' ] || { pl_show; pl_fail "cross-site JSONP carried alice's message"; }
	# the same from the site itself, from an old browser on a page of this
	# host, or from a script (nothing to go on): alice
	for env in HTTP_SEC_FETCH_SITE=same-origin HTTP_SEC_FETCH_SITE=none HTTP_REFERER=http://Push.Example:8080/app X_NONE=1; do
		CGI_ENV=(REMOTE_USER=alice HTTP_HOST=push.example:8080 "$env")
		pl_cgi_req poll GET "topic=$T&since=all&format=jsonp&callback=cb"
		[ "$(jsonp_data)" = '["for-alice","for-all"]' ] || { pl_show; pl_fail "$env: alice's message missing"; }
	done
	# an old browser (no Sec-Fetch-Site) on another site's page, or a
	# sibling host (same-site is another origin): broadcasts only
	for env in HTTP_REFERER=https://evil.example/page HTTP_REFERER=http://push.example.evil.example:8080/ \
		   "HTTP_SEC_FETCH_SITE=same-site HTTP_REFERER=https://www.push.example/"; do
		# shellcheck disable=SC2206
		CGI_ENV=(REMOTE_USER=alice HTTP_HOST=push.example:8080 $env)
		pl_cgi_req poll GET "topic=$T&since=all&format=jsonp&callback=cb"
		[ "$(jsonp_data)" = '["for-all"]' ] || { pl_show; pl_fail "$env: JSONP carried alice's message"; }
	done
	CGI_ENV=(REMOTE_USER=alice HTTP_SEC_FETCH_SITE=cross-site)
	pl_cgi_req poll GET "topic=$T&since=all"
	pl_jq_true '[.messages[].data] == ["for-alice","for-all"]'
	# a token in the URL is no ambient credential: it counts cross-site too
	tok=$(pl_make_token alice $(( $(date +%s) + 600 )))
	CGI_ENV=(HTTP_SEC_FETCH_SITE=cross-site HTTP_REFERER=https://evil.example/page)
	pl_cgi_req poll GET "topic=$T&since=all&format=jsonp&callback=cb&token=$tok"
	[ "$(jsonp_data)" = '["for-alice","for-all"]' ] || { pl_show; pl_fail "token= cross-site: alice's message missing"; }
	# a partner site the config trusts with credentials by name
	alt_conf 'cors_origins=https://app.example' cors_credentials=on
	CGI_ENV=(REMOTE_USER=alice HTTP_SEC_FETCH_SITE=cross-site HTTP_REFERER=https://app.example/inbox)
	pl_cgi_req poll GET "topic=$T&since=all&format=jsonp&callback=cb"
	[ "$(jsonp_data)" = '["for-alice","for-all"]' ] || { pl_show; pl_fail "trusted site: alice's message missing"; }
	CGI_ENV=(REMOTE_USER=alice HTTP_SEC_FETCH_SITE=cross-site HTTP_REFERER=https://app.example.evil.example/)
	pl_cgi_req poll GET "topic=$T&since=all&format=jsonp&callback=cb"
	[ "$(jsonp_data)" = '["for-all"]' ] || { pl_show; pl_fail "a look-alike of the trusted site got alice's message"; }
	# the same trusted site from an old browser (no Sec-Fetch-Site)
	CGI_ENV=(REMOTE_USER=alice HTTP_REFERER=https://app.example/inbox)
	pl_cgi_req poll GET "topic=$T&since=all&format=jsonp&callback=cb"
	[ "$(jsonp_data)" = '["for-alice","for-all"]' ] || { pl_show; pl_fail "trusted site, old browser: alice's message missing"; }
}

@test "publishing is closed when no token is configured and REMOTE_USER is not trusted" {
	T=$(pl_topic)
	CGI_CONF=$BATS_TEST_TMPDIR/closed.conf
	printf '[pushlite]\ndatabase = %s\nsecret = %s\n' "$PL_DB" "$PL_SECRET" >"$CGI_CONF"
	CGI_ENV=(CONTENT_TYPE=text/plain)
	pl_cgi_req publish POST "topic=$T" 'open?'
	pl_expect_status 401 403
	CGI_ENV=(CONTENT_TYPE=text/plain REMOTE_USER=someone "HTTP_AUTHORIZATION=Bearer anything")
	pl_cgi_req publish POST "topic=$T" 'open?'
	pl_expect_status 401 403
	pl_expect_nothing_stored "$T"
}

@test "a minimal config gets the documented defaults (TTL 3d, max_body 1 MiB)" {
	T=$(pl_topic)
	CGI_CONF=$BATS_TEST_TMPDIR/min.conf
	printf '[pushlite]\ndatabase = %s\n\n[token p]\ntoken = %s\n' "$PL_DB" "$PL_PUB_TOKEN" >"$CGI_CONF"
	CGI_ENV=(CONTENT_TYPE=text/plain "HTTP_AUTHORIZATION=Bearer $PL_PUB_TOKEN")
	pl_cgi_req publish POST "topic=$T" 'defaults'
	pl_expect_status 201
	pl_jq_true '.expires - .created == 259200000'
	big=$(head -c 1048577 /dev/zero | tr '\0' a)
	pl_cgi_req publish POST "topic=$T/big" "$big"
	pl_expect_error 413
}

@test "a bad or missing config file is a clear error, not a guess" {
	T=$(pl_topic)
	for c in "max_body = lots" "longpoll_timeout = -3" "push = maybe" "database" "[token x]
role = god"; do
		CGI_CONF=$BATS_TEST_TMPDIR/bad.conf
		printf '[pushlite]\ndatabase = %s\n%s\n' "$PL_DB" "$c" >"$CGI_CONF"
		CGI_ENV=(CONTENT_TYPE=text/plain "HTTP_AUTHORIZATION=Bearer $PL_PUB_TOKEN")
		pl_cgi_req publish POST "topic=$T" x || true
		[[ "$HTTP_STATUS" == 5* ]] || { pl_show; pl_fail "config '$c' gave $HTTP_STATUS"; }
		[ -s "$BATS_TEST_TMPDIR/cgi.err" ] || pl_fail "config '$c': nothing on stderr"
		# for the operator: file and line of the config, not of our source
		grep -q "error: configuration: $CGI_CONF:" "$BATS_TEST_TMPDIR/cgi.err" &&
			! grep -Eq '\([a-z_/]+\.c:[0-9]+\)' "$BATS_TEST_TMPDIR/cgi.err" ||
			pl_fail "config '$c': $(cat "$BATS_TEST_TMPDIR/cgi.err")"
	done
	# In the format asked for, as every error (SPEC 7)
	pl_cgi_req publish POST "topic=$T&format=xml" x || true
	[ "$HTTP_STATUS" = 500 ] || { pl_show; pl_fail "bad config, XML asked: $HTTP_STATUS"; }
	printf '%s' "$BODY" | xmllint --xpath 'string(/error/@code)' - 2>/dev/null | grep -qx config ||
		{ pl_show; pl_fail "bad config: no <error code=\"config\">"; }
	pl_cgi_req poll GET "topic=$T&format=jsonp&callback=cb" || true
	[ "$HTTP_STATUS" = 200 ] || { pl_show; pl_fail "bad config, JSONP asked: $HTTP_STATUS"; }
	[[ $BODY == '/**/cb({'*'"error":"config"'* ]] || { pl_show; pl_fail "bad config: not JSONP with the error inside"; }
	CGI_CONF=/nonexistent-dir/pushlite.conf
	pl_cgi_req poll GET "topic=$T" || true
	[[ "$HTTP_STATUS" == 5* ]] || { pl_show; pl_fail "missing config gave $HTTP_STATUS"; }
	grep -q nonexistent-dir "$BATS_TEST_TMPDIR/cgi.err" || pl_fail "the error does not name the file: $(cat "$BATS_TEST_TMPDIR/cgi.err")"
	pl_expect_nothing_stored "$T"
}

@test "storage unavailable: 503 with Retry-After and a JSON error" {
	T=$(pl_topic)
	CGI_CONF=$BATS_TEST_TMPDIR/nodb.conf
	pl_write_test_conf "$CGI_CONF" /nonexistent-dir/pushlite.db
	CGI_ENV=(CONTENT_TYPE=text/plain "HTTP_AUTHORIZATION=Bearer $PL_PUB_TOKEN")
	pl_cgi_req publish POST "topic=$T" x
	pl_expect_error 503
	pl_hdr Retry-After >/dev/null || { pl_show; pl_fail "no Retry-After"; }
	# SQLite's own words ("unable to open database file") say neither what
	# nor where: the log line names the directory.
	grep -q 'directory /nonexistent-dir does not exist$' "$BATS_TEST_TMPDIR/cgi.err" ||
		pl_fail "the log does not name the missing directory (alone): $(cat "$BATS_TEST_TMPDIR/cgi.err")"
	CGI_ENV=()
	pl_cgi_req poll GET "topic=$T"
	pl_expect_error 503
}

@test "push = off: publish and poll keep working (plain CGI)" {
	T=$(pl_topic)
	alt_conf push=off
	CGI_ENV=(CONTENT_TYPE=text/plain "HTTP_AUTHORIZATION=Bearer $PL_PUB_TOKEN")
	pl_cgi_req publish POST "topic=$T" 'still works'
	pl_expect_status 201
	CGI_ENV=()
	pl_cgi_req poll GET "topic=$T&since=all"
	pl_expect_status 200
	pl_jq_true '.messages[0].data == "still works"'
}

@test "longpoll: the timeout runs from when the web server received the request (X-Pushlite-Start), not from when the program got it" {
	pl_need longpoll
	T=$(pl_topic)
	t0=$(pl_now_ms)
	# Apache's configs set the header; 2.5 s ago: mod_fcgid was slow to start a process.
	CGI_ENV=("HTTP_X_PUSHLITE_START=t=$(( (t0 - 2500) * 1000 ))")
	pl_cgi_req longpoll GET "topic=$T&timeout=3"
	el=$(( $(pl_now_ms) - t0 ))
	pl_expect_status 200
	pl_jq_true '.messages == []'
	(( el >= 300 && el < 2000 )) || pl_fail "timeout=3, asked 2.5 s before: answered after $el ms"
}

@test "every program run by hand from a shell says what it is, exit 2, and prints no HTTP answer" {
	for prog in publish poll longpoll stream admin; do
		run env -i PATH="$PATH" PUSHLITE_CONF="$PL_CONF" "$PL_BIN/$prog" --help </dev/null
		[ "$status" = 2 ] || pl_fail "$prog: exit status $status, output: $output"
		[[ "$output" == "This is a FastCGI/CGI program: run it from a web server"* ]] ||
			pl_fail "$prog printed: $output"
		[[ "$output" != *Status:* ]] || pl_fail "$prog printed an HTTP answer: $output"
	done
}

@test "a file-size limit (ulimit -f) met by a plain CGI publish: 503 with Retry-After and a JSON error, nothing stored, no killed program" {
	T=$(pl_topic)
	db=$BATS_TEST_TMPDIR/fsize.db
	CGI_CONF=$BATS_TEST_TMPDIR/fsize.conf
	pl_write_test_conf "$CGI_CONF" "$db"
	"$PL_TOOLS/pushlite" --conf "$CGI_CONF" init >/dev/null
	big=$(head -c 400000 /dev/zero | tr '\0' x)
	CGI_ENV=(CONTENT_TYPE=text/plain "HTTP_AUTHORIZATION=Bearer $PL_PUB_TOKEN")
	# 200 KiB: the message cannot reach the -wal. The limit holds in the
	# subshell only; what pl_cgi_req sets is read back from its files.
	( ulimit -f 200; pl_cgi_req publish POST "topic=$T" "$big" )
	HEADERS=$BATS_TEST_TMPDIR/headers
	HTTP_STATUS=$(awk 'tolower($1) == "status:" { print $2; exit }' "$HEADERS")
	BODY=$(awk 'h { print; next } { sub(/\r$/, "") } /^$/ { h = 1 }' "$BATS_TEST_TMPDIR/cgi.raw")
	pl_expect_error 503
	pl_hdr Retry-After >/dev/null || { pl_show; pl_fail "no Retry-After"; }
	[ "$(sqlite3 "$db" 'SELECT count(*) FROM messages')" = 0 ] || pl_fail "a message was stored"
	# Without the limit the same database takes it.
	pl_cgi_req publish POST "topic=$T" "$big"
	pl_expect_status 201
}
