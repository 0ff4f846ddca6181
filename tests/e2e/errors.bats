#!/usr/bin/env bats
# SPEC 7: every error is {"error","message"} with the right status; bad
# input never stores anything, never crashes a program, never gives 5xx.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

# expect_table: lines "STATUS METHOD PATH [CURL-ARGS...]" (eval'd)
run_table() {
	local line want method path fails=0
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		eval "set -- $line"
		want=$1 method=$2 path=$3
		shift 3
		pl_req "$method" "$path" "$@"
		pl_expect_error "$want" 2>"$BATS_TEST_TMPDIR/why" ||
			{ echo "== $line" >&2; cat "$BATS_TEST_TMPDIR/why" >&2; fails=$((fails + 1)); }
	done
	[ "$fails" = 0 ]
}

@test "bad publishes, each with its status and a JSON error; nothing at all is stored" {
	before=$(pl_stat last_id)
	rows=$(pl_stat rows)
	A="-H 'Authorization: Bearer $PL_PUB_TOKEN'"
	run_table <<TABLE
400 POST '/push/publish?topic=/e/a/../b' $A -H 'Content-Type: text/plain' --data-binary x
400 POST '/push/publish?topic=e' $A -H 'Content-Type: text/plain' --data-binary x
400 POST '/push/publish?topic=/e&ttl=forever' $A -H 'Content-Type: text/plain' --data-binary x
400 POST '/push/publish?topic=/e&clients=Bad!' $A -H 'Content-Type: text/plain' --data-binary x
400 POST '/push/publish?topic=/e' $A -H 'Content-Type: application/json' --data-binary '{"a":'
400 POST '/push/publish?topic=/e' $A -H 'Content-Type: application/x-ndjson' --data-binary 'not json'
401 POST '/push/publish?topic=/e' -H 'Content-Type: text/plain' --data-binary x
401 POST '/push/publish?topic=/e' -H 'Authorization: Bearer nope' -H 'Content-Type: text/plain' --data-binary x
403 POST '/push/publish?topic=/e' -H 'Authorization: Bearer $PL_OPS_TOKEN' -H 'Content-Type: text/plain' --data-binary x
405 PUT '/push/publish?topic=/e' $A -H 'Content-Type: text/plain' --data-binary x
405 DELETE '/push/publish?topic=/e' $A
415 POST '/push/publish?topic=/e' $A -H 'Content-Type: application/xml' --data-binary '<x/>'
TABLE
	[ "$(pl_stat last_id)" = "$before" ] || pl_fail "newest_id moved"
	[ "$(pl_stat rows)" = "$rows" ] || pl_fail "rows changed"
	pl_expect_nothing_stored /e
}

@test "bad subscriber requests, each with its status and a JSON error" {
	run_table <<TABLE
400 GET '/push/poll'
400 GET '/push/poll?topic=/e&since=yesterday'
400 GET '/push/poll?topic=/e&limit=5000'
400 GET '/push/poll?topic=/e&format=csv'
400 GET '/push/poll?topic=/e&client=NOT%20OK'
401 GET '/push/poll?topic=/e&token=v1.x.1.y'
405 POST '/push/poll?topic=/e' --data-binary x
401 GET '/push/admin/stats'
403 GET '/push/admin/stats' -H 'Authorization: Bearer $PL_PUB_TOKEN'
404 GET '/push/admin/messages/987654321' -H 'Authorization: Bearer $PL_ADMIN_TOKEN'
TABLE
}

