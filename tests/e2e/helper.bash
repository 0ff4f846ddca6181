# tests/e2e/helper.bash: start a real server and talk to pushlite over HTTP.
#
# Load it from a .bats file, then start one server for the whole file:
#   load helper
#   setup_file()    { pl_setup_server; }          # optional: extra config lines
#   teardown_file() { pl_teardown_server; }
#
# The server is lighttpd, or Apache httpd with mod_fcgid when
# PL_SERVER=apache, or Apache httpd with mod_proxy_fcgi in front of programs
# started by spawn-fcgi when PL_SERVER=apache-proxy, on a free port of
# 127.0.0.1 picked now, with its state (database, config, logs) in a
# fresh temporary directory (kept when PL_KEEP=1). It is configured exactly
# as scripts/serve configures it (scripts/server.sh), with known tokens.
#
# Environment: PL_BIN (programs, default cgi-bin/), PL_TOOLS (default
# tools/), PL_SERVER (lighttpd|apache|apache-proxy), PL_VALGRIND=1 (wrap
# plain-CGI runs).

PL_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
: "${PL_BIN:=$PL_ROOT/cgi-bin}"
: "${PL_TOOLS:=$PL_ROOT/tools}"
: "${PL_SERVER:=lighttpd}"
# shellcheck source=../../scripts/server.sh
. "$PL_ROOT/scripts/server.sh"

PL_PUB_TOKEN=e2e-publish-token-7f3a
PL_ADMIN_TOKEN=e2e-admin-token-91c2
PL_OPS_TOKEN=e2e-ops-token-55d0          # may publish to /ops and /oa only
PL_SECRET=e2e-secret-3b8e1f0c6a2d4e9f
PL_ORIGIN=https://allowed.example        # listed in cors_origins

# Settings of the tested config. pl_setup_server KEY=VALUE... replaces one.
pl_test_settings() {
	cat <<CONF
default_ttl = 3d
max_ttl = 30d
max_body = 1048576
longpoll_timeout = 25
longpoll_max_timeout = 120
stream_max_time = 4
heartbeat = 1
max_waiting = 8000
push = on
publish_get = off
trust_remote_user = off
synchronous = normal
cors_origins = $PL_ORIGIN
cors_credentials = off
$(pl_server_settings "$PL_SERVER")
CONF
}

