#!/usr/bin/env bats
# SPEC 1: the pushlite command-line tool on the host: help and usage
# mistakes, publish, stats, and tail following topics with the same wakeup
# as the long polls, ending when its reader goes away.

load helper

setup_file() { pl_setup_server; }
teardown_file() { pl_teardown_server; }

setup() { pl_need publish poll; }

cli() { "$PL_TOOLS/pushlite" --conf "$PL_CONF" "$@"; }

@test "--help for the tool and for each command: the usage on stdout, exit 0" {
	for args in "--help" "-h" "publish --help" "tail --help" "token --help" "init --help" "stats -h"; do
		# shellcheck disable=SC2086
		run "$PL_TOOLS/pushlite" --conf "$PL_CONF" $args
		[ "$status" = 0 ] || pl_fail "pushlite $args: exit $status: $output"
		[[ $output == usage:* ]] || pl_fail "pushlite $args: no usage: $output"
	done
	# the usage needs no config: not even a good one
	printf '[pushlite]\nnope = 1\n' >"$BATS_TEST_TMPDIR/bad.conf"
	for args in "--help" "publish --help" "token -h" "tail --help" "stats --help"; do
		# shellcheck disable=SC2086
		run "$PL_TOOLS/pushlite" --conf "$BATS_TEST_TMPDIR/bad.conf" $args
		[ "$status" = 0 ] && [[ $output == usage:* ]] || pl_fail "pushlite $args with a bad config: exit $status: $output"
	done
}

@test "--version of both tools; output that cannot be written (a full disk) is a failure, exit 1 and why" {
	local v
	v=$(sed -n 's/^AC_INIT(\[[^]]*\], *\[\([^]]*\)\].*/\1/p' "$PL_ROOT/configure.ac")
	[ -n "$v" ] || pl_fail "no version in configure.ac"
	run "$PL_TOOLS/pushlite" --version
	[ "$status" = 0 ] && [ "$output" = "pushlite $v" ] || pl_fail "pushlite --version: exit $status: $output"
	run "$PL_TOOLS/pushlite-purge" --version
	[ "$status" = 0 ] && [ "$output" = "pushlite-purge $v" ] || pl_fail "pushlite-purge --version: $status: $output"
	# the token, the id of a message stored, the purge's count: lost
	# where they could not be written, and a script must not go on
	T=$(pl_topic)
	"$PL_TOOLS/pushlite" --conf "$PL_CONF" publish "$T" stored >/dev/full 2>"$BATS_TEST_TMPDIR/err" && status=0 || status=$?
	[ "$status" = 1 ] && [ "$(wc -l <"$BATS_TEST_TMPDIR/err")" = 1 ] &&
		grep -q '^pushlite: publish: stored ({"id":[0-9]*,.*}), but writing that to the output failed: No space left on device$' \
			"$BATS_TEST_TMPDIR/err" || pl_fail "publish >/dev/full: exit $status: $(cat "$BATS_TEST_TMPDIR/err")"
	for args in "token --user a --secret abcdefghijklmnop" "stats" "--help" "--version"; do
		# shellcheck disable=SC2086
		"$PL_TOOLS/pushlite" --conf "$PL_CONF" $args >/dev/full 2>"$BATS_TEST_TMPDIR/err" && status=0 || status=$?
		[ "$status" = 1 ] && grep -q '^pushlite: writing the output: No space left on device$' "$BATS_TEST_TMPDIR/err" ||
			pl_fail "pushlite $args >/dev/full: exit $status: $(cat "$BATS_TEST_TMPDIR/err")"
	done
	"$PL_TOOLS/pushlite-purge" --conf "$PL_CONF" --dry-run >/dev/full 2>"$BATS_TEST_TMPDIR/err" && status=0 || status=$?
	[ "$status" = 1 ] && grep -q '^pushlite-purge: writing the output: No space left on device$' "$BATS_TEST_TMPDIR/err" ||
		pl_fail "pushlite-purge >/dev/full: exit $status: $(cat "$BATS_TEST_TMPDIR/err")"
	# --quiet writes nothing: nothing to lose
	"$PL_TOOLS/pushlite-purge" --conf "$PL_CONF" --dry-run --quiet >/dev/full || pl_fail "--quiet >/dev/full: exit $?"
	# the message itself was stored
	pl_poll "topic=$T&since=all"
	pl_jq_true '[.messages[].data] == ["stored"]'
}