@test "a subscription parameter given twice with two values is a 400 naming it, in the asked format; the same value twice is that value" {
	T=$(pl_topic)
	pl_pub "$T" one; one=$PUB_ID
	pl_pub "$T" two; two=$PUB_ID
	for ep in poll longpoll stream; do
		for q in "since=$one&since=0" "limit=1&limit=2" "client=pc&client=ios" "type=a&type=b" \
			"last_event_id=1&last_event_id=2"; do
			pl_get "/push/$ep?topic=$T&$q&format=ndjson"
			[ "$ep" = stream ] || pl_get "/push/$ep?topic=$T&$q&timeout=0"
			pl_expect_error 400 || pl_fail "$ep $q"
			[[ $(pl_json .message) == *"${q%%=*}="*twice* ]] || { pl_show; pl_fail "$ep $q: the message does not name it"; }
		done
		pl_get "/push/$ep?topic=$T&since=1&since=2&format=xml"
		pl_expect_status 400
		printf '%s' "$BODY" | xmllint --xpath 'string(/error/@code)' - 2>/dev/null | grep -qx bad_request ||
			{ pl_show; pl_fail "$ep: not an XML 400"; }
		pl_get "/push/$ep?topic=$T&format=xml&format=json"
		pl_expect_error 400
		pl_get "/push/$ep?topic=$T&format=jsonp&callback=a&callback=b"
		pl_expect_error 400
	done
	pl_get "/push/poll?topic=$T&since=1&since=2&format=jsonp&callback=cb"
	pl_expect_status 200
	[[ $BODY == '/**/cb({'*'"error":"bad_request"'* ]] || { pl_show; pl_fail "JSONP: not the 400 inside"; }
	pl_get "/push/longpoll?topic=$T&timeout=0&timeout=5"
	pl_expect_error 400
	# the same value twice, topics repeated: as given once
	pl_get "/push/poll?topic=$T&topic=$T&since=$one&since=$one&limit=5&limit=5&format=json&format=json"
	pl_expect_status 200
	[ "$(pl_ids)" = "$two" ] || { pl_show; pl_fail "same value twice: $(pl_ids)"; }
}

@test "publish, admin and health refuse format, callback, token and _method given twice with two values, as poll does; nothing stored or deleted" {
	T=$(pl_topic)
	for q in "format=xml&format=json" "format=jsonp&callback=a&callback=b"; do
		pl_publish "topic=$T&$q" -H 'Content-Type: text/plain' --data-binary x
		pl_expect_error 400 || pl_fail "publish $q"
		[[ $(pl_json .message) == *"twice"* ]] || { pl_show; pl_fail "publish $q: the message does not say so"; }
		for p in /push/admin/stats "/push/admin/messages/1" /push/health; do
			pl_admin GET "$p?$q"
			pl_expect_error 400 || pl_fail "$p $q"
		done
	done
	pl_req POST "/push/publish?topic=$T&token=$PL_PUB_TOKEN&token=nope" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_error 400
	[[ $(pl_json .message) == *"token="*twice* ]] || { pl_show; pl_fail "publish: the message does not name token="; }
	pl_req GET "/push/admin/stats?token=$PL_ADMIN_TOKEN&token=nope"
	pl_expect_error 400
	[ "$(pl_count_topic "$T")" = 0 ] || pl_fail "a refused publish stored a message"
	# _method=DELETE&_method=GET: deleting on the first would be a guess
	pl_pub "$T" keep
	pl_admin POST "/push/admin/messages?topic=$T&_method=DELETE&_method=GET" -d ''
	pl_expect_error 400
	pl_admin POST "/push/admin/messages?topic=$T" -d '_method=DELETE&_method=GET'
	pl_expect_error 400
	[ "$(pl_count_topic "$T")" = 1 ] || pl_fail "a refused delete deleted"
	# the same value twice is that value
	pl_publish "topic=$T&format=json&format=json&token=$PL_PUB_TOKEN&token=$PL_PUB_TOKEN" \
		-H 'Content-Type: text/plain' --data-binary y
	pl_expect_status 201
	pl_get "/push/health?format=xml&format=xml"
	pl_expect_status 200
	pl_expect_ctype application/xml
	pl_admin POST "/push/admin/messages?topic=$T&_method=DELETE&_method=DELETE" -d ''
	pl_expect_status 200
	pl_jq_true '.deleted == 2'
}

@test "a wrong method on poll, longpoll and stream is refused in the asked format" {
	for p in poll longpoll stream; do
		pl_req POST "/push/$p?topic=/e&format=xml" --data-binary x
		pl_expect_status 405
		printf '%s' "$BODY" | xmllint --xpath 'string(/error/@code)' - 2>/dev/null | grep -qx method_not_allowed ||
			{ pl_show; pl_fail "$p: 405 as XML: no <error code=\"method_not_allowed\">"; }
		pl_req POST "/push/$p?topic=/e&format=jsonp&callback=cb" --data-binary x
		pl_expect_status 200
		[[ $BODY == '/**/cb({'*'"error":"method_not_allowed"'* ]] || { pl_show; pl_fail "$p: 405 as JSONP: not 200 with the error inside"; }
		pl_req POST "/push/$p?topic=/e" --data-binary x
		pl_expect_error 405
	done
}

