#!/usr/bin/env bats
# make install and make dist from the build tree the tests run in: the
# files land where docs/deploy.md says, and the tarball holds the sources
# only, not what a build or a test run left in tests/. No server.

# It needs no server, so not the e2e harness either: its paths and pl_fail.
PL_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
pl_fail() { printf '%s\n' "$*" >&2; return 1; }

setup() { [ -f "$PL_ROOT/Makefile" ] || skip "no configured build tree in $PL_ROOT"; }

# mk_dirs: bindir, libexecdir, mandir and pkgdatadir of the Makefile, expanded, on one line
# (marked: make may first remake the Makefile, after a checkout touched Makefile.am, and say so).
mk_dirs() {
	make -s --no-print-directory -C "$PL_ROOT" -f Makefile -f - pl-dirs \
		<<<$'pl-dirs:\n\t@echo pl-dirs: $(bindir) $(libexecdir) $(mandir) $(pkgdatadir)' | sed -n 's/^pl-dirs: //p'
}

@test "make install DESTDIR=...: the tools, the programs, the manual pages and the data where deploy.md says" {
	local dest=$BATS_TEST_TMPDIR/dest bindir libexecdir mandir pkgdatadir p
	read -r bindir libexecdir mandir pkgdatadir < <(mk_dirs)
	[ -n "$pkgdatadir" ] || pl_fail "no directories from the Makefile"
	run make -s -C "$PL_ROOT" install DESTDIR="$dest"
	[ "$status" = 0 ] || pl_fail "make install: $output"
	for p in "$bindir/pushlite" "$bindir/pushlite-purge" "$libexecdir"/pushlite/{publish,poll,longpoll,stream,admin}; do
		[ -x "$dest$p" ] || pl_fail "no program $p"
	done
	for p in man1/pushlite.1 man8/pushlite-purge.8 man5/pushlite.conf.5; do
		cmp "$PL_ROOT/man/${p#*/}" "$dest$mandir/$p" || pl_fail "$mandir/$p is not man/${p#*/}"
	done
	for p in schema.sql www/pushlite.js errors/status-500.html; do
		[ -s "$dest$pkgdatadir/$p" ] || pl_fail "no $pkgdatadir/$p"
	done
}

@test "make distdir: the sources and the manual pages, none of the build's objects, test programs or logs" {
	local d=$BATS_TEST_TMPDIR/dist extra
	run make -s -C "$PL_ROOT" distdir distdir="$d"
	[ "$status" = 0 ] || pl_fail "make distdir: $output"
	for p in man/pushlite.1 man/pushlite-purge.8 man/pushlite.conf.5 tests/unit/t_conf.c tests/e2e/man.bats; do
		[ -f "$d/$p" ] || pl_fail "the tarball would lack $p"
	done
	extra=$(cd "$d" && find . \( -name '*.o' -o -name '*.a' -o -name '*.log' -o -name '*.trs' -o -name .deps \
		-o -name .dirstamp -o -path ./tests/unit/t_conf -o -path ./tests/bench/pl-trivial \) -print | head -5)
	[ -z "$extra" ] || pl_fail "the tarball would ship build products: $extra"
}