# pl_write_test_conf FILE DB [KEY=VALUE...]: the test config, with KEY
# replaced (or added) for each KEY=VALUE.
pl_write_test_conf() {
	local file=$1 db=$2 kv k settings
	shift 2
	settings=$(pl_test_settings)
	for kv in "$@"; do
		k=${kv%%=*}
		settings=$(printf '%s\n' "$settings" | grep -v "^$k =")
		settings="$settings
$k = ${kv#*=}"
	done
	pl_write_pushlite_conf "$file" "$db" "$PL_SECRET" "$PL_PUB_TOKEN" "$PL_ADMIN_TOKEN" "$settings

[token ops]
token = $PL_OPS_TOKEN
role = publish
topics = /ops /oa"
}

# pl_setup_server [KEY=VALUE...]: fresh state, config, database, server.
pl_setup_server() {
	local attempt
	PL_STATE=$(mktemp -d "${TMPDIR:-/tmp}/pushlite-e2e.XXXXXX")
	chmod 755 "$PL_STATE"
	PL_CONF=$PL_STATE/pushlite.conf
	PL_DB=$PL_STATE/pushlite.db
	export PL_STATE PL_CONF PL_DB
	pl_write_test_conf "$PL_CONF" "$PL_DB" "$@"
	[ -x "$PL_TOOLS/pushlite" ] || { echo "tools/pushlite is not built" >&2; return 1; }
	"$PL_TOOLS/pushlite" --conf "$PL_CONF" init >"$PL_STATE/init.out" 2>&1 || {
		echo "pushlite init failed:" >&2
		cat "$PL_STATE/init.out" >&2
		return 1
	}
	for attempt in 1 2 3 4 5; do
		PL_PORT=$(pl_free_port) || return 1
		case $PL_SERVER in
		lighttpd) pl_gen_lighttpd "$PL_STATE" "$PL_PORT" "$PL_BIN" "$PL_ROOT/www" "$PL_CONF" ;;
		apache) pl_gen_apache "$PL_STATE" "$PL_PORT" "$PL_BIN" "$PL_ROOT/www" "$PL_CONF" &&
			PL_BIN=$PL_GEN_BIN && export PL_BIN ;;
		apache-proxy) pl_gen_apache_proxy "$PL_STATE" "$PL_PORT" "$PL_BIN" "$PL_ROOT/www" "$PL_CONF" &&
			PL_BIN=$PL_GEN_BIN && export PL_BIN ;;
		apache-cgi) pl_gen_apache_cgi "$PL_STATE" "$PL_PORT" "$PL_BIN" "$PL_ROOT/www" "$PL_CONF" &&
			PL_BIN=$PL_GEN_BIN && export PL_BIN ;;
		*) echo "PL_SERVER must be lighttpd, apache, apache-proxy or apache-cgi" >&2; return 1 ;;
		esac
		pl_state_owner "$PL_SERVER" "$PL_STATE"
		pl_server_start "$PL_SERVER" "$PL_STATE" || return 1
		local health=/push/health
		[ -x "$PL_BIN/admin" ] || health=/
		if pl_server_wait "$PL_SERVER" "$PL_STATE" "$PL_PORT" 20 "$health" 2>"$PL_STATE/wait.err"; then
			PL_URL="http://127.0.0.1:$PL_PORT"
			export PL_PORT PL_URL
			return 0
		fi
		pl_server_stop "$PL_STATE"
		# Another process took the port between our check and bind: retry.
		grep -qi 'address already in use' "$PL_STATE"/*.log "$PL_STATE/server.out" \
			2>/dev/null || break
	done
	cat "$PL_STATE/wait.err" >&2
	return 1
}

pl_teardown_server() {
	[ -n "${PL_STATE-}" ] || return 0
	pl_server_stop "$PL_STATE"
	if [ "${PL_KEEP-}" = 1 ]; then
		echo "# state kept in $PL_STATE" >&3
	else
		rm -rf "$PL_STATE"
	fi
}

# Skip a test only while a program is not built yet (a missing program is
# reported by scripts/test); once it exists, the test runs.
pl_need() {
	local p
	for p in "$@"; do
		[ -x "$PL_BIN/$p" ] || [ -x "$PL_TOOLS/$p" ] || skip "$p is not built yet"
	done
}

wait_for() {  # wait_for SECONDS COMMAND...: retry until true or deadline
	local t=$(( $1 * 10 ))
	shift
	until "$@"; do
		(( --t > 0 )) || return 1
		sleep 0.1
	done
}

pl_now_ms() {
	echo $(( $(date +%s%N) / 1000000 ))
}

pl_fail() {
	printf '%s\n' "$*" >&2
	return 1
}

pl_urlenc() {
	jq -rn --arg s "$1" '$s|@uri'
}

# A topic of its own for each test: /tN[/suffix].
pl_topic() {
	echo "/t${BATS_TEST_NUMBER}${1-}"
}

# ---------------------------------------------------------------- HTTP ---
# pl_req METHOD PATH [CURL-ARGS...]: one request to the server.
# Sets HTTP_STATUS, BODY, HEADERS (a file with the response headers).
pl_req() {
	local method=$1 path=$2 bodyf
	shift 2
	HEADERS=$BATS_TEST_TMPDIR/headers
	bodyf=$BATS_TEST_TMPDIR/body
	rm -f "$bodyf" "$HEADERS"   # curl writes no file for an empty body
	local m=(-X "$method")
	[ "$method" = HEAD ] && m=(-I)
	HTTP_STATUS=$(curl -sS -g --max-time "${PL_MAX_TIME:-30}" "${m[@]}" \
		-D "$HEADERS" -o "$bodyf" -w '%{http_code}' "$@" "$PL_URL$path") || true
	BODY=$(cat "$bodyf" 2>/dev/null || true)
	PL_LAST="$method $path"
}

# pl_hdr NAME: the value of response header NAME (the last one), no CR.
pl_hdr() {
	awk -v n="$(printf '%s' "$1" | tr 'A-Z' 'a-z')" '
		{ sub(/\r$/, "") }
		/^HTTP\// { v = ""; found = 0 }
		{ i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == n) {
			v = substr($0, i + 1); sub(/^[ \t]+/, "", v); found = 1 } }
		END { if (found) print v; else exit 1 }' "$HEADERS"
}

# jq on the last body: pl_json '.cursor'
pl_json() {
	printf '%s' "$BODY" | jq -r "$@"
}

pl_show() {
	printf '%s -> %s\n' "${PL_LAST-}" "${HTTP_STATUS-}" >&2
	[ -f "${HEADERS-}" ] && tr -d '\r' <"$HEADERS" >&2
	printf '%s\n' "${BODY:0:2000}" >&2
}

pl_expect_status() {
	local want
	for want in "$@"; do
		[ "$HTTP_STATUS" = "$want" ] && return 0
	done
	pl_show
	pl_fail "expected status $*, got $HTTP_STATUS"
}

# jq_true JQ-ARGS... [FILE]: jq -e, and false when the input holds no JSON
# value at all: jq -e alone succeeds on an empty body (no output is no false).
jq_true() {
	local out
	out=$(jq -e "$@" 2>/dev/null) && [ -n "$out" ]
}

# The body is a JSON object (or array).
pl_expect_json() {
	printf '%s' "$BODY" | jq_true 'type == "object" or type == "array"' >/dev/null 2>&1 && return 0
	pl_show
	pl_fail "body is not JSON"
}

# pl_expect_error STATUS...: one of these statuses, a JSON body
# {"error":"code","message":"text"}.
pl_expect_error() {
	pl_expect_status "$@" || return 1
	printf '%s' "$BODY" | jq_true '(.error | type == "string" and length > 0)
		and (.message | type == "string" and length > 0)' >/dev/null 2>&1 || {
		pl_show
		pl_fail "error body is not {\"error\":\"code\",\"message\":\"text\"}"
		return 1
	}
	pl_expect_ctype application/json
}

# pl_expect_ctype TYPE: Content-Type starts with TYPE.
pl_expect_ctype() {
	local ct
	ct=$(pl_hdr Content-Type) || { pl_show; pl_fail "no Content-Type"; return 1; }
	case $ct in
	"$1"*) return 0 ;;
	esac
	pl_show
	pl_fail "Content-Type is '$ct', expected $1"
}

pl_expect_no_store() {
	local cc
	cc=$(pl_hdr Cache-Control) || { pl_show; pl_fail "no Cache-Control header"; return 1; }
	case $cc in
	*no-store*) return 0 ;;
	esac
	pl_show
	pl_fail "Cache-Control is '$cc', expected no-store"
}

# pl_jq_true EXPR: jq expression on the body must be true.
pl_jq_true() {
	printf '%s' "$BODY" | jq_true "$@" >/dev/null 2>&1 && return 0
	pl_show
	pl_fail "not true on the body: $*"
}

# ------------------------------------------------------- publish / poll ---
# pl_pub TOPIC DATA [CURL-ARGS...]: publish text with the publish token;
# expects 201 and sets PUB_ID, PUB_CREATED, PUB_EXPIRES.
pl_pub() {
	local topic=$1 data=$2
	shift 2
	pl_req POST "/push/publish?topic=$(pl_urlenc "$topic")" \
		-H "Authorization: Bearer $PL_PUB_TOKEN" -H 'Content-Type: text/plain' \
		--data-binary "$data" "$@"
	pl_expect_status 201 || return 1
	PUB_ID=$(pl_json .id)
	PUB_CREATED=$(pl_json .created)
	PUB_EXPIRES=$(pl_json .expires)
	[[ "$PUB_ID" =~ ^[0-9]+$ ]] || { pl_show; pl_fail "no numeric id"; }
}

# pl_publish QUERY [CURL-ARGS...]: POST /push/publish?QUERY with the publish
# token; no check (sets HTTP_STATUS, BODY, HEADERS).
pl_publish() {
	local q=$1
	shift
	pl_req POST "/push/publish${q:+?$q}" -H "Authorization: Bearer $PL_PUB_TOKEN" "$@"
}

# pl_get PATH [CURL-ARGS...]: GET (any endpoint).
pl_get() {
	local p=$1
	shift
	pl_req GET "$p" "$@"
}

# pl_poll QUERY [CURL-ARGS...]: GET /push/poll?QUERY
pl_poll() {
	local q=$1
	shift
	pl_req GET "/push/poll?$q" "$@"
}

# pl_ids: the ids of the messages of the last answer, as "1 2 3".
pl_ids() {
	printf '%s' "$BODY" | jq -r '[.messages[].id] | map(tostring) | join(" ")'
}

pl_admin() {  # pl_admin METHOD PATH [CURL-ARGS...]
	local m=$1 p=$2
	shift 2
	pl_req "$m" "$p" -H "Authorization: Bearer $PL_ADMIN_TOKEN" "$@"
}

# pl_stat NAME: one field of /push/admin/stats.
pl_stat() {
	local save_b=$BODY save_s=$HTTP_STATUS v
	pl_admin GET /push/admin/stats
	v=$(pl_json ".$1")
	BODY=$save_b
	HTTP_STATUS=$save_s
	echo "$v"
}

# Waiting subscribers as stats report them.
waiting() { pl_stat waiting; }
# publish_ok TOPIC TEXT: one publish; true when it was answered 201 (for
# wait_for while a fault lasts; pl_pub fails the test at once instead).
publish_ok() {
	pl_publish "topic=$1" -H 'Content-Type: text/plain' --data-binary "$2"
	[ "$HTTP_STATUS" = 201 ]
}

waiting_ge() { [ "$(waiting)" -ge "$1" ]; }
waiting_le() { [ "$(waiting)" -le "$1" ]; }
# The count is published at most every 100 ms: read it once it holds still.
waiting_settled() {
	local a b i
	a=$(waiting)
	for i in 1 2 3 4 5 6 7 8 9 10; do
		sleep 0.25
		b=$(waiting)
		[ "$a" = "$b" ] && break
		a=$b
	done
	echo "$a"
}

# pl_count_topic TOPIC: how many messages an admin sees under TOPIC.
pl_count_topic() {
	local save_b=$BODY save_s=$HTTP_STATUS v
	pl_admin GET "/push/admin/messages?topic=$(pl_urlenc "$1")&since=all&limit=1000"
	v=$(pl_json '.messages | length')
	BODY=$save_b
	HTTP_STATUS=$save_s
	echo "$v"
}

# ---------------------------------------------------------------- tokens ---
# pl_user_token USER [TTL]: a subscriber token minted by `pushlite token`.
pl_user_token() {
	"$PL_TOOLS/pushlite" --conf "$PL_CONF" token --user "$1" --ttl "${2:-1h}"
}

# pl_make_token USER EXPIRY [SECRET]: a token computed here, as SPEC 10 says:
# v1.USER.EXPIRY.SIG, SIG = base64url(HMAC-SHA256(secret, "v1.USER.EXPIRY")).
pl_make_token() {
	local payload="v1.$1.$2"
	printf '%s.%s\n' "$payload" "$(printf '%s' "$payload" |
		openssl dgst -sha256 -hmac "${3:-$PL_SECRET}" -binary |
		base64 -w0 | tr '+/' '-_' | tr -d '=')"
}

# ------------------------------------------------------------ plain CGI ---
# pl_cgi PROGRAM METHOD QUERY-OR-URI [BODY]: run a program as plain CGI.
# QUERY-OR-URI: "a=b&c=d" (path /push/PROGRAM) or "/push/x/y?a=b".
# More environment in the array CGI_ENV (e.g. CONTENT_TYPE=text/plain);
# the config is $CGI_CONF, else $PL_CONF. Prints the raw reply.
pl_cgi() {
	local prog=$1 method=$2 q=$3 body=${4-} uri query len
	if [ "${q:0:1}" = / ]; then
		uri=$q
		query=""
		[[ "$q" == *\?* ]] && query=${q#*\?}
	else
		uri="/push/$prog${q:+?$q}"
		query=$q
	fi
	len=$(printf '%s' "$body" | wc -c)
	local wrap=()
	[ "${PL_VALGRIND-}" = 1 ] && wrap=(valgrind -q --error-exitcode=99 --leak-check=full)
	printf '%s' "$body" | env -i PATH="$PATH" PUSHLITE_CONF="${CGI_CONF:-$PL_CONF}" \
		GATEWAY_INTERFACE=CGI/1.1 SERVER_PROTOCOL=HTTP/1.1 SERVER_NAME=localhost \
		SERVER_PORT=80 REMOTE_ADDR=127.0.0.1 \
		REQUEST_METHOD="$method" QUERY_STRING="$query" REQUEST_URI="$uri" \
		SCRIPT_NAME="/push/$prog" CONTENT_LENGTH="$len" \
		${CGI_ENV[@]+"${CGI_ENV[@]}"} "${wrap[@]}" "$PL_BIN/$prog"
}

# pl_cgi_req PROGRAM METHOD QUERY-OR-URI [BODY]: as pl_cgi, then parses the
# reply into HTTP_STATUS, HEADERS and BODY like pl_req.
pl_cgi_req() {
	local raw=$BATS_TEST_TMPDIR/cgi.raw rc=0
	HEADERS=$BATS_TEST_TMPDIR/headers
	pl_cgi "$@" >"$raw" 2>"$BATS_TEST_TMPDIR/cgi.err" || rc=$?
	PL_LAST="CGI $1 $2 $3"
	# Headers end at the first empty line (CRLF or LF).
	awk '{ sub(/\r$/, "") } /^$/ { exit } { print }' "$raw" >"$HEADERS"
	BODY=$(awk 'h { print; next } { sub(/\r$/, "") } /^$/ { h = 1 }' "$raw")
	HTTP_STATUS=$(awk 'tolower($1) == "status:" { print $2; exit }' "$HEADERS")
	# No Status line: 200, as a web server reads it; no reply at all: the
	# web server would answer 500.
	if [ -z "$HTTP_STATUS" ]; then
		HTTP_STATUS=200
		[ -s "$raw" ] || HTTP_STATUS=500
	fi
	# A program may exit non-zero after answering an error; a signal
	# (crash) or valgrind's report is a failure.
	if [ "$rc" -ge 128 ] || { [ "${PL_VALGRIND-}" = 1 ] && [ "$rc" = 99 ]; }; then
		pl_show
		cat "$BATS_TEST_TMPDIR/cgi.err" >&2
		pl_fail "$1 died (exit status $rc)"
		return 1
	fi
}

# pl_stored TOPIC: the admin view of the messages under TOPIC (all users,
# all client kinds); sets BODY. MSG: the newest one.
pl_stored() {
	pl_admin GET "/push/admin/messages?topic=$(pl_urlenc "$1")&since=all&limit=1000"
	pl_expect_status 200 || return 1
	MSG=$(pl_json '.messages[-1] // empty')
}

# pl_msg_true EXPR: jq expression on MSG must be true.
pl_msg_true() {
	printf '%s' "$MSG" | jq_true "$@" >/dev/null 2>&1 && return 0
	printf 'message: %s\n' "$MSG" >&2
	pl_fail "not true on the message: $*"
}

# pl_expect_nothing_stored TOPIC: no message under TOPIC.
pl_expect_nothing_stored() {
	local n
	n=$(pl_count_topic "$1")
	[ "$n" = 0 ] || pl_fail "$n message(s) stored under $1, expected none"
}

# bats runs its DEBUG trap, which records a stack trace, before every
# command, to name the failing line; in these helpers that was about a
# tenth of the suite's time. It now passes over the helpers' own commands
# (a failure in one is reported at the test's line that called it).
if pl_trap_src=$(declare -f bats_debug_trap) && [[ $pl_trap_src == *'{'* ]]; then
	eval "${pl_trap_src/'{'/'{ [[ $1 != "$PL_ROOT"/tests/e2e/*.bash ]] || return 0;'}"
fi
unset pl_trap_src

# pl_untraced CMD...: run CMD in a subshell without that trace, for a loop
# that builds thousands of requests (the isolation matrix: 11 s with it,
# 1 s without).
pl_untraced() {
	(
		trap - DEBUG
		"$@"
	)
}
