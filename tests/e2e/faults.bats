#!/usr/bin/env bats
# SPEC 7: storage faults. While the database directory is read-only, the
# disk is full, or the database file is deleted or corrupted, publish
# answers 201 (and then the message is really kept) or 503 with Retry-After
# and a JSON error; no program crashes; /push/health still answers; the
# error is logged once per condition, not once per request; and once the
# fault is removed, publishing works again.
#
# As root, permission bits do not stop writes: the read-only fault uses
# chattr +i (immutable: refuses writes even through descriptors already
# open), the full disk a small tmpfs. Both need root (CAP_LINUX_IMMUTABLE,
# CAP_SYS_ADMIN); the tests skip otherwise.

load helper
load reliability

N=40   # requests sent during each fault

setup() {
	pl_need publish poll admin
	RL_MNT=""
	RL_IMMUTABLE=""
	pl_setup_server
}

teardown() {
	# Undo the fault whatever happened, then stop the server.
	if [ -n "${RL_IMMUTABLE-}" ]; then
		# shellcheck disable=SC2086
		chattr -i $RL_IMMUTABLE 2>/dev/null || true
	fi
	pl_teardown_server
	if [ -n "${RL_MNT-}" ]; then
		umount "$RL_MNT" 2>/dev/null || umount -l "$RL_MNT" 2>/dev/null || true
		rmdir "$RL_MNT" 2>/dev/null || true
	fi
}

# during_fault TOPIC TAG: N publishes and N health checks; every answer is
# one that is allowed. Sets N201, N503; the acknowledged ones go to
# $BATS_TEST_TMPDIR/acked as "ok ID DATA" (the format of rl_check_acked).
during_fault() {
	local topic=$1 tag=$2 i rc
	N201=0 N503=0
	for i in $(seq 1 "$N"); do
		rc=0
		rl_pub_probe "$topic" "$tag-$i" || rc=$?
		case $rc in
		0) N201=$(( N201 + 1 )); echo "ok $(pl_json .id) $tag-$i" >>"$BATS_TEST_TMPDIR/acked" ;;
		1) N503=$(( N503 + 1 )) ;;
		*) return 1 ;;
		esac
		pl_get /push/health
		case $HTTP_STATUS in
		200) pl_expect_json ;;
		503) pl_expect_error 503 && pl_hdr Retry-After >/dev/null ||
			pl_fail "health 503 without Retry-After" ;;
		*) pl_show; pl_fail "health during the fault: $HTTP_STATUS" ;;
		esac
		pl_poll "topic=$topic&since=all&limit=1"
		pl_expect_status 200 503
	done
}

# programs_alive: every program of the server still runs (nothing crashed:
# lighttpd would have had to restart it; its error log says so).
no_crash() {
	local n
	n=$(cat "$PL_STATE/lighttpd-error.log" "$PL_STATE/apache-error.log" 2>/dev/null |
		grep -ciE 'child (exited|signaled)|signal [0-9]+|core dumped|segfault|abort' || true)
	[ "${n:-0}" = 0 ] || pl_fail "a program died: $(cat "$PL_STATE/lighttpd-error.log" "$PL_STATE/apache-error.log" 2>/dev/null | grep -iE 'child (exited|signaled)|signal|core|segfault|abort' | head -3)"
}

# check_logged BEFORE: the error log gained at least one line about the
# database, and at most one per worker (2 publish processes x 4 threads,
# plus poll's and admin's) -- not one per request (3 x N were sent).
check_logged() {
	local before=$1 after grown
	after=$(rl_errlog_lines "$PL_DB")
	grown=$(( after - before ))
	LOGGED=$grown
	(( grown >= 1 )) || pl_fail "the fault was not logged (no line naming $PL_DB)"
	(( grown <= 24 )) || {
		cat "$PL_STATE/lighttpd-error.log" "$PL_STATE/apache-error.log" 2>/dev/null | grep -F "$PL_DB" | tail -5 >&2
		pl_fail "logged $grown lines for $(( 3 * N )) requests: not once per condition"
	}
}

acked_kept() {
	[ -s "$BATS_TEST_TMPDIR/acked" ] || { echo 0; return 0; }
	rl_dump_topic "$1" "$BATS_TEST_TMPDIR/dump"
	rl_check_acked "$BATS_TEST_TMPDIR/acked" "$BATS_TEST_TMPDIR/dump"
}

