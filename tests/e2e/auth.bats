#!/usr/bin/env bats
# SPEC 3, 4, 7, 10: publisher tokens, subscriber tokens, user-targeted messages.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

pub_with() {  # pub_with AUTH-HEADER-VALUE TOPIC
	pl_req POST "/push/publish?topic=$2" -H "Authorization: $1" -H 'Content-Type: text/plain' --data-binary x
}

@test "publish without a token: 401, nothing stored" {
	T=$(pl_topic)
	pl_req POST "/push/publish?topic=$T" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_error 401
	pl_expect_nothing_stored "$T"
}

@test "publish with an unknown, malformed or non-Bearer token: 401, nothing stored" {
	T=$(pl_topic)
	for a in "Bearer wrong-token" "Bearer ${PL_PUB_TOKEN}x" "Bearer" "Bearer " "$PL_PUB_TOKEN" \
		"Basic $(printf 'u:%s' "$PL_PUB_TOKEN" | base64 -w0)" "Token $PL_PUB_TOKEN" \
		"Bearer $(pl_make_token alice $(( $(date +%s) - 10 )))" "Bearer $(pl_make_token alice $(( $(date +%s) + 3600 )) wrong-secret)"; do
		pub_with "$a" "$T"
		pl_expect_error 401 || pl_fail "Authorization: $a"
	done
	pl_expect_nothing_stored "$T"
}

@test "a valid subscriber token on publish or admin: 403 (valid, not allowed this), nothing stored" {
	T=$(pl_topic)
	sub=$(pl_make_token alice $(( $(date +%s) + 3600 )))
	pub_with "Bearer $sub" "$T"
	pl_expect_error 403
	[ "$(pl_json .error)" = forbidden ] || { pl_show; pl_fail "error code is not forbidden"; }
	pl_req POST "/push/publish?topic=$T&token=$sub" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_error 403
	pl_expect_nothing_stored "$T"
	pl_req GET /push/admin/stats -H "Authorization: Bearer $sub"
	pl_expect_error 403
	pl_req GET "/push/admin/messages?topic=$T&token=$sub"
	pl_expect_error 403
	# the same token, expired, is no credential at all
	pl_req GET /push/admin/stats -H "Authorization: Bearer $(pl_make_token alice $(( $(date +%s) - 10 )))"
	pl_expect_error 401
}

@test "the Authorization header sent twice (the web server joins the two): 401 that says so, on publish, admin and poll; nothing stored" {
	T=$(pl_topic)
	sub=$(pl_make_token alice $(( $(date +%s) + 3600 )))
	for pair in "$PL_PUB_TOKEN $PL_PUB_TOKEN" "$PL_PUB_TOKEN wrong-token"; do
		pl_req POST "/push/publish?topic=$T" -H "Authorization: Bearer ${pair% *}" \
			-H "Authorization: Bearer ${pair#* }" -H 'Content-Type: text/plain' --data-binary x
		pl_expect_error 401
		[[ $(pl_json .message) == *"more than once"* ]] || { pl_show; pl_fail "publish: the 401 does not say why"; }
	done
	pl_expect_nothing_stored "$T"
	pl_req GET /push/admin/stats -H "Authorization: Bearer $PL_ADMIN_TOKEN" -H "Authorization: Bearer $PL_ADMIN_TOKEN"
	pl_expect_error 401
	[[ $(pl_json .message) == *"more than once"* ]] || { pl_show; pl_fail "admin: the 401 does not say why"; }
	pl_req GET "/push/poll?topic=$T" -H "Authorization: Bearer $sub" -H "Authorization: Bearer $sub"
	pl_expect_error 401
	[[ $(pl_json .message) == *"more than once"* ]] || { pl_show; pl_fail "poll: the 401 does not say why"; }
	# a Basic login and a token, each in its own header
	pl_req POST "/push/publish?topic=$T" -H "Authorization: Basic $(printf 'u:p' | base64 -w0)" \
		-H "Authorization: Bearer $PL_PUB_TOKEN" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_error 401
	[[ $(pl_json .message) == *"more than once"* ]] || { pl_show; pl_fail "Basic and Bearer: the 401 does not say why"; }
	pl_expect_nothing_stored "$T"
	# once is fine; a comma in token= is a bad token, not a header sent twice
	pl_req GET "/push/poll?topic=$T" -H "Authorization: Bearer $sub"
	pl_expect_status 200
	pl_req POST "/push/publish?topic=$T&token=a,b" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_error 401
	[[ $(pl_json .message) != *"more than once"* ]] || { pl_show; pl_fail "token=a,b: said the header came twice"; }
}

