#!/usr/bin/env bats
# When a program is down, the web server answers for it (503: nothing
# listens on the program's socket): with the JSON body of errors/, not the
# server's HTML page. Under mod_proxy_fcgi a killed program stays down until
# the host's supervisor restarts it, so the answer can be seen at leisure;
# lighttpd and mod_fcgid restart it at once, and crash.bats checks their
# bodies while publishers run.

load helper
load reliability

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

@test "a program that is down: the web server's 503 carries a JSON error body, no-store, Retry-After" {
	[ "$PL_SERVER" = apache-proxy ] || skip "$PL_SERVER restarts a killed program at once (crash.bats covers it)"
	pl_need poll publish
	pl_poll "topic=/down"
	pl_expect_status 200
	pids=$(rl_prog_pids poll)
	[ -n "$pids" ] || pl_fail "no poll process found"
	# shellcheck disable=SC2086
	kill -KILL $pids
	pl_poll "topic=/down"
	pl_expect_error 503
	pl_jq_true '.error == "unavailable"'
	pl_expect_no_store
	pl_hdr Retry-After >/dev/null || { pl_show; pl_fail "no Retry-After"; }
	# A POST to the stopped program gets the same body (Apache fetches the
	# error document with a GET of its own).
	pl_req POST "/push/poll?topic=/down" --data-binary x
	pl_expect_error 503
	pl_jq_true '.error == "unavailable"'
	# The other programs go on answering.
	pl_pub /down x
}