@test "read-only database (chattr +i on directory and files): 503 + Retry-After, logged once, works again after" {
	command -v chattr >/dev/null || skip "chattr is not installed"
	rl_move_db "$PL_STATE/db"
	T=/fault/ro
	pl_pub "$T" before
	sqlite3 "$PL_DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
	RL_IMMUTABLE="$PL_STATE/db $(ls -d "$PL_DB"*)"
	before=$(rl_errlog_lines "$PL_DB")
	# shellcheck disable=SC2086
	chattr +i $RL_IMMUTABLE || skip "chattr +i is not permitted here"
	during_fault "$T" ro
	(( N503 > 0 )) || pl_fail "no 503 while the database was read-only ($N201 answered 201)"
	check_logged "$before"
	no_crash
	# shellcheck disable=SC2086
	chattr -i $RL_IMMUTABLE
	RL_IMMUTABLE=""
	wait_for 15 publish_ok "$T" after || { pl_show; pl_fail "publishing did not come back"; }
	kept=$(acked_kept "$T")
	rl_integrity
	rl_note "read-only: $N publishes -> $N201 x 201, $N503 x 503; $LOGGED log lines for $(( 3 * N )) requests; $kept acknowledged kept"
}

@test "read-only database once its -shm was written back (sync): 503 + Retry-After, no program killed (SIGBUS) in the middle of a commit" {
	command -v chattr >/dev/null || skip "chattr is not installed"
	rl_move_db "$PL_STATE/db"
	T=/fault/ro-synced
	pl_pub "$T" before
	# SQLite writes the -shm through a shared mapping: a page written
	# back is write-protected again, and its next store faults; on an
	# immutable file that fault is SIGBUS.
	sync -f "$PL_DB-shm"
	RL_IMMUTABLE="$PL_STATE/db $(ls -d "$PL_DB"*)"
	# shellcheck disable=SC2086
	chattr +i $RL_IMMUTABLE || skip "chattr +i is not permitted here"
	during_fault "$T" ro
	(( N503 > 0 )) || pl_fail "no 503 while the database was read-only ($N201 answered 201)"
	no_crash
	# shellcheck disable=SC2086
	chattr -i $RL_IMMUTABLE
	RL_IMMUTABLE=""
	wait_for 15 publish_ok "$T" after || { pl_show; pl_fail "publishing did not come back"; }
	acked_kept "$T" >/dev/null
	rl_integrity
}

@test "disk full (a small tmpfs for the database, filled): 503 + Retry-After, logged once, works again after" {
	RL_MNT=$(mktemp -d "${TMPDIR:-/tmp}/pushlite-full.XXXXXX")
	mount -t tmpfs -o size=3m tmpfs "$RL_MNT" 2>/dev/null || { rmdir "$RL_MNT"; RL_MNT=""; skip "cannot mount a tmpfs here"; }
	rl_move_db "$RL_MNT"
	T=/fault/full
	pl_pub "$T" before
	# Fill the file system; leave nothing.
	dd if=/dev/zero of="$RL_MNT/fill" bs=64k 2>/dev/null || true
	before=$(rl_errlog_lines "$PL_DB")
	# Messages of 60 KB: the WAL must grow.
	big=$(head -c 60000 /dev/zero | tr '\0' x)
	N201=0 N503=0
	for i in $(seq 1 "$N"); do
		rc=0
		rl_pub_probe "$T" "full-$i-$big" || rc=$?
		case $rc in
		0) N201=$(( N201 + 1 )); echo "ok $(pl_json .id) full-$i" >>"$BATS_TEST_TMPDIR/acked.ids" ;;
		1) N503=$(( N503 + 1 )) ;;
		*) false ;;
		esac
		pl_get /push/health
		pl_expect_status 200 503
	done
	(( N503 > 0 )) || pl_fail "no 503 with a full disk ($N201 answered 201)"
	check_logged "$before"
	no_crash
	rm -f "$RL_MNT/fill"
	wait_for 15 publish_ok "$T" after || { pl_show; pl_fail "publishing did not come back"; }
	# every 201 during the fault is stored, with its data
	sqlite3 "$PL_DB" 'SELECT id FROM messages' >"$BATS_TEST_TMPDIR/ids"
	while read -r _ id _; do
		grep -qx "$id" "$BATS_TEST_TMPDIR/ids" || pl_fail "id $id was answered 201 but is not stored"
	done < <(cat "$BATS_TEST_TMPDIR/acked.ids" 2>/dev/null)
	rl_integrity
	rl_note "disk full: $N publishes of 60 KB -> $N201 x 201, $N503 x 503; $LOGGED log lines for $(( 2 * N )) requests"
}

