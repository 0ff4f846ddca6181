#!/usr/bin/env node
// check-output.js: checks of pushlite answers that need a JavaScript engine
// or more bookkeeping than a shell loop does well. Used by the isolation
// tests (tests/e2e/isolation.bats).
//
//   node check-output.js iframe FILE CALLBACK
//       FILE is a format=js stream. Reads it as an HTML parser would: every
//       <script> element ends at the first "</script"; the content of each
//       must hold no "<" at all (so no "<!--", "<script" or "</script" that
//       would change how the parser ends it) and no raw U+2028/U+2029. Runs
//       each script in an empty sandbox whose only global is parent.CALLBACK;
//       any other effect (an alert, a ReferenceError, a syntax error) fails.
//       Prints the messages received as a JSON array.
//
//   node check-output.js jsonp FILE CALLBACK
//       FILE is a JSONP answer: run in a sandbox where only CALLBACK exists;
//       it must call it exactly once. Prints the argument as JSON.
//
//   node check-output.js matrix MANIFEST
//       MANIFEST: one JSON object a line {file, status_file, want_status,
//       allowed: [marker...], denied: [marker...], words_denied: [...],
//       positive: bool}. For each: the status is one of want_status; no
//       denied marker or word appears in the body; with positive, every
//       allowed marker appears. Prints "checked N" or the failures.
'use strict';
const fs = require('fs');
const vm = require('vm');

function fail(msg) {
	process.stderr.write(msg + '\n');
	process.exit(1);
}

function sandbox(cbName, calls) {
	const ctx = {};
	// Nested names (app.onPush) become nested objects.
	const parts = cbName.split('.');
	let o = ctx;
	for (let i = 0; i < parts.length - 1; i++) o = o[parts[i]] = {};
	o[parts[parts.length - 1]] = function (arg) {
		if (arguments.length !== 1) throw new Error('callback called with ' + arguments.length + ' arguments');
		calls.push(arg === undefined ? '__undefined__' : JSON.parse(JSON.stringify(arg)));
	};
	return vm.createContext(ctx);
}

function iframe(file, cb) {
	const html = fs.readFileSync(file, 'utf8');
	if (/[\u2028\u2029]/.test(html)) fail('raw U+2028/U+2029 in the iframe stream');
	const calls = [];
	const ctx = vm.createContext({});
	ctx.parent = {};
	const parts = cb.split('.');
	let o = ctx.parent;
	for (let i = 0; i < parts.length - 1; i++) o = o[parts[i]] = {};
	o[parts[parts.length - 1]] = function (arg) {
		if (arguments.length !== 1) throw new Error('callback called with ' + arguments.length + ' arguments');
		calls.push(arg);
	};
	// Outside scripts: the document head, the padding comment, newlines.
	const re = /<script\b[^>]*>([\s\S]*?)<\/script/gi;
	let m, last = 0, n = 0;
	while ((m = re.exec(html))) {
		const between = html.slice(last, m.index);
		if (n > 0 && between.trim() !== '' && between.trim() !== '>')
			fail('text between script elements: ' + JSON.stringify(between.slice(0, 200)));
		const code = m[1];
		if (code.indexOf('<') >= 0) fail('"<" inside a script element: ' + JSON.stringify(code.slice(0, 300)));
		try {
			vm.runInContext(code, ctx, { timeout: 1000 });
		} catch (e) {
			fail('script ' + n + ' failed: ' + e + ' in ' + JSON.stringify(code.slice(0, 300)));
		}
		last = re.lastIndex;
		n++;
	}
	const tail = html.slice(last).replace(/^>/, '').trim();
	if (tail !== '' && !/^(<\/body>)?\s*(<\/html>)?$/.test(tail))
		fail('text after the last script: ' + JSON.stringify(tail.slice(0, 200)));
	const msgs = calls.filter((c) => c !== null);
	process.stdout.write(JSON.stringify(msgs) + '\n');
}

function jsonp(file, cb) {
	const js = fs.readFileSync(file, 'utf8');
	const calls = [];
	const ctx = sandbox(cb, calls);
	try {
		vm.runInContext(js, ctx, { timeout: 1000 });
	} catch (e) {
		fail('JSONP answer failed to run: ' + e + ' in ' + JSON.stringify(js.slice(0, 300)));
	}
	if (calls.length !== 1) fail('JSONP answer called ' + cb + ' ' + calls.length + ' times');
	process.stdout.write(JSON.stringify(calls[0]) + '\n');
}

function statusOf(f) {
	let t;
	try {
		t = fs.readFileSync(f, 'latin1');
	} catch (e) {
		return 'none';
	}
	// The last status line (curl may show 100 Continue first); CGI: Status:
	let st = 'none';
	for (const line of t.split(/\r?\n/)) {
		let m = /^HTTP\/[0-9.]+ (\d{3})/.exec(line);
		if (m) st = m[1];
	}
	return st;
}

function matrix(manifest) {
	const lines = fs.readFileSync(manifest, 'utf8').split('\n').filter((l) => l.trim());
	const bad = [];
	let n = 0;
	for (const l of lines) {
		const c = JSON.parse(l);
		let body = '';
		try {
			body = fs.readFileSync(c.file, 'utf8');
		} catch (e) {
			bad.push(c.name + ': no body file');
			continue;
		}
		n++;
		const st = c.status_file ? statusOf(c.status_file) : '200';
		if (!c.want_status.includes(st)) bad.push(c.name + ': status ' + st + ', wanted ' + c.want_status.join('/') + ': ' + body.slice(0, 200));
		for (const d of c.denied || [])
			if (body.includes(d)) bad.push(c.name + ': received ' + d + ' (must not)');
		for (const w of c.words_denied || [])
			if (body.includes(w)) bad.push(c.name + ': answer contains "' + w + '": ' + body.slice(body.indexOf(w) - 100, body.indexOf(w) + 100));
		if (c.positive)
			for (const a of c.allowed || [])
				if (!body.includes(a)) bad.push(c.name + ': did not receive ' + a);
		for (const w of c.words_required || [])
			if (!body.includes(w)) bad.push(c.name + ': answer lacks "' + w + '": ' + body.slice(0, 200));
	}
	if (bad.length) {
		process.stdout.write(bad.length + ' failures of ' + lines.length + ' answers:\n' + bad.slice(0, 40).join('\n') + '\n');
		process.exit(1);
	}
	process.stdout.write('checked ' + n + '\n');
}

const [mode, a, b] = process.argv.slice(2);
if (mode === 'iframe') iframe(a, b || 'pushlite_cb');
else if (mode === 'jsonp') jsonp(a, b);
else if (mode === 'matrix') matrix(a);
else fail('usage: check-output.js iframe|jsonp|matrix ...');