@test "errors carry Cache-Control: no-store" {
	pl_poll "topic=bad"
	pl_expect_no_store
	pl_publish "topic=/e" -H 'Content-Type: application/xml' --data-binary x
	pl_expect_no_store
	pl_get /push/admin/stats
	pl_expect_no_store
}

@test "garbage query strings never give 5xx and never crash a program" {
	long=$(head -c 60000 /dev/zero | tr '\0' a)
	many=$(for i in $(seq 1 500); do printf 'topic=/m%d&' "$i"; done)
	for q in '%' '%%' '%zz=%zz' '&&&&' '=' 'topic' 'topic=%2' 'topic=/a%00' "topic=/$long" "x=$long" \
		"${many}since=all" 'topic=/a&since=%ff%fe' 'topic[]=/a' 'topic=/a;since=1' "topic=/a&callback=$long&format=jsonp"; do
		for p in poll publish admin/messages; do
			pl_req GET "/push/$p?$q"
			case $HTTP_STATUS in
			5*|000) pl_show; pl_fail "/push/$p?${q:0:80}: status $HTTP_STATUS" ;;
			esac
		done
	done
	# everything still answers
	pl_get /push/health
	pl_expect_status 200
	pl_poll "topic=/still&since=all"
	pl_expect_status 200
}

@test "garbage headers and bodies never give 5xx" {
	# a TTL of 5,000 digits is a very long one: capped at max_ttl
	pl_publish "topic=/g" -H 'Content-Type: text/plain' -H "X-TTL: $(head -c 5000 /dev/zero | tr '\0' 9)" --data-binary x
	pl_expect_status 201
	[ "$(pl_json '.expires - .created')" = 2592000000 ] || { pl_show; pl_fail "a huge TTL was not capped at 30 d"; }
	pl_publish "topic=/g" -H 'Content-Type: text/plain' -H "X-TTL: $(head -c 5000 /dev/zero | tr '\0' 9)x" --data-binary x
	pl_expect_error 400
	pl_publish "topic=/g" -H 'Content-Type: application/x-ndjson' --data-binary $'\n\n\n'
	case $HTTP_STATUS in 201|400) ;; *) pl_show; pl_fail "empty batch: $HTTP_STATUS" ;; esac
	printf '{"topic":"/g","data":%s}\n' "$(head -c 3000 /dev/zero | tr '\0' '[')" >"$BATS_TEST_TMPDIR/deep"
	pl_publish "" -H 'Content-Type: application/x-ndjson' --data-binary "@$BATS_TEST_TMPDIR/deep"
	pl_expect_error 400
	pl_publish "topic=/g" -H 'Content-Type: application/json' --data-binary "$(head -c 100000 /dev/zero | tr '\0' '[')"
	pl_expect_error 400
	pl_poll "topic=/g" -H "Last-Event-ID: $(head -c 3000 /dev/zero | tr '\0' 1)"
	pl_expect_error 400
	pl_poll "topic=/g" -H 'Last-Event-ID: abc'
	pl_expect_error 400
	pl_get /push/health
	pl_expect_status 200
}

@test "a \\u0000 in a batch field is refused, not cut short: nothing stored" {
	T=$(pl_topic)
	rows=$(pl_stat rows)
	for line in "{\"topic\":\"$T\\u0000x\",\"data\":1}" "{\"topic\":\"$T\",\"user\":\"al\\u0000ice\",\"data\":1}" \
		"{\"topic\":\"$T\",\"type\":\"a\\u0000b\",\"data\":1}" "{\"topic\":\"$T\",\"clients\":[\"pc\\u0000x\"],\"data\":1}" \
		"{\"topic\":\"$T\",\"ttl\":\"1h\\u0000zz\",\"data\":1}"; do
		pl_publish "" -H 'Content-Type: application/x-ndjson' --data-binary "$line"
		pl_expect_error 400
		[[ $(pl_json .message) == *u0000* ]] || { pl_show; pl_fail "the message does not name the \\u0000"; }
	done
	[ "$(pl_stat rows)" = "$rows" ] || pl_fail "rows changed"
	# In the data itself it is just a character of a JSON string.
	pl_publish "" -H 'Content-Type: application/x-ndjson' --data-binary "{\"topic\":\"$T\",\"data\":\"a\\u0000b\"}"
	pl_expect_status 201
	pl_poll "topic=$T&since=all"
	[ "$(printf '%s' "$BODY" | jq -c '.messages[0].data')" = '"a\u0000b"' ] ||
		{ pl_show; pl_fail "data with \\u0000 not delivered as sent"; }
}