# big_publishes TOPIC: 12 messages of 600 KB, enough WAL for the publish
# process to checkpoint (its checkpoint thread opens its own connection).
big_publishes() {
	head -c 600000 /dev/zero | tr '\0' 'x' >"$BATS_TEST_TMPDIR/big"
	for i in $(seq 12); do
		pl_publish "topic=$1" -H 'Content-Type: text/plain' --data-binary @"$BATS_TEST_TMPDIR/big"
		pl_expect_status 201 || return 1
	done
}

@test "database file deleted while running: no 201 for a message that is not in the database file; recovers after pushlite init" {
	T=/fault/deleted
	pl_pub "$T" before
	big_publishes "$T"
	before=$(rl_errlog_lines "$PL_DB")
	rm -f "$PL_DB" "$PL_DB-wal" "$PL_DB-shm"
	during_fault "$T" del
	no_crash
	# A 201 means kept: each acknowledged message must be in the file the
	# configuration names, where every new process and pushlite-purge look.
	lost=0
	if [ -s "$BATS_TEST_TMPDIR/acked" ]; then
		while read -r _ id data; do
			got=$(sqlite3 "$PL_DB" "SELECT count(*) FROM messages WHERE id = $id" 2>/dev/null || echo 0)
			[ "$got" = 1 ] || lost=$(( lost + 1 ))
		done <"$BATS_TEST_TMPDIR/acked"
	fi
	rl_note "deleted database: $N publishes -> $N201 x 201, $N503 x 503; $lost of the 201s are in no file at the configured path"
	(( lost == 0 )) || pl_fail "$lost of $N201 publishes answered 201 after the database file was deleted are not in $PL_DB (written to the unlinked file: lost at the next restart)"
	# Recovery: the operator recreates the database.
	"$PL_TOOLS/pushlite" --conf "$PL_CONF" init >/dev/null 2>&1 || true
	wait_for 15 publish_ok "$T" after || { pl_show; pl_fail "publishing did not come back after pushlite init"; }
	pl_poll "topic=$T&since=all"
	pl_jq_true '[.messages[].data] | index("after") != null'
	# Nothing holds the deleted file: its space is freed, and the new
	# file's WAL is the one checkpointed.
	big_publishes "$T"
	sleep 1.5
	big_publishes "$T"
	for p in $(rl_prog_pids publish); do
		held=$(find "/proc/$p/fd" -lname "$PL_DB*(deleted)" 2>/dev/null | wc -l)
		[ "$held" = 0 ] || { ls -l "/proc/$p/fd" >&3; pl_fail "publish process $p still holds the deleted database ($held descriptors)"; }
	done
}

# sees_after EP TOPIC: EP (poll or longpoll) at since=0 answers the message
# "after" now.
sees_after() {
	pl_get "/push/$1?topic=$2&since=0&timeout=0"
	[ "$HTTP_STATUS" = 200 ] && pl_jq_true '[.messages[].data] | index("after") != null' 2>/dev/null
}

@test "database deleted with its -wal and -shm one after the other while running: no program keeps the old index and misses new messages" {
	pl_need longpoll
	local i
	T=/fault/split
	pl_pub "$T" before
	rm -f "$PL_DB"
	# Requests for over a second (a program looks for a replaced file at
	# most once a second): each program opens a new database while the old
	# -wal and -shm are still there, as they are for a moment during rm.
	for i in $(seq 1 15); do
		pl_get "/push/longpoll?topic=$T&timeout=0"
		pl_poll "topic=$T&since=all"
		sleep 0.1
	done
	rm -f "$PL_DB-wal" "$PL_DB-shm"
	"$PL_TOOLS/pushlite" --conf "$PL_CONF" init >/dev/null || pl_fail "pushlite init"
	pl_state_owner "$PL_SERVER" "$(dirname "$PL_DB")"
	wait_for 10 publish_ok "$T" after || { pl_show; pl_fail "publishing did not come back"; }
	wait_for 5 sees_after poll "$T" || { pl_show; pl_fail "poll does not see the new message"; }
	wait_for 5 sees_after longpoll "$T" || { pl_show; pl_fail "longpoll does not see the new message"; }
	# Every process: a few more of each, none may answer from the old index.
	for i in 1 2 3 4 5 6; do
		sees_after poll "$T" || { pl_show; pl_fail "a poll process does not see the new message"; }
		sees_after longpoll "$T" || { pl_show; pl_fail "a longpoll process does not see the new message"; }
	done
}

