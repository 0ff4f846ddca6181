#!/usr/bin/env bats
# docs/deploy.md 4a: the drop-in lighttpd-conf/pushlite.conf as shipped
# (only its var.PL_* paths changed), included in a lighttpd.conf that also
# serves another site. The other suites run the development config
# (lighttpd-conf/dev.conf.in); this one checks the file operators install:
# that it loads, that pushlite works through it, and that its settings do
# not change what the other site accepts.

load helper

setup_file() {
	command -v lighttpd >/dev/null 2>&1 || skip "lighttpd is not installed"
	PL_STATE=$(mktemp -d "${TMPDIR:-/tmp}/pushlite-e2e.XXXXXX")
	chmod 755 "$PL_STATE"
	PL_CONF=$PL_STATE/pushlite.conf
	PL_DB=$PL_STATE/pushlite.db
	export PL_STATE PL_CONF PL_DB
	pl_write_test_conf "$PL_CONF" "$PL_DB"
	"$PL_TOOLS/pushlite" --conf "$PL_CONF" init >/dev/null
	mkdir -p "$PL_STATE/site" "$PL_STATE/tmp"
	echo hello >"$PL_STATE/site/index.html"
	local sock
	sock=$(pl_sock_dir "$PL_STATE")
	sed -e "s|^var.PL_BIN .*|var.PL_BIN = \"$PL_BIN\"|" \
		-e "s|^var.PL_CONF .*|var.PL_CONF = \"$PL_CONF\"|" \
		-e "s|^var.PL_SOCK .*|var.PL_SOCK = \"$sock/pushlite\"|" \
		-e "s|^var.PL_ERRORS .*|var.PL_ERRORS = \"$PL_ROOT/errors/status-\"|" \
		"$PL_ROOT/lighttpd-conf/pushlite.conf" >"$PL_STATE/50-pushlite.conf"
	PL_PORT=$(pl_free_port)
	cat >"$PL_STATE/lighttpd.conf" <<CONF
server.modules = ( "mod_access", "mod_alias", "mod_indexfile" )
server.bind = "127.0.0.1"
server.port = $PL_PORT
server.document-root = "$PL_STATE/site"
server.errorlog = "$PL_STATE/lighttpd-error.log"
server.breakagelog = "$PL_STATE/breakage.log"
server.upload-dirs = ( "$PL_STATE/tmp" )
index-file.names = ( "index.html" )
include "$PL_STATE/50-pushlite.conf"
server.modules += ( "mod_staticfile" )
CONF
	pl_server_start lighttpd "$PL_STATE"
	pl_server_wait lighttpd "$PL_STATE" "$PL_PORT" 20 /push/health
	PL_URL="http://127.0.0.1:$PL_PORT"
	export PL_PORT PL_URL
}

teardown_file() { pl_teardown_server; }

@test "the shipped drop-in: health, publish, poll and admin through lighttpd" {
	pl_get /push/health
	pl_expect_status 200
	T=$(pl_topic)
	pl_pub "$T" "through the drop-in"
	pl_poll "topic=$T&since=all"
	pl_jq_true --argjson id "$PUB_ID" '[.messages[].id] == [$id]'
	pl_admin GET /push/admin/stats
	pl_expect_status 200
	pl_get /push/nothing-here
	pl_expect_error 404
	[ ! -s "$PL_STATE/breakage.log" ] || pl_fail "the programs logged: $(cat "$PL_STATE/breakage.log")"
}

@test "the drop-in's body limit holds under /push/ only, not for the server's other sites" {
	head -c 3000000 /dev/zero >"$BATS_TEST_TMPDIR/big"
	pl_publish "topic=/big" -H 'Content-Type: text/plain' --data-binary @"$BATS_TEST_TMPDIR/big"
	pl_expect_error 413
	# Another site's upload of 3 MB: lighttpd's default has no limit, so the
	# static file answers (405 or 200 by lighttpd's version), not 413.
	code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$BATS_TEST_TMPDIR/big" "$PL_URL/index.html")
	[ "$code" != 413 ] || pl_fail "a 3 MB upload to another site got 413: the drop-in capped the whole server"
}