@test "publish with only a wrong token= in the query: 401" {
	T=$(pl_topic)
	pl_req POST "/push/publish?topic=$T&token=wrong" -H 'Content-Type: text/plain' --data-binary x
	pl_expect_error 401
	pl_expect_nothing_stored "$T"
}

@test "the admin token may publish" {
	T=$(pl_topic)
	pub_with "Bearer $PL_ADMIN_TOKEN" "$T"
	pl_expect_status 201
}

@test "a token limited to /ops /oa publishes there and below, 403 elsewhere (also /opsx)" {
	for t in /ops /ops/disk /oa/notice/x; do
		pub_with "Bearer $PL_OPS_TOKEN" "$t"
		pl_expect_status 201 || pl_fail "topic $t"
	done
	for t in /news /opsx /oax/y "/t$BATS_TEST_NUMBER/ops"; do
		pub_with "Bearer $PL_OPS_TOKEN" "$t"
		pl_expect_error 403 || pl_fail "topic $t"
		pl_expect_nothing_stored "$t"
	done
}

@test "a limited token in a batch: one line outside its prefixes refuses the whole batch (403)" {
	printf '%s\n' '{"topic":"/ops/b1","data":"ok"}' "{\"topic\":\"/t$BATS_TEST_NUMBER/x\",\"data\":\"no\"}" >"$BATS_TEST_TMPDIR/b"
	pl_req POST /push/publish -H "Authorization: Bearer $PL_OPS_TOKEN" \
		-H 'Content-Type: application/x-ndjson' --data-binary "@$BATS_TEST_TMPDIR/b"
	pl_expect_error 403
	pl_expect_nothing_stored /ops/b1
}

@test "pushlite token mints v1.USER.EXPIRY.SIG with the HMAC of SPEC 10" {
	tok=$(pl_user_token alice 1h)
	[[ "$tok" =~ ^v1\.alice\.([0-9]+)\.([A-Za-z0-9_-]+)$ ]] || pl_fail "token '$tok' is not v1.alice.EXPIRY.SIG (base64url, no padding)"
	exp=${BASH_REMATCH[1]}
	now=$(date +%s)
	(( exp >= now + 3500 && exp <= now + 3700 )) || pl_fail "expiry $exp is not now+1h ($now)"
	[ "$tok" = "$(pl_make_token alice "$exp")" ] || pl_fail "signature differs from HMAC-SHA256(secret, v1.alice.$exp)"
}

@test "user-targeted messages go to that user only; anonymous sees broadcasts only" {
	T=$(pl_topic)
	pl_publish "topic=$T&user=alice" -H 'Content-Type: text/plain' --data-binary for-alice
	pl_expect_status 201
	pl_publish "topic=$T" -H 'X-User: bob' -H 'Content-Type: text/plain' --data-binary for-bob
	pl_expect_status 201
	pl_pub "$T" for-all
	alice=$(pl_user_token alice)
	bob=$(pl_user_token bob)
	pl_poll "topic=$T&since=all&token=$alice"
	pl_jq_true '[.messages[].data] == ["for-alice","for-all"]'
	pl_jq_true 'all(.messages[]; .user == null or .user == "alice")'
	pl_poll "topic=$T&since=all&token=$bob"
	pl_jq_true '[.messages[].data] == ["for-bob","for-all"]'
	pl_poll "topic=$T&since=all"
	pl_jq_true '[.messages[].data] == ["for-all"]'
	pl_poll "topic=/&since=all&limit=1000"
	pl_jq_true 'all(.messages[]; .user == null)'
	pl_poll "topic=/&since=all&limit=1000&token=$bob"
	pl_jq_true 'all(.messages[]; .user == null or .user == "bob")'
}

@test "a token computed from the secret (SPEC 10 format) is accepted" {
	T=$(pl_topic)
	pl_publish "topic=$T&user=zoe" -H 'Content-Type: text/plain' --data-binary z
	pl_expect_status 201
	tok=$(pl_make_token zoe $(( $(date +%s) + 600 )))
	pl_poll "topic=$T&since=all&token=$tok"
	pl_expect_status 200
	pl_jq_true '[.messages[].data] == ["z"]'
}

