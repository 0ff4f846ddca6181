#!/usr/bin/env bats
# Subscribers logged in by the web server (SPEC 4, identity: REMOTE_USER):
# the optional login blocks of the drop-in configs (lighttpd's mod_auth,
# Apache's mod_auth_basic) over poll, longpoll and stream, on the tested
# server. The web server's own 401 is a JSON error like every pushlite
# error; a logged-in user gets their own and broadcast messages, never
# another user's, whatever token the request carries.

load helper

LG_USERS=

setup_file() {
	LG_USERS=$(mktemp -d "${TMPDIR:-/tmp}/pushlite-login.XXXXXX")
	chmod 755 "$LG_USERS"
	htpasswd -cbm "$LG_USERS/users" alice alice-pw >/dev/null 2>&1 &&
		htpasswd -bm "$LG_USERS/users" bob bob-pw >/dev/null 2>&1 || {
		echo "htpasswd (apache2-utils) failed" >&2
		return 1
	}
	chmod 644 "$LG_USERS/users"
	local m
	case $PL_SERVER in
	lighttpd)
		PL_SERVER_EXTRA='server.modules += ( "mod_auth", "mod_authn_file" )
auth.backend = "htpasswd"
auth.backend.htpasswd.userfile = "'"$LG_USERS/users"'"
auth.require = (
	"/push/poll" => ( "method" => "basic", "realm" => "pushlite", "require" => "valid-user" ),
	"/push/longpoll" => ( "method" => "basic", "realm" => "pushlite", "require" => "valid-user" ),
	"/push/stream" => ( "method" => "basic", "realm" => "pushlite", "require" => "valid-user" ),
)'
		;;
	apache | apache-proxy)
		m=$(pl_apache_moddir)
		PL_SERVER_EXTRA="LoadModule auth_basic_module $m/mod_auth_basic.so
LoadModule authn_file_module $m/mod_authn_file.so
LoadModule authz_user_module $m/mod_authz_user.so
<LocationMatch \"^/push/(poll|longpoll|stream)\">
	AuthType Basic
	AuthName pushlite
	AuthBasicProvider file
	AuthUserFile $LG_USERS/users
	Require valid-user
</LocationMatch>"
		;;
	esac
	export PL_SERVER_EXTRA LG_USERS
	pl_setup_server
}

teardown_file() {
	pl_teardown_server
	[ -z "${LG_USERS-}" ] || rm -rf "$LG_USERS"
}

setup() { pl_need publish poll longpoll stream admin; }

@test "without a login, or with a wrong password: the web server's 401 is a JSON error with its challenge" {
	T=$(pl_topic)
	for p in "/push/poll?topic=$T" "/push/longpoll?topic=$T&timeout=1" "/push/stream?topic=$T&format=ndjson"; do
		for cred in "" "-u alice:wrong"; do
			# shellcheck disable=SC2086
			pl_get "$p" --max-time 5 $cred
			pl_expect_error 401 || pl_fail "$p ${cred:-without a login}"
			[ "$(pl_json .error)" = unauthorized ] || { pl_show; pl_fail "$p: error code $(pl_json .error)"; }
			pl_expect_no_store
			pl_hdr WWW-Authenticate | grep -qi '^basic' ||
				{ pl_show; pl_fail "$p: no Basic challenge with the 401"; }
			pl_hdr Content-Type | grep -q '^application/json' ||
				{ pl_show; pl_fail "$p: the 401 is not JSON"; }
		done
	done
}

@test "logged in: each user gets their own and broadcast messages by poll, longpoll and stream, and a token does not change who they are" {
	T=$(pl_topic)
	for u in alice bob; do
		pl_req POST "/push/publish?topic=$T&user=$u" -H "Authorization: Bearer $PL_PUB_TOKEN" \
			-H 'Content-Type: text/plain' --data-binary "for-$u"
		pl_expect_status 201
		eval "id_$u=\$(pl_json .id)"
	done
	a=$id_alice b=$id_bob
	pl_pub "$T" for-all
	c=$PUB_ID
	bob_token=$(pl_make_token bob $(( $(date +%s) + 600 )))
	for who in alice bob; do
		want="$a $c"
		[ "$who" = bob ] && want="$b $c"
		for extra in "" "&token=$bob_token"; do
			pl_poll "topic=$T&since=all$extra" -u "$who:$who-pw"
			pl_expect_status 200
			[ "$(pl_ids)" = "$want" ] || { pl_show; pl_fail "poll as $who ($extra): $(pl_ids), expected $want"; }
			pl_get "/push/longpoll?topic=$T&since=0&timeout=5$extra" -u "$who:$who-pw"
			pl_expect_status 200
			[ "$(pl_ids)" = "$want" ] || { pl_show; pl_fail "longpoll as $who: $(pl_ids), expected $want"; }
		done
		out=$BATS_TEST_TMPDIR/stream.$who
		curl -sS -N -g --max-time 3 -u "$who:$who-pw" -o "$out" \
			"$PL_URL/push/stream?topic=$T&since=all&format=ndjson&token=$bob_token" 3>&- || true
		got=$(jq -r 'select(.id) | .id' "$out" | tr '\n' ' ')
		[ "$got" = "$want " ] || { cat "$out" >&2; pl_fail "stream as $who: $got, expected $want"; }
	done
}