@test "an error message quoting bytes that are not UTF-8 is still valid JSON" {
	pl_publish "topic=/e" -H $'X-Topic: /a\xff\xfe' -H 'Content-Type: text/plain' --data-binary x
	pl_expect_error 400
	{ printf '%s' "$BODY" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1 && printf '%s' "$BODY" | jq_true .error >/dev/null; } ||
		{ pl_show; pl_fail "the error body is not UTF-8 JSON"; }
}

@test "JSON nested 64 deep is taken (and read back as XML too); deeper is a 400 that says so" {
	T=$(pl_topic)
	deep="$(printf '[%.0s' $(seq 64))1$(printf ']%.0s' $(seq 64))"
	pl_publish "topic=$T" -H 'Content-Type: application/json' --data-binary "$deep"
	pl_expect_status 201
	pl_poll "topic=$T&since=all&format=xml"
	printf '%s' "$BODY" | xmllint --xpath 'string(/messages/message/data)' - | grep -q '^\[\[\[' ||
		{ pl_show; pl_fail "the deep body is not in the XML data"; }
	pl_publish "topic=$T" -H 'Content-Type: application/json' --data-binary "[$deep]"
	pl_expect_error 400
	[[ $(pl_json .message) == *deeper* ]] || { pl_show; pl_fail "the message does not say it is too deep"; }
}

@test "a misspelt or extended endpoint path is a JSON 404, not the endpoint" {
	for p in pollx poll/x poll.json poll. longpollx longpoll/x longpoll.x streamx stream/ stream.sse \
		 publishx publish/x publish.php healthz health.json admin.json/stats adminx/stats; do
		pl_req GET "/push/$p?topic=/e&timeout=1"
		pl_expect_error 404
	done
	pl_req OPTIONS /push/pollx -H 'Origin: https://app.example' -H 'Access-Control-Request-Method: GET'
	pl_expect_error 404
	pl_publish "topic=/e" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_status 201
}

@test "an unreadable query string still answers in the asked format: JSONP with status 200, XML" {
	many=$(for i in $(seq 140); do printf 'a%d=1&' "$i"; done)
	for ep in poll longpoll stream admin/stats; do
		for q in "topic=/e&format=jsonp&callback=cb&x=%ff" "${many}topic=/e&format=jsonp&callback=cb"; do
			pl_req GET "/push/$ep?$q"
			pl_expect_status 200 || pl_fail "$ep: ${q:0:40}..."
			[[ $BODY == '/**/cb({'*'"error":"bad_request"'* ]] || { pl_show; pl_fail "$ep: not the JSONP error"; }
		done
		pl_req GET "/push/$ep?topic=/e&format=xml&x=%ff"
		pl_expect_status 400
		printf '%s' "$BODY" | xmllint --xpath 'string(/error/@code)' - 2>/dev/null | grep -qx bad_request ||
			{ pl_show; pl_fail "$ep: the 400 is not XML"; }
	done
	pl_req POST "/push/publish?topic=/e&format=jsonp&callback=cb&x=%ff" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_status 200
	[[ $BODY == '/**/cb({'*'"error":"bad_request"'* ]] || { pl_show; pl_fail "publish: not the JSONP error"; }
	# a callback that is not a name is not used: plain JSON
	pl_req GET "/push/poll?topic=/e&format=jsonp&callback=alert(1)&x=%ff"
	pl_expect_error 400
}

@test "publish errors come in the asked format: XML, or JSONP with status 200" {
	pl_req POST '/push/publish?topic=/e&format=xml' -H 'Content-Type: text/plain' --data-binary x
	pl_expect_status 401
	printf '%s' "$BODY" | xmllint --xpath 'string(/error/@code)' - 2>/dev/null | grep -qx unauthorized ||
		{ pl_show; pl_fail "401 as XML: no <error code=\"unauthorized\">"; }
	pl_req POST '/push/publish?topic=/e&format=jsonp&callback=cb' -H 'Content-Type: text/plain' --data-binary x
	pl_expect_status 200
	! pl_hdr WWW-Authenticate >/dev/null || { pl_show; pl_fail "a JSONP 200 carries a WWW-Authenticate challenge"; }
	pl_publish 'topic=bad&format=jsonp&callback=cb' -H 'Content-Type: text/plain' --data-binary x
	pl_expect_status 200
	[[ $BODY == '/**/cb({'*'"error":"bad_request"'* ]] || { pl_show; pl_fail "400 as JSONP: not 200 with the error inside"; }
}