# A publisher answered 503 sends the message again: if the refused one had
# been committed anyway (into the unlinked file, whose held subscribers still
# read it), they would get it twice, under two ids.
@test "database recreated while running: the next publish goes into the new file, and a held long poll never gets a message whose publish was refused" {
	pl_need longpoll
	local lp=$BATS_TEST_TMPDIR/lp i st
	T=/fault/recreated
	pl_pub "$T" before
	curl -sS -g --max-time 10 -o "$lp" "$PL_URL/push/longpoll?topic=$T&since=$PUB_ID&timeout=6" 3>&- &
	LP=$!
	wait_for 10 waiting_ge 1 || pl_fail "the long poll is not held"
	# Each publish process has just looked at the files (another topic:
	# the long poll keeps waiting); the recreation comes within a second.
	for i in 1 2 3 4 5 6; do pl_pub /fault/other "warm$i"; done
	rm -f "$PL_DB" "$PL_DB-wal" "$PL_DB-shm"
	"$PL_TOOLS/pushlite" --conf "$PL_CONF" init >/dev/null || pl_fail "pushlite init"
	pl_state_owner "$PL_SERVER" "$(dirname "$PL_DB")"
	pl_publish "topic=$T" -H 'Content-Type: text/plain' --data-binary fresh
	st=$HTTP_STATUS
	[ "$st" = 201 ] || { pl_show; pl_fail "the first publish into the recreated database: $st"; }
	id=$(pl_json .id)
	[ "$(sqlite3 "$PL_DB" "SELECT count(*) FROM messages WHERE id = $id AND topic = '$T'")" = 1 ] ||
		pl_fail "201 for a message that is not in the new file"
	wait "$LP" || pl_fail "the long poll did not answer"
	BODY=$(cat "$lp")
	pl_jq_true --argjson id "$id" '[.messages[] | select(.data == "fresh" and .id != $id)] | length == 0' ||
		pl_fail "the held long poll got 'fresh' under an id of the deleted file"
}

# file_alone_has TOPIC N: a copy of the database file without its -wal holds
# N messages of TOPIC (ALONE: what it holds, or sqlite3's error).
file_alone_has() {
	local copy=$BATS_TEST_TMPDIR/alone.db
	rm -f "$copy" "$copy-wal" "$copy-shm"
	cp "$PL_DB" "$copy" || return 1
	ALONE=$(sqlite3 "$copy" "SELECT count(*) FROM messages WHERE topic = '$1'" 2>&1)
	[ "$ALONE" = "$2" ]
}

@test "a few publishes do not stay in the -wal alone: within seconds the database file holds them" {
	T=/fault/alone
	pl_pub "$T" one
	pl_pub "$T" two
	pl_pub "$T" three
	# SQLite's own threshold (1,000 pages) kept them in the WAL until much
	# more was published: a -wal deleted by mistake took them with it.
	wait_for 5 file_alone_has "$T" 3 || pl_fail "the database file alone has $ALONE of 3 messages after 5 s"
}

# pub_loop TOPIC SECONDS [IDS]: publish one message after another for
# SECONDS; the id of each 201 is appended to IDS.
pub_loop() {
	local end=$(( SECONDS + $2 )) ids=${3:-/dev/null}
	while (( SECONDS < end )); do
		curl -s --max-time 10 -H "Authorization: Bearer $PL_PUB_TOKEN" -d x \
			"$PL_URL/push/publish?topic=$1" | grep -o '^{"id":[0-9]*' | cut -d: -f2 >>"$ids" || true
	done
}

