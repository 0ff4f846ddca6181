#!/usr/bin/env bats
# SPEC 9: scripts/serve as a newcomer meets it. The other suites start the
# same server configs through scripts/server.sh; this one runs the command
# of the README itself, with no tokens given, and pastes the curl lines it
# prints: each must work as printed. Then a second start on the same state
# keeps the tokens and the messages, and tokens from the environment win.

load helper

setup_file() {
	[ -x "$PL_ROOT/scripts/serve" ] || skip "no scripts/serve"
}

# serve_start KIND OUT [ENV...]: scripts/serve (--apache for apache) on a
# free port with state in $BATS_TEST_TMPDIR/state; waits for /push/health.
serve_start() {
	local kind=$1 out=$2 i
	shift 2
	SV_STATE=$BATS_TEST_TMPDIR/state
	SV_PORT=$(pl_free_port)
	local args=()
	[ "$kind" = apache ] && args=(--apache)
	env -u PUSHLITE_PUBLISH_TOKEN -u PUSHLITE_ADMIN_TOKEN -u PUSHLITE_SECRET "$@" \
		PORT="$SV_PORT" PUSHLITE_STATE="$SV_STATE" \
		setsid "$PL_ROOT/scripts/serve" "${args[@]}" >"$out" 2>&1 3>&- &
	SV_PID=$!
	for ((i = 0; i < 300; i++)); do
		# ready once it answers and has printed its banner
		curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$SV_PORT/push/health" 2>/dev/null &&
			grep -q 'curl' "$out" && return 0
		kill -0 "$SV_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$out" >&2
	pl_fail "scripts/serve $kind did not answer /push/health on $SV_PORT"
}

serve_stop() {
	local i
	[ -n "${SV_PID-}" ] || return 0
	kill -TERM "$SV_PID" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 "$SV_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$SV_PID" 2>/dev/null || true
	SV_PID=""
}

teardown() { serve_stop; }

# paste_curls OUT: run every "curl ..." line that OUT prints, as printed,
# with curl replaced by one that notes "STATUS URL" in $BATS_TEST_TMPDIR/codes
# and the bodies in $BATS_TEST_TMPDIR/bodies (waiting ones cut after 2 s).
paste_curls() {
	local out=$1
	# A line ending in a backslash goes on on the next one, as a shell reads it.
	sed -e ':a' -e '/\\$/{N;s/\\\n *//;ba' -e '}' "$out" | grep -E '^ +curl ' |
		sed -e 's/ *# .*$//' >"$BATS_TEST_TMPDIR/lines"
	[ -s "$BATS_TEST_TMPDIR/lines" ] || pl_fail "scripts/serve printed no curl lines"
	: >"$BATS_TEST_TMPDIR/codes"
	: >"$BATS_TEST_TMPDIR/bodies"
	while IFS= read -r line; do
		# shellcheck disable=SC2016
		B=$BATS_TEST_TMPDIR bash -c 'curl() {
			local code
			code=$(command curl -sS --max-time 2 -o "$B/one" -w "%{http_code}" "$@")
			cat "$B/one" >>"$B/bodies"; echo >>"$B/bodies"
			echo "$code ${*: -1}" >>"$B/codes"
		}
		'"$line" 3>&- </dev/null
	done < <(sed 's/^ *//' "$BATS_TEST_TMPDIR/lines")
}

check_printed() {
	local out=$1 n
	paste_curls "$out"
	n=$(wc -l <"$BATS_TEST_TMPDIR/codes")
	echo "# $n curl lines pasted: $(cut -d' ' -f1 "$BATS_TEST_TMPDIR/codes" | tr '\n' ' ')" >&3
	(( n >= 8 )) || pl_fail "only $n curl lines: $(cat "$BATS_TEST_TMPDIR/codes")"
	while read -r code url; do
		case $code:$url in
		201:*/push/publish*) ;;
		200:*/push/poll* | 200:*/push/admin/*) ;;
		# a long poll or stream that is still waiting when cut after 2 s
		000:*/push/longpoll* | 000:*/push/stream* | 200:*/push/longpoll* | 200:*/push/stream*) ;;
		*) pl_fail "printed line answered $code: $url" ;;
		esac
	done <"$BATS_TEST_TMPDIR/codes"
	grep -q '"data":"disk full"' "$BATS_TEST_TMPDIR/bodies" || pl_fail "the printed poll did not return the printed publish"
	grep -q '"data":"hello alice"' "$BATS_TEST_TMPDIR/bodies" || pl_fail "the printed token did not return alice's message"
	grep -q '"rows":' "$BATS_TEST_TMPDIR/bodies" || pl_fail "the printed admin stats line did not answer the stats"
}

@test "scripts/serve with no tokens given: generates them, and every curl line it prints works as printed" {
	serve_start lighttpd "$BATS_TEST_TMPDIR/out"
	grep -q "http://127.0.0.1:$SV_PORT/" "$BATS_TEST_TMPDIR/out" || pl_fail "no URL with the port in the output"
	grep -qE 'publish token: pub-[0-9a-f]{32}' "$BATS_TEST_TMPDIR/out" || pl_fail "no generated publish token printed"
	check_printed "$BATS_TEST_TMPDIR/out"
	[ "$(stat -c %a "$SV_STATE/dev-tokens")" = 600 ] || pl_fail "dev-tokens is readable by others"
}

@test "scripts/serve started again on its state: the same tokens, the messages kept; tokens from the environment win" {
	serve_start lighttpd "$BATS_TEST_TMPDIR/out1"
	tok=$(sed -n 's/^ *publish token: //p' "$BATS_TEST_TMPDIR/out1")
	[ -n "$tok" ] || pl_fail "no publish token printed"
	code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" -d kept \
		"http://127.0.0.1:$SV_PORT/push/publish?topic=/serve/kept")
	[ "$code" = 201 ] || pl_fail "publish with the printed token: $code"
	serve_stop
	serve_start lighttpd "$BATS_TEST_TMPDIR/out2"
	[ "$(sed -n 's/^ *publish token: //p' "$BATS_TEST_TMPDIR/out2")" = "$tok" ] || pl_fail "the second start printed another token"
	body=$(curl -sS "http://127.0.0.1:$SV_PORT/push/poll?topic=/serve&since=all")
	[[ $body == *'"data":"kept"'* ]] || pl_fail "the message of the first start is gone: $body"
	serve_stop
	serve_start lighttpd "$BATS_TEST_TMPDIR/out3" PUSHLITE_PUBLISH_TOKEN=mine-0123456789
	code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer mine-0123456789' -d x \
		"http://127.0.0.1:$SV_PORT/push/publish?topic=/serve/env")
	[ "$code" = 201 ] || pl_fail "publish with PUSHLITE_PUBLISH_TOKEN: $code"
	code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" -d x \
		"http://127.0.0.1:$SV_PORT/push/publish?topic=/serve/env")
	[ "$code" = 401 ] || pl_fail "the replaced token still publishes: $code"
}

@test "scripts/serve --apache: every curl line it prints works as printed" {
	command -v apache2 >/dev/null 2>&1 || [ -x /usr/sbin/apache2 ] || skip "apache2 is not installed"
	serve_start apache "$BATS_TEST_TMPDIR/out"
	grep -qi 'apache' "$BATS_TEST_TMPDIR/out" || pl_fail "the output does not say it runs Apache"
	check_printed "$BATS_TEST_TMPDIR/out"
}