@test "publish and admin check format and callback as poll does: 400, nothing stored" {
	T=$(pl_topic)
	for q in 'format=yaml' 'format=jsonp&callback=alert(1)' 'format=jsonp' 'format=sse'; do
		pl_publish "topic=$T&$q" -H 'Content-Type: text/plain' --data-binary x
		pl_expect_error 400
		pl_admin GET "/push/admin/stats?$q"
		pl_expect_error 400
		pl_poll "topic=$T&$q"
		pl_expect_error 400
	done
	pl_expect_nothing_stored "$T"
	# the formats that exist still answer in kind
	pl_publish "topic=$T&format=xml" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_status 201
	printf '%s' "$BODY" | xmllint --xpath 'string(/published/@topic)' - 2>/dev/null | grep -qx "$T" ||
		{ pl_show; pl_fail "201 as XML: no <published topic=\"$T\">"; }
	pl_admin GET "/push/admin/stats?format=jsonp&callback=app.onStats"
	pl_expect_status 200
	[[ $BODY == '/**/app.onStats({'*'"rows":'* ]] || { pl_show; pl_fail "stats as JSONP"; }
}

@test "a declared length far over the limits: a JSON 413 at once, before any body is read" {
	T=$(pl_topic)
	# Only one byte follows: a server that waited for the body would time
	# out (the web server's own limit, or the program's max_body, answers).
	for len in 100000000 10000000000; do
		pl_req POST "/push/publish?topic=$T" -H "Authorization: Bearer $PL_PUB_TOKEN" \
			-H 'Content-Type: text/plain' -H "Content-Length: $len" --data-binary x --max-time 10
		pl_expect_error 413 || pl_fail "declared length $len"
	done
	pl_expect_nothing_stored "$T"
}

@test "Range is ignored: a JSON answer is never cut into a 206" {
	pl_admin GET /push/admin/stats -H 'Range: bytes=0-5'
	pl_expect_status 200
	printf '%s' "$BODY" | jq_true .rows >/dev/null || { pl_show; pl_fail "not the whole JSON"; }
	pl_poll "topic=/e&since=all" -H 'Range: bytes=0-5'
	pl_expect_status 200
	printf '%s' "$BODY" | jq_true .cursor >/dev/null || { pl_show; pl_fail "not the whole JSON"; }
}

# The last answer is headed as the programs' own errors are: nosniff, and
# no validators (an error page served from a file must not look cacheable).
headed_as_ours() {
	[ "$(pl_hdr X-Content-Type-Options)" = nosniff ] || { pl_show; pl_fail "$HTTP_STATUS without nosniff"; }
	! pl_hdr ETag >/dev/null || { pl_show; pl_fail "$HTTP_STATUS with an ETag"; }
	! pl_hdr Last-Modified >/dev/null || { pl_show; pl_fail "$HTTP_STATUS with Last-Modified"; }
}