@test "-wal removed under publishing: no id answered 201 is given again (ids continue above every id answered)" {
	local i pids="" ids=$BATS_TEST_TMPDIR/ids dups n
	T=/fault/reuse
	for i in 1 2 3 4 5 6; do
		pub_loop "$T/l$i" 4 "$ids.$i" 3>&- &
		pids="$pids $!"
	done
	sleep 2
	rm -f "$PL_DB-wal" "$PL_DB-shm"
	# shellcheck disable=SC2086
	wait $pids
	cat "$ids".* >"$ids"
	n=$(wc -l <"$ids")
	(( n > 100 )) || pl_fail "only $n publishes answered 201"
	dups=$(sort -n "$ids" | uniq -d | head -5 | tr '\n' ' ')
	[ -z "$dups" ] || pl_fail "ids answered 201 twice (given again after the -wal went): $dups"
	rl_integrity
}

@test "-wal and -shm removed under publishing, twice in a row and three times over: publishing comes back each time without a restart" {
	local round i pids
	T=/fault/sides
	for round in 1 2 3; do
		pids=""
		for i in 1 2 3 4; do
			pub_loop "$T/l$i" 4 3>&- &
			pids="$pids $!"
		done
		sleep 1.5
		rm -f "$PL_DB-wal" "$PL_DB-shm"
		sleep 0.5
		for i in 1 2 3 4 5; do publish_ok "$T" "between-$round-$i" || true; done
		pl_poll "topic=$T&since=now"
		rm -f "$PL_DB-wal" "$PL_DB-shm"
		# shellcheck disable=SC2086
		wait $pids
		# A publish process whose checkpoint thread kept the deleted
		# index made every later open fail, and answered 503 until the
		# web server was restarted.
		wait_for 10 publish_ok "/fault/after$round" after ||
			{ pl_show; rl_show_log; pl_fail "round $round: publishing did not come back"; }
		wait_for 5 sees_after poll "/fault/after$round" ||
			{ pl_show; pl_fail "round $round: poll does not see it"; }
	done
	rl_integrity
}

@test "a backup restored into the live file (sqlite3 .restore): a held long poll ends; new ids continue above every id the file gave, and cursors from before get the new messages" {
	pl_need longpoll
	local bk=$BATS_TEST_TMPDIR/bk.db lp=$BATS_TEST_TMPDIR/lp cur d after held
	T=/fault/restore
	pl_pub "$T" a
	pl_pub "$T" b
	sqlite3 "$PL_DB" ".backup '$bk'"
	pl_pub "$T" c
	pl_pub "$T" d
	d=$PUB_ID
	curl -sS -g --max-time 8 -o "$lp" "$PL_URL/push/longpoll?topic=$T&timeout=20" 3>&- &
	LP=$!
	wait_for 10 waiting_ge 1 || pl_fail "the long poll is not held"
	# The backup's sequence is at b: c's and d's ids must not be given again.
	sqlite3 -cmd '.timeout 5000' "$PL_DB" ".restore '$bk'" || pl_fail "restore"
	wait_for 10 publish_ok "$T" after || { pl_show; pl_fail "publishing did not come back"; }
	after=$(pl_json .id)
	(( after > d )) || pl_fail "after the restore the id $after was given again (d had $d)"
	wait "$LP" || pl_fail "the held long poll went on waiting after the restore (curl gave up after 8 s)"
	BODY=$(cat "$lp")
	cur=$(pl_json .cursor)
	held=$(jq -c '[.messages[] | select(.data == "after")]' "$lp") || pl_fail "the long poll's answer: $BODY"
	# The long poll may have had 'after' itself; its cursor then says so.
	pl_poll "topic=$T&since=$cur"
	pl_jq_true --argjson id "$after" --argjson held "$held" \
		'($held + [.messages[] | select(.data == "after")]) | length == 1 and .[0].id == $id' ||
		pl_fail "the long poll ($(cat "$lp")) and a poll at its cursor $cur do not get 'after' once as $after"
	pl_poll "topic=$T&since=$d"
	pl_jq_true --argjson id "$after" '[.messages[] | select(.data == "after" and .id == $id)] | length == 1' ||
		pl_fail "a poll at d's id $d does not get 'after' once as $after"
	rl_integrity
}