@test "expired, forged, wrongly keyed or malformed subscriber tokens: 401, nothing leaked" {
	T=$(pl_topic)
	pl_publish "topic=$T&user=alice" -H 'Content-Type: text/plain' --data-binary secret
	pl_expect_status 201
	now=$(date +%s)
	good=$(pl_make_token alice $((now + 600)))
	expired=$(pl_make_token alice $((now - 10)))
	wrongkey=$(pl_make_token alice $((now + 600)) not-the-secret)
	sig=${good##*.}
	c=A
	[ "${sig:5:1}" = A ] && c=B
	forged="v1.alice.$((now + 600)).${sig:0:5}$c${sig:6}"
	swapped="v1.mallory.${good#v1.alice.}"
	padded="$good="
	for tok in "$expired" "$wrongkey" "$forged" "$swapped" "$padded" "v2.${good#v1.}" "v1.alice" "v1..$((now + 600)).x" \
		"garbage" "v1.alice.notanumber.${good##*.}" "v1.alice.$((now + 600))"; do
		pl_poll "topic=$T&since=all&token=$(pl_urlenc "$tok")"
		pl_expect_error 401 || pl_fail "token '$tok'"
		[[ "$BODY" != *secret* ]] || pl_fail "leaked with token '$tok'"
	done
}

@test "a publish or admin token on poll, longpoll or stream: 403 (valid, not a subscriber's), nothing delivered" {
	T=$(pl_topic)
	pl_publish "topic=$T&user=alice" -H 'Content-Type: text/plain' --data-binary secret
	pl_expect_status 201
	for tok in "$PL_PUB_TOKEN" "$PL_ADMIN_TOKEN"; do
		for ep in poll longpoll stream; do
			pl_req GET "/push/$ep?topic=$T&since=all&timeout=0&token=$(pl_urlenc "$tok")"
			pl_expect_error 403 || pl_fail "$ep with token=$tok"
			[ "$(pl_json .error)" = forbidden ] || { pl_show; pl_fail "$ep: error code is not forbidden"; }
			pl_req GET "/push/$ep?topic=$T&since=all&timeout=0" -H "Authorization: Bearer $tok"
			pl_expect_error 403 || pl_fail "$ep with Bearer $tok"
			[[ "$BODY" != *secret* ]] || pl_fail "$ep delivered with $tok"
		done
	done
	# a near miss of a configured token is still no credential at all
	pl_poll "topic=$T&since=all&token=${PL_PUB_TOKEN}x"
	pl_expect_error 401
}

@test "a held long poll or stream on a token ends when the token expires; the next request is 401" {
	T=$(pl_topic)
	D=$BATS_TEST_TMPDIR
	# Meanwhile, in the background: tokens that outlive the request are
	# held to the request's own ends, a token with time to spare and one
	# that never expires in practice (year 300 million), not cut short by
	# its expiry's arithmetic. curl writes the seconds each took.
	far=$(pl_make_token alice 9999999999999999)
	spare=$(pl_make_token alice $(( $(date +%s) + 600 )))
	curl -sS -g -o /dev/null -w '%{time_total}' --max-time 20 "$PL_URL/push/stream?topic=$T&format=ndjson&token=$spare" \
		>"$D/spare" 2>&1 3>&- &
	p1=$!
	curl -sS -g -o "$D/far-lp.body" -w '%{time_total}' --max-time 20 \
		"$PL_URL/push/longpoll?topic=$T&timeout=2&token=$far" >"$D/far-lp" 2>&1 3>&- &
	p2=$!
	curl -sS -g -o /dev/null -w '%{time_total}' --max-time 20 "$PL_URL/push/stream?topic=$T&format=ndjson&token=$far" \
		>"$D/far-st" 2>&1 3>&- &
	p3=$!
	# whole seconds: the token has 1-2 s left; the stream's own end is at 4 s.
	# A request that reached its program only once the token had expired
	# (Apache's mod_fcgid starting a process on a loaded machine) is
	# rightly a 401, and says nothing: it is asked again with a new token.
	short_lived() {  # short_lived PATH: pl_req GET PATH&token=...; el: its ms
		local try exp
		for try in 1 2 3; do
			exp=$(( $(date +%s) + 2 ))
			tok=$(pl_make_token alice "$exp")
			t0=$(pl_now_ms)
			pl_req GET "$1&token=$tok"
			el=$(( $(pl_now_ms) - t0 ))
			[ "$HTTP_STATUS" = 401 ] && (( $(date +%s) >= exp )) || return 0
			echo "# try $try: 401 once the token had expired ($el ms): asked again" >&3
		done
	}
	short_lived "/push/longpoll?topic=$T&timeout=30"
	pl_expect_status 200
	pl_jq_true '.messages == []'
	(( el < 3300 )) || pl_fail "the long poll was held $el ms, past its token's expiry"
	short_lived "/push/stream?topic=$T&format=ndjson"
	pl_expect_status 200
	(( el < 3300 )) || pl_fail "the stream lasted $el ms, past its token's expiry (stream_max_time is 4 s)"
	exp=${tok#v1.alice.}
	exp=${exp%%.*}
	while [ "$(date +%s)" -lt "$exp" ]; do sleep 0.2; done
	pl_req GET "/push/stream?topic=$T&format=ndjson&token=$tok"
	pl_expect_error 401
	wait "$p1" "$p2" "$p3" || true
	ms() { awk '{ printf "%d", $1 * 1000 }' "$1"; }
	(( $(ms "$D/spare") >= 3500 )) || pl_fail "a stream with a valid token ended after $(cat "$D/spare") s, before stream_max_time"
	jq_true '.messages == []' "$D/far-lp.body" >/dev/null || pl_fail "far-future long poll: $(cat "$D/far-lp.body")"
	(( $(ms "$D/far-lp") >= 1800 )) ||
		pl_fail "a long poll on a far-future token answered after $(cat "$D/far-lp") s, before its timeout (2 s)"
	(( $(ms "$D/far-st") >= 3500 )) ||
		pl_fail "a stream on a far-future token ended after $(cat "$D/far-st") s, before stream_max_time"
}

@test "admin list shows last_get: unset until the user first receives it, then set" {
	T=$(pl_topic)
	pl_publish "topic=$T&user=erin" -H 'Content-Type: text/plain' --data-binary e
	pl_expect_status 201
	id=$(pl_json .id)
	pl_admin GET "/push/admin/messages/$id"
	pl_expect_status 200
	pl_jq_true '(.last_get == null) or (.last_get == 0)'
	pl_poll "topic=$T&since=all"           # anonymous: not a delivery to erin
	pl_poll "topic=$T&since=all&token=$(pl_user_token frank)"
	pl_admin GET "/push/admin/messages/$id"
	pl_jq_true '(.last_get == null) or (.last_get == 0)'
	before=$(pl_now_ms)
	pl_poll "topic=$T&since=all&token=$(pl_user_token erin)"
	pl_jq_true '[.messages[].data] == ["e"]'
	pl_admin GET "/push/admin/messages/$id"
	pl_jq_true --argjson b "$before" '(.last_get|type) == "number" and .last_get >= $b - 2000'
	first=$(pl_json .last_get)
	sleep 1.1
	pl_poll "topic=$T&since=all&token=$(pl_user_token erin)"
	pl_admin GET "/push/admin/messages/$id"
	pl_jq_true --argjson f "$first" '.last_get == $f'
}

@test "HEAD on poll, longpoll and stream: the GET's head at once, no body, nothing held, no first delivery recorded" {
	pl_need longpoll stream
	T=$(pl_topic)
	pl_publish "topic=$T&user=hana" -H 'Content-Type: text/plain' --data-binary h
	pl_expect_status 201
	id=$(pl_json .id)
	tok=$(pl_user_token hana)
	for ep in poll longpoll; do
		t0=$(pl_now_ms)
		pl_req HEAD "/push/$ep?topic=$T&since=all&timeout=20&token=$tok"
		pl_expect_status 200
		pl_expect_ctype application/json
		# (curl -I prints the head where the body would go)
		[[ "$BODY" != *'"messages"'* ]] || { pl_show; pl_fail "HEAD $ep with a body"; }
		# and one with nothing to answer is not held either
		pl_req HEAD "/push/$ep?topic=$T/none&timeout=20&token=$tok"
		pl_expect_status 200
		(( $(pl_now_ms) - t0 < 5000 )) || pl_fail "HEAD $ep held: $(( $(pl_now_ms) - t0 )) ms"
	done
	t0=$(pl_now_ms)
	pl_req HEAD "/push/stream?topic=$T&token=$tok"
	pl_expect_status 200
	pl_expect_ctype text/event-stream
	[[ "$BODY" != *'retry:'* ]] || { pl_show; pl_fail "HEAD stream with a body"; }
	(( $(pl_now_ms) - t0 < 3000 )) || pl_fail "HEAD stream held: $(( $(pl_now_ms) - t0 )) ms"
	pl_admin GET "/push/admin/messages/$id"
	pl_jq_true '(.last_get == null) or (.last_get == 0)' || pl_fail "a HEAD recorded a first delivery"
	pl_poll "topic=$T&since=all&token=$tok"
	pl_jq_true '[.messages[].data] == ["h"]'
	pl_admin GET "/push/admin/messages/$id"
	pl_jq_true '(.last_get|type) == "number"'
}