@test "errors the web server raises itself (no length, unknown method, bad escape) are JSON too" {
	pl_req POST '/push/publish?topic=/e' -H "Authorization: Bearer $PL_PUB_TOKEN" -H 'Content-Length:'
	case $HTTP_STATUS in 400|411) ;; *) pl_show; pl_fail "POST without a body or length: $HTTP_STATUS" ;; esac
	pl_expect_error "$HTTP_STATUS"
	pl_req BREW '/push/poll?topic=/e'
	case $HTTP_STATUS in 405|501) ;; *) pl_show; pl_fail "unknown method: $HTTP_STATUS" ;; esac
	pl_expect_error "$HTTP_STATUS"
	for q in 'topic=/e%01' 'topic=/caf%E9' 'topic=/e%C0%80' 'topic=/e&since=%FF'; do
		pl_req GET "/push/poll?$q"
		pl_expect_error 400
	done
	# TRACE would echo the request, the Authorization header with it
	pl_req TRACE '/push/publish?topic=/e' -H "Authorization: Bearer $PL_PUB_TOKEN"
	case $HTTP_STATUS in 405|501) ;; *) pl_show; pl_fail "TRACE: $HTTP_STATUS" ;; esac
	[ "$HTTP_STATUS" != 405 ] || pl_hdr Allow >/dev/null || { pl_show; pl_fail "a 405 without Allow"; }
	pl_expect_error "$HTTP_STATUS"
	[[ $BODY != *"$PL_PUB_TOKEN"* ]] || { pl_show; pl_fail "TRACE echoed the token"; }
	headed_as_ours
	long=$(head -c 9000 /dev/zero | tr '\0' a)
	pl_req GET "/push/poll?topic=/e&x=$long"
	case $HTTP_STATUS in 414|431|400) ;; *) pl_show; pl_fail "a 9,000-byte URL: $HTTP_STATUS" ;; esac
	pl_expect_error "$HTTP_STATUS"
	headed_as_ours
	pl_req GET '/push/poll?topic=/e' -H "X-Big: $long"
	case $HTTP_STATUS in 400|431) ;; *) pl_show; pl_fail "a 9,000-byte header: $HTTP_STATUS" ;; esac
	pl_expect_error "$HTTP_STATUS"
}

@test "a transfer coding besides chunked (gzip, chunked) is refused with a JSON 501, nothing stored" {
	local te before
	before=$(pl_stat last_id)
	for te in 'gzip, chunked' 'foo, chunked' 'deflate,chunked'; do
		pl_req POST '/push/publish?topic=/e/te' -H "Authorization: Bearer $PL_PUB_TOKEN" \
			-H 'Content-Type: text/plain' -H "Transfer-Encoding: $te" --data-binary hello
		pl_expect_error 501
	done
	[ "$(pl_stat last_id)" = "$before" ] || pl_fail "something was stored"
	pl_req POST '/push/publish?topic=/e/te' -H "Authorization: Bearer $PL_PUB_TOKEN" \
		-H 'Content-Type: text/plain' -H 'Transfer-Encoding: chunked' --data-binary hello
	pl_expect_status 201
}

@test "a path under /push/ longer than the file system takes is a JSON error too" {
	local long p
	long=$(head -c 5000 /dev/zero | tr '\0' x)
	for p in "/push/poll/$long" "/push/$long" "/push/admin/messages/$(head -c 4100 /dev/zero | tr '\0' 1)"; do
		pl_req GET "$p?topic=/e"
		case $HTTP_STATUS in 403|404|414) ;; *) pl_show; pl_fail "${#p}-byte path: $HTTP_STATUS" ;; esac
		pl_expect_error "$HTTP_STATUS"
		headed_as_ours
	done
}

@test "the errors/ bodies of the drop-in configs agree with the error handler: same code per status, same text but for 500 and 502" {
	local f n want
	for f in "$PL_ROOT"/errors/status-*.html; do
		n=${f##*/status-}
		n=${n%.html}
		jq_true '(.error | type == "string" and length > 0) and (.message | type == "string" and length > 0)' \
			"$f" >/dev/null || pl_fail "$f is not a JSON error"
		CGI_ENV=(SCRIPT_NAME=/push/error REDIRECT_STATUS="$n")
		pl_cgi_req admin GET /push/error
		CGI_ENV=()
		pl_expect_error "$n"
		want=$(jq -r .error "$f")
		[ "$(pl_json .error)" = "$want" ] || pl_fail "status $n: errors/ says $want, the error handler $(pl_json .error)"
		case $n in
		500 | 502) ;;
		*) [ "$(pl_json .message)" = "$(jq -r .message "$f")" ] ||
			pl_fail "status $n: errors/ says '$(jq -r .message "$f")', the error handler '$(pl_json .message)'" ;;
		esac
	done
}

@test "the error handler passes a status of HTTP's registry on as it is, and answers a number that names none as its class" {
	local n want
	for n in 416:416 409:409 576:500 499:400 418:400; do
		want=${n#*:}
		n=${n%%:*}
		CGI_ENV=(SCRIPT_NAME=/push/error REDIRECT_STATUS="$n")
		pl_cgi_req admin GET /push/error
		CGI_ENV=()
		pl_expect_error "$want"
	done
}