@test "a backup moved over the live file (mv): the old -wal is not laid over it; ids go back to the backup's and old cursors get reset" {
	local bk=$BATS_TEST_TMPDIR/bk.db head id cur
	T=/fault/mv
	for i in 1 2 3; do pl_pub "$T" "a$i"; done
	sqlite3 "$PL_DB" ".backup '$bk'"
	head=$(sqlite3 "$bk" "SELECT seq FROM sqlite_sequence WHERE name = 'messages'")
	for i in 1 2 3 4 5 6; do pl_pub "$T" "b$i"; done
	cur=$PUB_ID
	pl_state_owner "$PL_SERVER" "$BATS_TEST_TMPDIR"
	mv "$bk" "$PL_DB"
	pl_state_owner "$PL_SERVER" "$(dirname "$PL_DB")"
	wait_for 10 publish_ok "$T" after || { pl_show; pl_fail "publishing did not come back"; }
	id=$(pl_json .id)
	(( id == head + 1 )) || pl_fail "the first message after the move got id $id: the backup's head was $head (the old file's $cur)"
	rl_integrity
	[ "$(sqlite3 "$PL_DB" "SELECT count(*) FROM messages WHERE id = $id")" = 1 ] || pl_fail "201 for a message not in the file"
	wait_for 5 reset_at "$cur" || { pl_show; pl_fail "a poll at the old file's cursor $cur"; }
}

reset_at() {
	pl_poll "topic=$T&since=$1"
	pl_jq_true '.reset == true and ([.messages[].data] | index("after") != null)' 2>/dev/null
}

@test "database file corrupted while running: 503 + Retry-After (never 201 into a broken file, never 500), health answers, works again after restore" {
	T=/fault/corrupt
	for i in 1 2 3 4 5; do pl_pub "$T" "before-$i"; done
	sqlite3 "$PL_DB" ".backup '$BATS_TEST_TMPDIR/backup.db'"
	sqlite3 "$PL_DB" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
	before=$(rl_errlog_lines "$PL_DB")
	size=$(stat -c %s "$PL_DB")
	# Random bytes over the whole file, header included.
	head -c "$size" /dev/urandom | dd of="$PL_DB" conv=notrunc 2>/dev/null
	during_fault "$T" corrupt
	no_crash
	# The corruption may pass unseen while every page a publish touches is
	# still cached; once it is seen, publish must answer 503.
	(( N503 > 0 )) || pl_fail "no 503 with a corrupted database ($N201 answered 201)"
	check_logged "$before"
	# Restore: a new file in place (as an operator's cp + mv would).
	cp "$BATS_TEST_TMPDIR/backup.db" "$PL_DB.new"
	rm -f "$PL_DB-wal" "$PL_DB-shm"
	mv "$PL_DB.new" "$PL_DB"
	pl_state_owner "$PL_SERVER" "$(dirname "$PL_DB")"     # Apache's programs run as www-data
	wait_for 15 publish_ok "$T" after || { pl_show; pl_fail "publishing did not come back after the restore"; }
	rl_integrity
	rl_note "corrupted database: $N publishes -> $N201 x 201, $N503 x 503; $LOGGED log lines for $(( 3 * N )) requests"
}

@test "a write lock held elsewhere does not hold up polls and long polls that deliver a user's first message; last_get is the delivery time" {
	pl_need longpoll
	T=/fault/marks
	pl_pub "$T" for-alice -H "X-User: alice"
	id=$(pl_json .id)
	tok=$(pl_user_token alice)
	# Hold the write lock for 8 s, idle (the programs' busy timeout is 5 s).
	{ echo "BEGIN IMMEDIATE;"; sleep 8; echo "COMMIT;"; } | sqlite3 "$PL_DB" &
	locker=$!
	sleep 0.5
	t_first=$(pl_now_ms)
	slow=""
	# Every answer below is a first delivery (the lock keeps it unrecorded),
	# so each would make its process write; six in a row reach every
	# poll and longpoll process.
	for i in 1 2 3 4 5 6; do
		for ep in poll longpoll; do
			t0=$(pl_now_ms)
			pl_req GET "/push/$ep?topic=$T&since=0&token=$tok"
			ms=$(( $(pl_now_ms) - t0 ))
			pl_expect_status 200
			[ "$(pl_ids)" = "$id" ] || pl_fail "$ep: got $(pl_ids), want $id"
			(( ms < 2000 )) || slow="$slow $ep:${ms}ms"
		done
	done
	t_last=$(pl_now_ms)
	echo "# 12 answers under a held write lock, the slowest over 2 s:${slow:- none}" >&3
	[ -z "$slow" ] || pl_fail "answers held up by the lock:$slow"
	wait "$locker" || true
	# A lock the programs chose not to wait for is no fault to log.
	n=$(rl_errlog_lines "database is locked")
	[ "$n" = 0 ] || pl_fail "$n log lines say the database is locked"
	# Recorded once the lock is gone (retried every 100 ms), with the time
	# of the first delivery, not of the write.
	for i in $(seq 1 30); do
		pl_admin GET "/push/admin/messages/$id"
		[ "$(pl_json .last_get)" != null ] && break
		sleep 0.2
	done
	lg=$(pl_json .last_get)
	[ "$lg" != null ] || pl_fail "last_get not recorded after the lock was released"
	(( lg >= t_first - 1000 && lg <= t_last )) || pl_fail "last_get $lg is not a delivery time (deliveries $t_first-$t_last)"
}