@test "usage mistakes: one line that names the mistake, exit 2" {
	for args in "" "publish" "tail" "token" "stats extra" "init extra" "frobnicate" "publish --bogus /t x" \
		"tail --since" "token --user" "token --user a/b" "token --user bob --ttl soon" "publish /t one two" \
		"publish --type a --type b /t x" "tail --user a/b /t" "tail --user /t" \
		"token --user a --user b --secret abcdefghijklmnop" "tail --type a --type b /t" "stats --db x"; do
		# shellcheck disable=SC2086
		out=$(timeout 10 "$PL_TOOLS/pushlite" --conf "$PL_CONF" $args 2>&1 >/dev/null) && pl_fail "pushlite $args: exit 0"
		run timeout 10 "$PL_TOOLS/pushlite" --conf "$PL_CONF" $args
		[ "$status" = 2 ] || pl_fail "pushlite $args: exit $status, expected 2"
		[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || pl_fail "pushlite $args: not one line: $out"
		[[ $out == pushlite:* ]] || pl_fail "pushlite $args: $out"
	done
	# A config the web programs warn about (short tokens and secret): the
	# warnings are theirs to give, the mistake stays one line.
	local weak=$BATS_TEST_TMPDIR/weak.conf
	pl_write_pushlite_conf "$weak" "$PL_DB" s pt at ""
	for args in "init extra" "stats extra" "token --user"; do
		# shellcheck disable=SC2086
		out=$("$PL_TOOLS/pushlite" --conf "$weak" $args 2>&1 >/dev/null) && pl_fail "pushlite $args: exit 0"
		[ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || pl_fail "pushlite $args (weak tokens): not one line: $out"
	done
	out=$("$PL_TOOLS/pushlite" --conf "$weak" stats 2>&1 >/dev/null) || pl_fail "stats with weak tokens failed: $out"
	[ -z "$out" ] || pl_fail "stats with weak tokens wrote to stderr: $out"
	# Values with spaces or empty, which the loop above cannot pass.
	for v in "a b" ""; do
		run timeout 10 "$PL_TOOLS/pushlite" --conf "$PL_CONF" tail --user "$v" /t
		[ "$status" = 2 ] || pl_fail "tail --user '$v': exit $status, expected 2: $output"
	done
	run timeout 10 "$PL_TOOLS/pushlite" --conf "$PL_CONF" tail --type "" /t
	[ "$status" = 2 ] || pl_fail "tail --type '': exit $status, expected 2: $output"
	out=$("$PL_TOOLS/pushlite" --conf "$PL_CONF" frobnicate 2>&1) || true
	[[ $out == *frobnicate* ]] || pl_fail "the unknown command is not named: $out"
	out=$("$PL_TOOLS/pushlite" --conf "$PL_CONF" publish --bogus /t x 2>&1) || true
	[[ $out == *--bogus* ]] || pl_fail "the unknown option is not named: $out"
	out=$("$PL_TOOLS/pushlite" --conf "$PL_CONF" token --user a --user b 2>&1) || true
	[[ $out == *"given twice"* ]] || pl_fail "token --user twice: $out"
	out=$("$PL_TOOLS/pushlite" stats --db x 2>&1) || true
	[[ $out == *"--db go before the command"* ]] || pl_fail "stats --db: $out"
}

@test "publish from the CLI: a message the endpoint refuses is a usage mistake: its error on one stderr line, exit 2" {
	local args out err rc
	for args in "--ttl bogus /t x" "/bad//topic x" "--clients PC! /t x" "--json /t {nope"; do
		rc=0
		# shellcheck disable=SC2086
		out=$("$PL_TOOLS/pushlite" --conf "$PL_CONF" publish $args 2>"$BATS_TEST_TMPDIR/err") || rc=$?
		err=$(cat "$BATS_TEST_TMPDIR/err")
		[ "$rc" = 2 ] && [ -z "$out" ] && [[ $err == "pushlite: publish: bad_request: "?* ]] &&
			[ "$(wc -l <"$BATS_TEST_TMPDIR/err")" = 1 ] ||
			pl_fail "publish $args: exit $rc, stdout '$out', stderr '$err'"
	done
}

@test "publish from the CLI: stdin that cannot be read is a failure (exit 1, named), not an empty or cut text" {
	run "$PL_TOOLS/pushlite" --conf "$PL_CONF" publish /t <"$BATS_TEST_TMPDIR"
	[ "$status" = 1 ] && [[ $output == *"reading the text from stdin: Is a directory"* ]] ||
		pl_fail "exit $status: $output"
}

@test "publish from the CLI: 201's JSON on stdout, then polled like any message" {
	T=$(pl_topic)
	out=$(cli publish --type notice "$T" 'from the shell')
	id=$(printf '%s' "$out" | jq -r .id)
	[[ $id =~ ^[0-9]+$ ]] || pl_fail "no id: $out"
	pl_poll "topic=$T&since=all"
	pl_expect_status 200
	pl_jq_true --argjson id "$id" '.messages | length == 1 and .[0].id == $id and .[0].data == "from the shell" and .[0].type == "notice"'
}

@test "tail takes options after its topics; publish's TEXT may begin with '-' (its options go first)" {
	T=$(pl_topic)
	out=$(cli publish --type notice "$T" '-5 degrees')
	id=$(printf '%s' "$out" | jq -r .id)
	[[ $id =~ ^[0-9]+$ ]] || pl_fail "no id: $out"
	run timeout 10 sh -c "'$PL_TOOLS/pushlite' --conf '$PL_CONF' tail '$T' --since all | head -1"
	[ "$status" = 0 ] || pl_fail "tail TOPIC --since all: exit $status: $output"
	printf '%s' "$output" | jq_true --argjson id "$id" '.id == $id and .type == "notice" and .data == "-5 degrees"' >/dev/null ||
		pl_fail "tail after the topic's options: $output"
	run "$PL_TOOLS/pushlite" --conf "$PL_CONF" publish "$T" hi --type notice
	[ "$status" = 2 ] && [[ $output == *"options go before TOPIC"* ]] || pl_fail "publish with options late: $status $output"
	run "$PL_TOOLS/pushlite" --conf "$PL_CONF" publish -Z "$T" hi
	[ "$status" = 2 ] && [[ $output == *"unknown option -Z"* ]] || pl_fail "an unknown short option is not named: $output"
}

@test "tail never prints an expired message (not yet purged), like every endpoint" {
	T=$(pl_topic)
	cli publish --ttl 1 "$T" 'short-lived' >/dev/null
	sleep 1.2
	cli publish "$T" 'kept' >/dev/null
	run timeout 10 sh -c "'$PL_TOOLS/pushlite' --conf '$PL_CONF' tail --since all '$T' | head -1"
	[ "$status" = 0 ] || pl_fail "tail: exit $status: $output"
	[ "$(printf '%s' "$output" | jq -r .data)" = kept ] || pl_fail "tail printed: $output"
}

@test "a database that cannot be opened: exit 1 and one line that says why" {
	for cmd in init stats "publish /t x"; do
		# shellcheck disable=SC2086
		run "$PL_TOOLS/pushlite" --db /nonexistent-dir/x.db $cmd
		[ "$status" = 1 ] && [ "${#lines[@]}" = 1 ] && [[ $output == *"cannot open the database"* ]] ||
			pl_fail "pushlite $cmd: exit $status, ${#lines[@]} lines: $output"
	done
}

@test "publish, tail and stats to a database that does not exist: exit 1, nothing created (init creates it)" {
	local db=$BATS_TEST_TMPDIR/typo.db
	for cmd in "publish /t x" stats "tail --since all /t"; do
		# shellcheck disable=SC2086
		run timeout 10 "$PL_TOOLS/pushlite" --db "$db" $cmd
		[ "$status" = 1 ] && [ "${#lines[@]}" = 1 ] && [[ $output == *"no database there"*"pushlite init"* ]] ||
			pl_fail "pushlite $cmd: exit $status: $output"
		[ ! -e "$db" ] || pl_fail "pushlite $cmd created $db"
	done
	"$PL_TOOLS/pushlite" --db "$db" init >/dev/null || pl_fail "init"
	run "$PL_TOOLS/pushlite" --db "$db" publish /t x
	[ "$status" = 0 ] && [ "$(printf '%s' "$output" | jq -r .id)" = 1 ] || pl_fail "after init: exit $status: $output"
}

@test "--db with a config that cannot be loaded: init, stats and tail go on; publish and token still need it" {
	local db=$BATS_TEST_TMPDIR/nc.db bad=$BATS_TEST_TMPDIR/bad.conf
	printf '[pushlite]\nno_such_key = 1\n' >"$bad"
	run "$PL_TOOLS/pushlite" --conf "$bad" --db "$db" init
	[ "$status" = 0 ] && [ -f "$db" ] || pl_fail "init: exit $status: $output"
	"$PL_TOOLS/pushlite" --db "$db" publish /nc hello >/dev/null || pl_fail "publish with the default config"
	run "$PL_TOOLS/pushlite" --conf "$bad" --db "$db" stats
	[ "$status" = 0 ] && [ "$(printf '%s' "$output" | jq -r .rows)" = 1 ] || pl_fail "stats: exit $status: $output"
	run timeout 10 sh -c "'$PL_TOOLS/pushlite' --conf '$bad' --db '$db' tail --since all /nc | head -1"
	[ "$status" = 0 ] && [ "$(printf '%s' "$output" | jq -r .data)" = hello ] || pl_fail "tail: exit $status: $output"
	for cmd in "publish /nc x" "token --user bob" stats; do
		# shellcheck disable=SC2086
		if [ "$cmd" = stats ]; then run "$PL_TOOLS/pushlite" --conf "$bad" $cmd
		else run "$PL_TOOLS/pushlite" --conf "$bad" --db "$db" $cmd; fi
		[ "$status" = 2 ] && [ "${#lines[@]}" = 1 ] && [[ $output == *"bad.conf:2: unknown key 'no_such_key'"* ]] ||
			pl_fail "pushlite $cmd: exit $status: $output"
	done
	[ "$("$PL_TOOLS/pushlite" --db "$db" stats | jq -r .rows)" = 1 ] || pl_fail "a refused publish stored something"
}

@test "a database in a missing or unwritable directory: the one-line reason names the directory" {
	local conf=$BATS_TEST_TMPDIR/missing-dir.conf dir=$BATS_TEST_TMPDIR/no-such-dir
	pl_write_test_conf "$conf" "$dir/pushlite.db"
	for cmd in init stats; do
		run "$PL_TOOLS/pushlite" --conf "$conf" $cmd
		[ "$status" = 1 ] && [ "${#lines[@]}" = 1 ] && [[ $output == *"directory $dir does not exist"* ]] ||
			pl_fail "pushlite $cmd: exit $status: $output"
	done
	run env PUSHLITE_CONF="$conf" "$PL_TOOLS/pushlite-purge"
	[ "$status" = 1 ] && [ "${#lines[@]}" = 1 ] && [[ $output == *"directory $dir does not exist"* ]] ||
		pl_fail "pushlite-purge: exit $status: $output"

	# A directory the user may not write to: root's, for another user (root
	# may write anywhere), else our own made read-only.
	local ro=$PL_STATE/ro-dir bin=$PL_TOOLS/pushlite uid as=()
	rm -rf "$ro"
	mkdir -m 0755 "$ro"
	conf=$PL_STATE/ro-dir.conf
	pl_write_test_conf "$conf" "$ro/pushlite.db"
	if [ "$(id -u)" = 0 ]; then
		# that user must reach the program and the config: copies in the
		# state directory, which is open to all
		install -m 0755 "$PL_TOOLS/pushlite" "$PL_STATE/pushlite-copy"
		bin=$PL_STATE/pushlite-copy
		chmod 0644 "$conf"
		as=(runuser -u nobody --)
		uid=$(id -u nobody)
	else
		chmod 0555 "$ro"
		uid=$(id -u)
	fi
	run "${as[@]}" "$bin" --conf "$conf" init
	[ "$status" = 1 ] && [ "${#lines[@]}" = 1 ] &&
		[[ $output == *"directory $ro is not writable by this user (uid $uid)"* ]] ||
		pl_fail "pushlite init in a read-only directory: exit $status: $output"
}

@test "publish into a database the user may not write: one line with SQLite's reason, exit 1" {
	local dir=$PL_STATE/ro-db bin=$PL_TOOLS/pushlite conf=$PL_STATE/ro-db.conf as=()
	rm -rf "$dir"
	mkdir -m 0755 "$dir"
	pl_write_test_conf "$conf" "$dir/pushlite.db"
	"$PL_TOOLS/pushlite" --conf "$conf" init >/dev/null
	if [ "$(id -u)" = 0 ]; then
		# root may write anywhere: another user, who owns the directory
		# (so SQLite may make its -wal and -shm) but not the file
		install -m 0755 "$PL_TOOLS/pushlite" "$PL_STATE/pushlite-copy"
		bin=$PL_STATE/pushlite-copy
		chmod 0644 "$conf" "$dir/pushlite.db"
		chown nobody "$dir"
		as=(runuser -u nobody --)
	else
		chmod 0444 "$dir/pushlite.db"
	fi
	run "${as[@]}" "$bin" --conf "$conf" publish /ro text
	[ "$status" = 1 ] && [ "${#lines[@]}" = 1 ] && [[ $output == *"nothing was stored"*"readonly database"* ]] &&
		[[ $output == *"$dir/pushlite.db is not writable by this user (uid $(id -u "${as[2]:-$(id -un)}"))"* ]] ||
		pl_fail "publish into a read-only database: exit $status: $output"
}

@test "a tool run by a member of the database's group does not leave a -wal or -shm the programs cannot write" {
	[ "$(id -u)" = 0 ] || skip "needs root (to act as two users)"
	local dir=$PL_STATE/grp-db bin=$PL_STATE/pushlite-copy f pid
	install -m 0755 "$PL_TOOLS/pushlite" "$bin"
	rm -rf "$dir"
	# daemon's database, read by the group nogroup (nobody's): nobody's
	# -wal and -shm would be nobody's, 0640, and daemon could not write
	mkdir -m 0770 "$dir"
	chown daemon:nogroup "$dir"
	runuser -u daemon -- "$bin" --db "$dir/p.db" init >/dev/null || pl_fail "init as daemon"
	chgrp nogroup "$dir/p.db" "$dir/p.db.ids" 2>/dev/null || chgrp nogroup "$dir/p.db"
	runuser -u daemon -- "$bin" --db "$dir/p.db" publish /g one >/dev/null || pl_fail "publish as daemon"
	[ ! -e "$dir/p.db-wal" ] && [ ! -e "$dir/p.db-shm" ] || pl_fail "the -wal or -shm stayed after the publish"
	for args in "stats" "publish /g two" "tail --since all /g" "init"; do
		# shellcheck disable=SC2086
		run timeout 5 runuser -u nobody -- "$bin" --db "$dir/p.db" $args
		[ "$status" = 1 ] && [ "${#lines[@]}" = 1 ] &&
			[[ $output == *"would keep the programs from writing them; run as uid $(id -u daemon) or as root"* ]] ||
			pl_fail "$args as nobody: exit $status: $output"
		for f in "$dir"/*; do
			[ "$(stat -c %U "$f")" = daemon ] || pl_fail "$args as nobody left $f, $(stat -c %U:%G "$f")"
		done
	done
	run runuser -u daemon -- "$bin" --db "$dir/p.db" publish /g three
	[ "$status" = 0 ] || pl_fail "the owner's publish after them: exit $status: $output"
	# the group may write the database: its files in the group are as
	# writable as the database
	chmod 0660 "$dir/p.db"
	chmod g+s "$dir"
	run runuser -u nobody -- "$bin" --db "$dir/p.db" stats
	[ "$status" = 0 ] && [ "$(jq -r .rows <<<"$output")" = 2 ] || pl_fail "stats, group-writable: $status $output"
	# while the owner holds the database open, its -wal and -shm are
	# there, the owner's: nothing is made
	chmod 0640 "$dir/p.db"
	chmod g-s "$dir"
	(exec timeout 5 runuser -u daemon -- "$bin" --db "$dir/p.db" tail /g >/dev/null 2>&1) 3>&- &
	pid=$!
	for _ in $(seq 50); do [ -e "$dir/p.db-shm" ] && break; sleep 0.1; done
	run runuser -u nobody -- "$bin" --db "$dir/p.db" stats
	kill "$pid" 2>/dev/null
	wait "$pid" || true
	[[ $output != *"would keep the programs"* ]] || pl_fail "refused beside the owner's program: $status $output"
}

@test "init as root in another user's directory: the new database is that user's, who can publish into it" {
	[ "$(id -u)" = 0 ] || skip "needs root (the operator running pushlite init as root)"
	local dir=$PL_STATE/root-init conf=$PL_STATE/root-init.conf
	rm -rf "$dir"
	mkdir -m 0750 "$dir"
	chown nobody:nogroup "$dir"
	pl_write_test_conf "$conf" "$dir/pushlite.db"
	chmod 0644 "$conf"
	install -m 0755 "$PL_TOOLS/pushlite" "$PL_STATE/pushlite-copy"
	"$PL_TOOLS/pushlite" --conf "$conf" init >/dev/null
	[ "$(stat -c %U:%G "$dir/pushlite.db")" = nobody:nogroup ] ||
		pl_fail "the new database is $(stat -c %U:%G "$dir/pushlite.db"), not the directory's owner's"
	run runuser -u nobody -- "$PL_STATE/pushlite-copy" --conf "$conf" publish /ri text
	[ "$status" = 0 ] && [[ $output == *'"id":1,'* ]] || pl_fail "publish as the directory's owner: exit $status: $output"
	# root publishing afterwards leaves nothing of root's behind
	"$PL_TOOLS/pushlite" --conf "$conf" publish /ri again >/dev/null
	run find "$dir" -user root
	[ -z "$output" ] || pl_fail "files of root's: $output"
	run runuser -u nobody -- "$PL_STATE/pushlite-copy" --conf "$conf" publish /ri third
	[ "$status" = 0 ] && [[ $output == *'"id":3,'* ]] || pl_fail "publish after root's: exit $status: $output"
}

@test "a new database and its -wal, -shm and .ids are the user's and group's only, whatever the umask" {
	local d=$BATS_TEST_TMPDIR/modes u want f pid
	for u in 022 000 077; do
		rm -rf "$d"
		mkdir "$d"
		case $u in 022) want=640 ;; 000) want=660 ;; 077) want=600 ;; esac
		(umask "$u" && "$PL_TOOLS/pushlite" --db "$d/p.db" init >/dev/null) || pl_fail "init under umask $u"
		# a tail holds the database open: its -wal and -shm are there
		(umask "$u" && exec timeout 3 "$PL_TOOLS/pushlite" --db "$d/p.db" tail /m >/dev/null 2>&1) 3>&- &
		pid=$!
		(umask "$u" && "$PL_TOOLS/pushlite" --db "$d/p.db" publish /m text >/dev/null) || pl_fail "publish under umask $u"
		for _ in $(seq 50); do [ -e "$d/p.db-shm" ] && break; sleep 0.1; done
		for f in p.db p.db-wal p.db-shm p.db.ids; do
			[ -e "$d/$f" ] || pl_fail "umask $u: no $f"
			[ "$(stat -c %a "$d/$f")" = "$want" ] || pl_fail "umask $u: $f is $(stat -c %a "$d/$f"), not $want"
		done
		kill "$pid" 2>/dev/null
		wait "$pid" || true
	done
}

@test "init on a database the programs could not write (restored as root): exit 1 and why, not 'database ready'" {
	local dir=$PL_STATE/restored conf=$PL_STATE/restored.conf
	rm -rf "$dir"
	mkdir -m 0755 "$dir"
	pl_write_test_conf "$conf" "$dir/pushlite.db"
	"$PL_TOOLS/pushlite" --conf "$conf" init >/dev/null
	if [ "$(id -u)" = 0 ]; then
		# the directory is the web server's user's, the file stays root's
		chown nobody "$dir"
		want="$dir/pushlite.db belongs to uid 0, its directory $dir to uid $(id -u nobody)"
		mend=(chown nobody "$dir/pushlite.db")
	else
		chmod 0444 "$dir/pushlite.db"
		want="$dir/pushlite.db is not writable by this user (uid $(id -u))"
		mend=(chmod 0644 "$dir/pushlite.db")
	fi
	run "$PL_TOOLS/pushlite" --conf "$conf" init
	[ "$status" = 1 ] && [ "${#lines[@]}" = 1 ] && [[ $output == *"$want"* ]] ||
		pl_fail "init on a file the programs cannot write: exit $status: $output"
	"${mend[@]}"
	run "$PL_TOOLS/pushlite" --conf "$conf" init
	[ "$status" = 0 ] && [[ $output == "database ready: $dir/pushlite.db" ]] ||
		pl_fail "init once mended: exit $status: $output"
}

@test "init as root accepts a database the programs can write: a group's directory of root's, a symbolic link" {
	local top=$PL_STATE/owner-ok conf=$PL_STATE/owner-ok.conf
	[ "$(id -u)" = 0 ] || skip "the owners are root's to set"
	rm -rf "$top"
	mkdir -p "$top"
	# a directory root:GROUP 2775 whose file is the programs' user's
	install -d -o root -g nogroup -m 2775 "$top/group"
	pl_write_test_conf "$conf" "$top/group/pushlite.db"
	"$PL_TOOLS/pushlite" --conf "$conf" init >/dev/null
	chown nobody:nogroup "$top/group/pushlite.db"
	run "$PL_TOOLS/pushlite" --conf "$conf" init
	[ "$status" = 0 ] || pl_fail "init on a file of the group's user in root's group directory: exit $status: $output"
	# a link in a directory of root's to the file in the programs' user's
	install -d -o nobody "$top/data"
	mkdir "$top/etc"
	pl_write_test_conf "$conf" "$top/data/pushlite.db"
	"$PL_TOOLS/pushlite" --conf "$conf" init >/dev/null
	ln -s "$top/data/pushlite.db" "$top/etc/pushlite.db"
	pl_write_test_conf "$conf" "$top/etc/pushlite.db"
	run "$PL_TOOLS/pushlite" --conf "$conf" init
	[ "$status" = 0 ] || pl_fail "init through a link to a file its directory's owner has: exit $status: $output"
}

@test "a database file the user may not read (chmod 000): the one-line reason names the file and the user" {
	local dir=$PL_STATE/noperm-db bin=$PL_TOOLS/pushlite conf=$PL_STATE/noperm-db.conf as=() uid
	rm -rf "$dir"
	mkdir -m 0755 "$dir"
	pl_write_test_conf "$conf" "$dir/pushlite.db"
	"$PL_TOOLS/pushlite" --conf "$conf" init >/dev/null
	chmod 000 "$dir/pushlite.db"
	uid=$(id -u)
	if [ "$uid" = 0 ]; then
		# root reads anything: another user, who owns the directory
		install -m 0755 "$PL_TOOLS/pushlite" "$PL_STATE/pushlite-copy"
		bin=$PL_STATE/pushlite-copy
		chmod 0644 "$conf"
		chown nobody "$dir"
		as=(runuser -u nobody --)
		uid=$(id -u nobody)
	fi
	for cmd in stats "publish /np text"; do
		# shellcheck disable=SC2086
		run "${as[@]}" "$bin" --conf "$conf" $cmd
		[ "$status" = 1 ] && [ "${#lines[@]}" = 1 ] &&
			[[ $output == *"$dir/pushlite.db is not readable by this user (uid $uid)"* ]] ||
			pl_fail "pushlite $cmd: exit $status: $output"
	done
}

@test "token: libcrypto without HMAC (only OpenSSL's null provider) is a signing failure named as such, exit 1" {
	printf '%s\n' 'openssl_conf = init' '[init]' 'providers = provs' '[provs]' 'null = nul' '[nul]' 'activate = 1' \
		>"$BATS_TEST_TMPDIR/null.cnf"
	OPENSSL_CONF=$BATS_TEST_TMPDIR/null.cnf run "$PL_TOOLS/pushlite" --conf "$PL_CONF" token --user bob \
		--secret 0123456789abcdef0123
	[ "$status" = 1 ] && [[ $output == *"EVP_MAC_fetch HMAC failed"* ]] && [[ $output == *"signing failed"* ]] ||
		pl_fail "exit $status: $output"
}

@test "token: an empty --secret is refused (the programs would refuse its tokens)" {
	run "$PL_TOOLS/pushlite" --conf "$PL_CONF" token --user bob --secret ''
	[ "$status" = 1 ] && [ "${#lines[@]}" = 1 ] || pl_fail "exit $status: $output"
}

@test "stats from the CLI: the admin stats' fields" {
	out=$(cli stats)
	printf '%s' "$out" | jq_true '([.rows, .oldest_id, .newest_id, .db_bytes, .wal_bytes, .waiting,
		.publishes_last_minute] | all(type == "number")) and (.push | type == "boolean")' >/dev/null ||
		pl_fail "stats: $out"
}

# tail_now TOPIC: pushlite tail of TOPIC in the background from the cursor
# of now, whenever it gets to its first read; its output in $out, its pid in
# tp (not through cli(): $! must be the tool itself, not a subshell).
tail_now() {
	out=$BATS_TEST_TMPDIR/tail.out
	pl_poll "topic=/&since=now"
	c=$(pl_json .cursor)
	"$PL_TOOLS/pushlite" --conf "$PL_CONF" tail --since "$c" "$1" >"$out" 2>"$BATS_TEST_TMPDIR/tail.err" 3>&- &
	tp=$!
}

@test "tail follows a subtree as NDJSON, woken by a publish over HTTP, and skips other topics" {
	T=$(pl_topic)
	tail_now "$T"
	pl_pub "$T-other" 'not mine'
	pl_pub "$T/sub" 'mine'
	wait_for 3 grep -q '"mine"' "$out" || { kill "$tp"; pl_fail "tail printed nothing in 3 s: $(cat "$out" "$BATS_TEST_TMPDIR/tail.err")"; }
	kill -TERM "$tp"
	wait "$tp" || pl_fail "tail exit $? on SIGTERM"
	[ "$(wc -l <"$out")" = 1 ] || pl_fail "expected one line: $(cat "$out")"
	jq_true --arg t "$T/sub" '.topic == $t and .data == "mine"' "$out" >/dev/null || pl_fail "line: $(cat "$out")"
}

@test "tail | head -1 ends at once, with a backlog or while idle" {
	T=$(pl_topic)
	for i in 1 2 3; do pl_pub "$T" "m$i"; done
	# A backlog larger than one line: head leaves after the first.
	run timeout 10 sh -c "'$PL_TOOLS/pushlite' --conf '$PL_CONF' tail --since all '$T' | head -1"
	[ "$status" = 0 ] || pl_fail "tail --since all | head -1: exit $status (124: still running after 10 s)"
	[[ $output == *'"m1"'* ]] || pl_fail "first line: $output"
	# Idle after its one line: tail must notice that head left without
	# waiting for another commit.
	pl_poll "topic=/&since=now"
	c=$(pl_json .cursor)
	timeout 10 sh -c "'$PL_TOOLS/pushlite' --conf '$PL_CONF' tail --since '$c' '$T' | head -1 >'$BATS_TEST_TMPDIR/idle'" 3>&- &
	pipe=$!
	sleep 0.5       # idle by then, as a rule; --since keeps the line if not
	pl_pub "$T" 'the one line'
	t0=$(pl_now_ms)
	wait "$pipe" || pl_fail "tail | head -1 while idle: exit $? (124: tail still running after 10 s)"
	grep -q '"the one line"' "$BATS_TEST_TMPDIR/idle" || pl_fail "head got: $(cat "$BATS_TEST_TMPDIR/idle")"
	(( $(pl_now_ms) - t0 < 5000 )) || pl_fail "the pipeline took $(( $(pl_now_ms) - t0 )) ms to end"
}

tail_printed() {  # tail_printed FILE ID: the last line is "after" with that id
	tail -n 1 "$1" | jq_true --argjson id "$2" '.data == "after" and .id == $id' >/dev/null 2>&1
}

# Last in this file: it starts the database over.
@test "tail follows the database at the configured path when it is deleted and made again" {
	T=$(pl_topic)
	tail_now "$T"
	pl_pub "$T" before
	wait_for 3 grep -q '"before"' "$out" || { kill "$tp"; pl_fail "tail printed nothing: $(cat "$out")"; }
	rm -f "$PL_DB-wal" "$PL_DB-shm" "$PL_DB"
	cli init >/dev/null || { kill "$tp"; pl_fail "pushlite init"; }
	pl_state_owner "$PL_SERVER" "$(dirname "$PL_DB")"
	wait_for 10 publish_ok "$T" after || { kill "$tp"; pl_show; pl_fail "publishing did not come back"; }
	# Acknowledged: in the new file, where a new reader finds it.
	id=$(pl_json .id)
	[ "$(sqlite3 "$PL_DB" "SELECT count(*) FROM messages WHERE id = $id AND topic = '$T'")" = 1 ] ||
		{ kill "$tp"; pl_fail "201 for a message that is not in the database file"; }
	# The acknowledged one (a try refused with 503 may have gone into the
	# deleted file, where the tail could see it first).
	wait_for 5 tail_printed "$out" "$id" ||
		{ kill "$tp"; pl_fail "tail kept the deleted file: $(cat "$out" "$BATS_TEST_TMPDIR/tail.err")"; }
	kill -TERM "$tp"
	wait "$tp" || pl_fail "tail exit $? on SIGTERM"
}