@test "publishes gathered while a lock is held elsewhere wait out the busy timeout once, not once each" {
	T=/fault/gathered
	pl_pub "$T" before
	# Hold the write lock until the answers are in.
	mkfifo "$BATS_TEST_TMPDIR/sql"
	sqlite3 -cmd '.timeout 5000' "$PL_DB" <"$BATS_TEST_TMPDIR/sql" >"$BATS_TEST_TMPDIR/locked" 2>&1 &
	locker=$!
	exec 7>"$BATS_TEST_TMPDIR/sql"
	echo "BEGIN IMMEDIATE; SELECT 'locked';" >&7
	wait_for 10 grep -q '^locked' "$BATS_TEST_TMPDIR/locked" ||
		pl_fail "the write lock was not taken: $(cat "$BATS_TEST_TMPDIR/locked")"
	# One publish waits for the lock; six more arrive meanwhile and are
	# committed together after it (one process behind lighttpd).
	curl -s -o /dev/null -w '%{http_code}' --max-time 40 -H "Authorization: Bearer $PL_PUB_TOKEN" \
		--data-binary first "$PL_URL/push/publish?topic=$T" >"$BATS_TEST_TMPDIR/s0" &
	first=$!
	sleep 0.5
	t0=$(pl_now_ms)
	pids=()
	for i in 1 2 3 4 5 6; do
		curl -s -o /dev/null -w '%{http_code}' --max-time 40 -H "Authorization: Bearer $PL_PUB_TOKEN" \
			--data-binary "m$i" "$PL_URL/push/publish?topic=$T" >"$BATS_TEST_TMPDIR/s$i" &
		pids+=($!)
	done
	wait "${pids[@]}" || true
	ms=$(( $(pl_now_ms) - t0 ))
	wait "$first" || true
	echo "COMMIT;" >&7
	exec 7>&-
	wait "$locker" || true
	echo "# six publishes under a held lock answered within $ms ms" >&3
	for i in 0 1 2 3 4 5 6; do
		[ "$(cat "$BATS_TEST_TMPDIR/s$i")" = 503 ] || pl_fail "publish $i: status $(cat "$BATS_TEST_TMPDIR/s$i") (want 503)"
	done
	# the busy timeout (about 5-7 s) twice at most: the first's wait, then theirs
	(( ms < 20000 )) || pl_fail "six publishes under a held lock took $ms ms: each waited the busy timeout again"
	wait_for 15 publish_ok "$T" after
}

@test "database locked by another writer for longer than the busy timeout: 503 storage_busy with Retry-After, then works" {
	T=/fault/locked
	pl_pub "$T" before
	# Hold the write lock for 8 s (the programs wait 5 s, then answer).
	sqlite3 "$PL_DB" "BEGIN IMMEDIATE; INSERT INTO messages (topic, created, expires, body) SELECT topic, created, expires, body FROM messages LIMIT 0; SELECT 1 FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 40000000) SELECT count(*) FROM c); COMMIT;" >/dev/null 2>&1 &
	locker=$!
	t0=$(pl_now_ms)
	rc=0
	rl_pub_probe "$T" locked || rc=$?
	ms=$(( $(pl_now_ms) - t0 ))
	wait "$locker" || true
	[ "$rc" != 2 ] || false
	echo "# publish under a held write lock: $HTTP_STATUS after $ms ms" >&3
	if [ "$rc" = 1 ]; then
		pl_jq_true '.error == "storage_busy" or .error == "storage_unavailable"'
	fi
	wait_for 15 publish_ok "$T" after
}
