/*
 * pushlite.js - browser client for pushlite.
 *
 * One file, no dependencies, no build step. Written in ECMAScript 3 so that
 * it runs unchanged in IE6-era browsers and in current ones.
 *
 *   var sub = Pushlite.subscribe({
 *       url: '/push', topics: ['/news'], client: 'pc', token: t,
 *       onMessage: function (msg) {}, onError: function (err) {},
 *       onTransport: function (name) {}, transport: 'auto', persist: 'session'
 *   });
 *   sub.close();
 *
 * See docs/client.md for every option, the transports and their order, the
 * fallback to a slow poll while push is off, and the iframe stream protocol.
 */
var Pushlite = (function (win) {
	var doc = win.document;
	var seq = 0;
	var ORDER = ['sse', 'longpoll', 'jsonp', 'iframe', 'poll'];
	var ESC = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

	function noop() {}

	function now() {
		return new Date().getTime();
	}

	function isArray(v) {
		return Object.prototype.toString.call(v) === '[object Array]';
	}

	/* Throw an error from a user callback later, so it shows in the console
	 * without breaking our own state machine. */
	function rethrowLater(e) {
		win.setTimeout(function () { throw e; }, 0);
	}

	/* ---------------------------------------------------------------- JSON */

	/* A validating recursive-descent parser (RFC 8259), used when the browser
	 * has no JSON object. It never evaluates the text. */
	function parseJSONText(text) {
		var s = String(text), i = 0, n = s.length;

		function fail(what) {
			throw new Error('pushlite: bad JSON: ' + what + ' at ' + i);
		}
		function ws() {
			var c;
			while (i < n) {
				c = s.charAt(i);
				if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r')
					break;
				i++;
			}
		}
		function digit(c) {
			return c >= '0' && c <= '9' && c.length === 1;
		}
		function digits() {
			if (!digit(s.charAt(i)))
				fail('digit expected');
			while (digit(s.charAt(i)))
				i++;
		}
		function number() {
			var start = i, c;
			if (s.charAt(i) === '-')
				i++;
			c = s.charAt(i);
			if (c === '0')
				i++;
			else
				digits();
			if (s.charAt(i) === '.') {
				i++;
				digits();
			}
			c = s.charAt(i);
			if (c === 'e' || c === 'E') {
				i++;
				c = s.charAt(i);
				if (c === '+' || c === '-')
					i++;
				digits();
			}
			return +s.substring(start, i);
		}
		function string() {
			var out = '', start, c, h;
			i++;
			start = i;
			for (;;) {
				if (i >= n)
					fail('unterminated string');
				c = s.charAt(i);
				if (c === '"') {
					out += s.substring(start, i);
					i++;
					return out;
				}
				if (c === '\\') {
					out += s.substring(start, i);
					c = s.charAt(i + 1);
					if (c === 'u') {
						h = s.substring(i + 2, i + 6);
						if (!/^[0-9a-fA-F]{4}$/.test(h))
							fail('bad \\u escape');
						out += String.fromCharCode(parseInt(h, 16));
						i += 6;
					} else if (ESC.hasOwnProperty(c)) {
						out += ESC[c];
						i += 2;
					} else {
						fail('bad escape');
					}
					start = i;
				} else if (c < ' ') {
					fail('control character in string');
				} else {
					i++;
				}
			}
		}
		function array() {
			var a = [];
			i++;
			ws();
			if (s.charAt(i) === ']') {
				i++;
				return a;
			}
			for (;;) {
				a[a.length] = value();
				ws();
				if (s.charAt(i) === ',') {
					i++;
				} else if (s.charAt(i) === ']') {
					i++;
					return a;
				} else {
					fail('"," or "]" expected');
				}
			}
		}
		function object() {
			var o = {}, k, v;
			i++;
			ws();
			if (s.charAt(i) === '}') {
				i++;
				return o;
			}
			for (;;) {
				ws();
				if (s.charAt(i) !== '"')
					fail('key expected');
				k = string();
				ws();
				if (s.charAt(i) !== ':')
					fail('":" expected');
				i++;
				v = value();
				if (k !== '__proto__')
					o[k] = v;
				ws();
				if (s.charAt(i) === ',') {
					i++;
				} else if (s.charAt(i) === '}') {
					i++;
					return o;
				} else {
					fail('"," or "}" expected');
				}
			}
		}
		function value() {
			var c;
			ws();
			c = s.charAt(i);
			if (c === '{')
				return object();
			if (c === '[')
				return array();
			if (c === '"')
				return string();
			if (c === '-' || digit(c))
				return number();
			if (s.substring(i, i + 4) === 'true') {
				i += 4;
				return true;
			}
			if (s.substring(i, i + 5) === 'false') {
				i += 5;
				return false;
			}
			if (s.substring(i, i + 4) === 'null') {
				i += 4;
				return null;
			}
			fail(c ? 'unexpected "' + c + '"' : 'unexpected end');
		}

		var result = value();
		ws();
		if (i < n)
			fail('trailing text');
		return result;
	}

	function parseJSON(text) {
		var J = win.JSON;
		if (J && typeof J.parse === 'function')
			return J.parse(text);
		return parseJSONText(text);
	}

	/* Deep copy into this window's realm: objects handed over by the iframe
	 * die with it in old IE ("freed script"). */
	function clone(v) {
		var r, k;
		if (v === null || typeof v !== 'object')
			return v;
		if (isArray(v)) {
			r = [];
			for (k = 0; k < v.length; k++)
				r[k] = clone(v[k]);
			return r;
		}
		r = {};
		for (k in v) {
			if (Object.prototype.hasOwnProperty.call(v, k))
				r[k] = clone(v[k]);
		}
		return r;
	}

	/* ------------------------------------------------------------ network */

	function enc(v) {
		return encodeURIComponent(String(v)).replace(/%2F/g, '/');
	}

	function originOf(url) {
		var m = /^([a-zA-Z][a-zA-Z0-9+.\-]*:)?\/\/([^\/?#]+)/.exec(url), loc = win.location;
		var proto, host;
		if (!m)
			return null;
		proto = (m[1] || loc.protocol).toLowerCase();
		host = m[2].toLowerCase().replace(/^[^@]*@/, '');
		if ((proto === 'http:' && /:80$/.test(host)) || (proto === 'https:' && /:443$/.test(host)))
			host = host.replace(/:\d+$/, '');
		return proto + '//' + host;
	}

	function isSameOrigin(url) {
		var o = originOf(url), loc = win.location;
		if (o === null)
			return true;
		return o === originOf(loc.protocol + '//' + loc.host);
	}

	function xhrFactory() {
		if (win.XMLHttpRequest)
			return function () { return new win.XMLHttpRequest(); };
		if (win.ActiveXObject) {
			var ids = ['Msxml2.XMLHTTP.6.0', 'Msxml2.XMLHTTP.3.0', 'Msxml2.XMLHTTP', 'Microsoft.XMLHTTP'];
			var k, id;
			for (k = 0; k < ids.length; k++) {
				try {
					new win.ActiveXObject(ids[k]);
					id = ids[k];
					break;
				} catch (e) {
				}
			}
			if (id)
				return function () { return new win.ActiveXObject(id); };
		}
		return null;
	}

	/* Errors: {code, message, status, network, refused, fatal, retryAfter}.
	 * network: unreachable or cut off (retry, later fall back);
	 * refused: the server refuses this transport now (503, push off; 429,
	 * too many requests held on the host): fall back at once, and probe
	 * no sooner than its Retry-After;
	 * fatal: asking again cannot help (400, 401, 403). */
	function httpError(status, code, message, retryAfter) {
		var e = { code: code || 'http_' + status, message: message || 'HTTP status ' + status, status: status };
		if (status === 503 || status === 429) {
			e.refused = true;
			e.retryAfter = retryAfter;
		} else if (status === 400 || status === 401 || status === 403) {
			e.fatal = true;
		} else if (status === 404 || status === 405 || status === 501) {
			e.missing = true;
		} else {
			e.network = true;
			if (retryAfter)
				e.retryAfter = retryAfter;
		}
		return e;
	}

	function netError(code, message) {
		return { code: code, message: message, status: 0, network: true };
	}

	/* Error codes of the server's JSON error bodies and their statuses. */
	var CODES = {
		bad_request: 400, unauthorized: 401, forbidden: 403, not_found: 404,
		method_not_allowed: 405, too_large: 413, too_many_subscribers: 429,
		internal: 500, storage_unavailable: 503, storage_busy: 503, push_off: 503
	};

	/* Classify an error object that came inside a 200 answer (JSONP, iframe). */
	function bodyError(d) {
		var code = String(d.error), st = +d.status;
		if (!st && CODES.hasOwnProperty(code))
			st = CODES[code];
		if (!st) {
			if (/auth|token|forbid|denied|bad_?param|bad_?request|invalid/i.test(code))
				st = /forbid|denied/i.test(code) ? 403 : (/auth|token/i.test(code) ? 401 : 400);
			else if (/too_?many/i.test(code))
				st = 429;
			else
				st = 503;
		}
		return httpError(st, code, d.message ? String(d.message) : code, +d.retry_after || 0);
	}

	function retryAfterOf(x) {
		var v = null;
		try {
			v = x.getResponseHeader('Retry-After');
		} catch (e) {
		}
		v = parseInt(v, 10);
		return v > 0 ? v : 0;
	}

	/* GET url; cb(err, data). Returns {abort}. Uses XHR (or ActiveX, or
	 * XDomainRequest for cross-origin calls in IE8/9). */
	function xhrGet(make, useXdr, url, timeoutMs, withCred, cb) {
		var x, done = false, timer = null;

		function finish(err, data) {
			if (done)
				return;
			done = true;
			if (timer !== null)
				win.clearTimeout(timer);
			if (!useXdr)
				x.onreadystatechange = noop;
			cb(err, data);
		}
		function body(text) {
			var d;
			try {
				d = parseJSON(text);
			} catch (e) {
				finish(netError('bad_json', 'answer is not JSON'));
				return;
			}
			if (!d || typeof d !== 'object')
				finish(netError('bad_answer', 'answer is not a JSON object'));
			else if (d.error)
				finish(bodyError(d));
			else
				finish(null, d);
		}

		if (useXdr) {
			x = new win.XDomainRequest();
			x.onload = function () { body(x.responseText); };
			x.onerror = function () { finish(netError('network', 'request failed')); };
			x.ontimeout = x.onerror;
			x.onprogress = noop;
			x.open('GET', url);
		} else {
			x = make();
			x.open('GET', url, true);
			if (withCred)
				x.withCredentials = true;
			x.onreadystatechange = function () {
				var st = 0, ra;
				if (done || x.readyState !== 4)
					return;
				try {
					st = x.status;
				} catch (e) {
				}
				if (st === 200) {
					body(x.responseText);
					return;
				}
				if (st === 0 || st >= 12000) {
					finish(netError('network', 'server unreachable'));
					return;
				}
				ra = retryAfterOf(x);
				var d = null;
				try {
					d = parseJSON(x.responseText);
				} catch (e2) {
				}
				finish(httpError(st, d && d.error ? String(d.error) : null,
					d && d.message ? String(d.message) : null, ra));
			};
		}
		timer = win.setTimeout(function () {
			timer = null;
			if (!done) {
				/* abort() fires readystatechange (status 0) at once: report
				 * the timeout first, so that it is not taken for "network". */
				finish(netError('timeout', 'no answer in time'));
				try {
					x.abort();
				} catch (e) {
				}
			}
		}, timeoutMs);
		/* XDomainRequest in IE9 aborts requests sent synchronously after open. */
		if (useXdr)
			win.setTimeout(function () { if (!done) x.send(); }, 0);
		else
			x.send(null);
		return {
			abort: function () {
				if (done)
					return;
				done = true;
				if (timer !== null)
					win.clearTimeout(timer);
				if (!useXdr)
					x.onreadystatechange = noop;
				try {
					x.abort();
				} catch (e) {
				}
			}
		};
	}

	function dropGlobal(name) {
		try {
			delete win[name];
		} catch (e) {
			win[name] = undefined;
		}
	}

	function releaseGlobal(name) {
		win[name] = noop;
		/* A late answer may still arrive: keep a no-op in place for a while. */
		win.setTimeout(function () {
			dropGlobal(name);
		}, 300000);
	}

	function removeNode(node) {
		if (node && node.parentNode)
			node.parentNode.removeChild(node);
	}

	/* GET url (which must already carry format=jsonp) via a script tag;
	 * cb(err, data). Returns {abort}. */
	function jsonpGet(url, timeoutMs, cb) {
		var name = 'pushlite_cb' + (++seq) + '_' + now();
		var head = doc.getElementsByTagName('head')[0] || doc.documentElement;
		var s = doc.createElement('script');
		var done = false, timer = null;

		/* answered: the answer is calling back now, so no late one can
		 * come and its name goes at once. A request given up on keeps a
		 * no-op for a while (a global and a timer for 5 minutes: too many
		 * to leave behind every answer of a busy long poll). */
		function finish(err, data, answered) {
			if (done)
				return;
			done = true;
			if (timer !== null)
				win.clearTimeout(timer);
			s.onload = s.onreadystatechange = s.onerror = null;
			if (answered)
				dropGlobal(name);
			else
				releaseGlobal(name);
			removeNode(s);
			cb(err, data);
		}
		win[name] = function (d) {
			if (d && typeof d === 'object' && d.error)
				finish(bodyError(d), null, true);
			else if (d && typeof d === 'object')
				finish(null, clone(d), true);
			else
				finish(netError('bad_answer', 'bad JSONP answer'), null, true);
		};
		s.type = 'text/javascript';
		s.charset = 'utf-8';
		s.async = true;
		s.onload = s.onreadystatechange = function () {
			var rs = s.readyState;
			if (rs && rs !== 'loaded' && rs !== 'complete')
				return;
			/* The script ran without calling us back: not a JSONP answer. */
			finish(netError('bad_answer', 'no JSONP answer'));
		};
		s.onerror = function () {
			finish(netError('network', 'server unreachable'));
		};
		timer = win.setTimeout(function () {
			timer = null;
			finish(netError('timeout', 'no answer in time'));
		}, timeoutMs);
		s.src = url + '&callback=' + name;
		head.insertBefore(s, head.firstChild);
		return {
			abort: function () {
				if (done)
					return;
				done = true;
				if (timer !== null)
					win.clearTimeout(timer);
				s.onload = s.onreadystatechange = s.onerror = null;
				releaseGlobal(name);
				removeNode(s);
			}
		};
	}

	function whenLoaded(fn) {
		var fired = false;
		function go() {
			if (!fired) {
				fired = true;
				win.setTimeout(fn, 0);
			}
		}
		if (!doc || !doc.readyState || doc.readyState === 'complete') {
			go();
		} else if (win.addEventListener) {
			win.addEventListener('load', go, false);
		} else if (win.attachEvent) {
			win.attachEvent('onload', go);
		} else {
			go();
		}
	}

	/* ------------------------------------------------------- persistence */

	function hashString(s) {
		var h = 5381, k;
		for (k = 0; k < s.length; k++)
			h = ((h * 33) ^ s.charCodeAt(k)) & 0x7fffffff;
		return h.toString(36);
	}

	function makeStore(kind, key) {
		var ss, name;
		if (kind === 'session' || kind === true) {
			try {
				ss = win.sessionStorage;
				if (ss) {
					ss.setItem('pushlite.probe', '1');
					ss.removeItem('pushlite.probe');
					return {
						get: function () {
							try {
								return ss.getItem(key);
							} catch (e) {
								return null;
							}
						},
						set: function (v) {
							try {
								ss.setItem(key, String(v));
							} catch (e) {
							}
						}
					};
				}
			} catch (e) {
			}
			kind = 'cookie';
		}
		if (kind === 'cookie' && doc) {
			name = 'pushlite_' + hashString(key);
			return {
				get: function () {
					var m = new RegExp('(?:^|;\\s*)' + name + '=([0-9]+)').exec(doc.cookie || '');
					return m ? m[1] : null;
				},
				set: function (v) {
					doc.cookie = name + '=' + v + '; path=/';
				}
			};
		}
		return null;
	}

	/* ------------------------------------------------------ subscription */

	/* A number option: a number or a numeric string; anything else (null,
	 * '', false: a setting passed on unset) is not given, not 0, which
	 * would make pollInterval or retryMin a loop without pause. */
	function num(v, dflt) {
		if ((typeof v !== 'number' && typeof v !== 'string') || /^\s*$/.test(v))
			return dflt;
		v = +v;
		return v >= 0 ? v : dflt;
	}

	function subscribe(opts) {
		var o = opts || {};
		var base = String(o.url || '/push').replace(/\/+$/, '');
		var topics = isArray(o.topics) ? o.topics : String(o.topics || o.topic || '').split(/[\s,]+/);
		var tlist = [], k;
		var same = isSameOrigin(base);
		var cors = !!o.cors;
		var makeXhr = xhrFactory();
		var xhrOk = false, useXdr = false;
		var cfg = {
			retryMin: num(o.retryMin, 1000),
			retryMax: num(o.retryMax, 30000),
			pollInterval: num(o.pollInterval, 10000),
			probeInterval: num(o.probeInterval, 30000),
			probeMax: num(o.probeMax, 300000),
			fallbackAfter: num(o.fallbackAfter, 2),
			/* The server answers timeout=0 at once: at least 1 s, or an idle
			 * topic would be asked about in a tight loop. */
			timeout: Math.max(1, Math.round(num(o.timeout, 25))),
			stall: num(o.stallTimeout, 45000),
			heldOk: num(o.heldOk, 1500),
			streamMin: num(o.streamMin, 1000),
			streamMaxAge: num(o.streamMaxAge, 330000)
		};
		var closed = false, gen = 0, cur = null, timer = null, probeTimer = null, watch = null;
		var cursor = null, since = 'now';
		var best = null, active = null, mode = 'push';
		var fails = 0, probeFails = 0, probeDue = false, quickEmpties = 0;
		var store = null, self;

		for (k = 0; k < topics.length; k++) {
			if (topics[k])
				tlist[tlist.length] = String(topics[k]);
		}
		if (!tlist.length)
			throw new Error('pushlite: no topics');

		if (makeXhr) {
			if (same) {
				xhrOk = true;
			} else if (cors) {
				try {
					xhrOk = 'withCredentials' in makeXhr();
				} catch (e) {
				}
				if (!xhrOk && win.XDomainRequest && !o.withCredentials &&
						originOf(base).split('//')[0] === win.location.protocol) {
					xhrOk = useXdr = true;
				}
			}
		}

		function available(name) {
			if (name === 'sse')
				return !!win.EventSource && (same || cors);
			if (name === 'longpoll')
				return xhrOk;
			if (name === 'jsonp')
				return !!(doc && doc.createElement);
			if (name === 'iframe')
				return !!(doc && doc.createElement) && same;
			if (name === 'poll')
				return xhrOk || !!(doc && doc.createElement);
			return false;
		}

		function emit(fn, arg) {
			if (typeof fn !== 'function' || closed)
				return;
			try {
				fn.call(self, arg);
			} catch (e) {
				rethrowLater(e);
			}
		}

		/* Every error has the fields docs/client.md lists: the notices
		 * made here (reset, gap) have no HTTP status. */
		function report(err) {
			if (typeof err.status !== 'number')
				err.status = 0;
			err.fatal = err.fatal === true;
			if (!err.transport)
				err.transport = mode === 'fallback' ? 'poll' : best;
			emit(o.onError, err);
		}

		function setActive(name) {
			if (name !== active) {
				active = name;
				emit(o.onTransport, name);
			}
		}

		function save() {
			if (store && cursor !== null)
				store.set(cursor);
		}

		/* -- delivery: every id once, in order, none skipped -- */

		function deliver(m) {
			var id;
			if (closed || !m || typeof m !== 'object')
				return;
			id = +m.id;
			if (!(id > 0))
				return;
			if (cursor !== null && id <= cursor)
				return;
			cursor = id;
			save();
			emit(o.onMessage, m);
		}

		function markReset() {
			var old = cursor;
			cursor = 0;
			save();
			if (typeof o.onReset === 'function')
				emit(o.onReset, { code: 'reset', previous: old });
			else
				report({ code: 'reset', message: 'the server restarted its message ids', previous: old });
		}

		function markGap() {
			if (typeof o.onGap === 'function')
				emit(o.onGap, { code: 'gap', cursor: cursor });
			else
				report({ code: 'gap', message: 'messages after ' + cursor + ' were purged before delivery', cursor: cursor });
		}

		/* Apply a poll/longpoll envelope {cursor, more, messages, reset, gap}. */
		function apply(d) {
			var list = d.messages, c = +d.cursor, j;
			if (d.reset && cursor !== null)
				markReset();
			if (d.gap)
				markGap();
			if (isArray(list)) {
				for (j = 0; j < list.length && !closed; j++)
					deliver(list[j]);
			}
			if (!closed && d.cursor !== null && d.cursor !== undefined && c >= 0 && (cursor === null || c > cursor)) {
				cursor = c;
				save();
			}
			return !!d.more;
		}

		/* -- requests -- */

		function query(extra) {
			var q = ['topic=' + (function () {
				var parts = [], j;
				for (j = 0; j < tlist.length; j++)
					parts[j] = enc(tlist[j]);
				return parts.join(',');
			})()];
			q[q.length] = 'since=' + enc(cursor !== null ? cursor : since);
			if (o.client)
				q[q.length] = 'client=' + enc(o.client);
			if (o.type)
				q[q.length] = 'type=' + enc(o.type);
			if (o.token)
				q[q.length] = 'token=' + enc(o.token);
			if (o.limit)
				q[q.length] = 'limit=' + enc(o.limit);
			if (extra)
				q[q.length] = extra;
			return q.join('&');
		}

		function get(path, extra, timeoutMs, viaJsonp, cb) {
			var url = base + path + '?' + query(extra);
			if (viaJsonp)
				return jsonpGet(url + '&format=jsonp', timeoutMs, cb);
			return xhrGet(makeXhr, useXdr, url, timeoutMs, cors && !!o.withCredentials, cb);
		}

		function backoff(n) {
			var d = cfg.retryMin * Math.pow(2, Math.max(0, n - 1));
			if (d > cfg.retryMax)
				d = cfg.retryMax;
			return Math.round(d / 2 + Math.random() * d / 2);
		}

		/* A server's Retry-After in ms (capped by probeMax), jittered upwards
		 * only, so that a client never comes back sooner than asked; 0
		 * when the error carries none. */
		function retryAfterMs(err) {
			var d = err && err.retryAfter > 0 ? err.retryAfter * 1000 : 0;
			d = Math.round(d * (1 + Math.random() / 4));
			return d > cfg.probeMax ? cfg.probeMax : d;
		}

		/* Delay before the n-th retry after err: the backoff, but never
		 * less than the server's Retry-After (429 host full, 503). */
		function retryDelay(err, n) {
			var d = backoff(n), ra = retryAfterMs(err);
			return ra > d ? ra : d;
		}

		function clearTimer() {
			if (timer !== null) {
				win.clearTimeout(timer);
				timer = null;
			}
		}

		function later(fn, ms) {
			clearTimer();
			timer = win.setTimeout(function () {
				timer = null;
				if (!closed)
					fn();
			}, ms);
		}

		/* Stop whatever request or stream runs now. */
		function stop() {
			gen++;
			if (watch !== null) {
				win.clearInterval(watch);
				watch = null;
			}
			if (cur) {
				var c = cur;
				cur = null;
				c.abort();
			}
		}

		/* The preferred transport works (again). */
		function success() {
			fails = 0;
			if (mode === 'probe') {
				mode = 'push';
				probeFails = 0;
			}
			if (mode === 'push')
				setActive(best);
		}

		function fail(err) {
			if (closed)
				return;
			stop();
			/* Missing on the poll itself (404, 405, 501): nothing is left to
			 * fall back to, and the report must say it is the end. */
			if (err.missing && (mode === 'fallback' || best === 'poll'))
				err.fatal = true;
			report(err);
			/* closed: the app's onError ended the subscription itself;
			 * no retry or probe timer may keep it alive. */
			if (closed)
				return;
			if (err.fatal) {
				close();
				return;
			}
			fails++;
			if (mode === 'probe') {
				probeFails++;
				fallback(err);
			} else if (mode === 'fallback' || best === 'poll') {
				later(run, retryDelay(err, fails));
			} else if (err.refused || err.missing || fails >= cfg.fallbackAfter) {
				fallback(err);
			} else {
				later(run, retryDelay(err, fails));
			}
		}

		/* Push is off, unreachable or full: poll slowly and probe the
		 * preferred transport from time to time (never sooner than the
		 * server's Retry-After). */
		function fallback(err) {
			var d = retryAfterMs(err);
			stop();
			clearTimer();
			mode = 'fallback';
			setActive('poll');
			if (probeTimer !== null)
				win.clearTimeout(probeTimer);
			if (!d) {
				d = cfg.probeInterval * Math.pow(2, Math.min(probeFails, 10));
				if (d > cfg.probeMax)
					d = cfg.probeMax;
				d = Math.round(d * (0.75 + Math.random() * 0.5));
			}
			probeTimer = win.setTimeout(probe, d);
			later(run, fails > 1 ? backoff(fails - 1) : 0);
		}

		function probe() {
			probeTimer = null;
			if (closed || mode !== 'fallback')
				return;
			if (cur) {
				probeDue = true;
				return;
			}
			clearTimer();
			mode = 'probe';
			run();
		}

		/* Fetch /poll until nothing more is pending, then call next().
		 * XDomainRequest hides every status: a refused token looks like a
		 * network failure and would be retried for ever. So once it has
		 * failed into the fallback (or, with the poll as the transport,
		 * once a poll has failed), the poll goes by JSONP, whose answers
		 * carry their errors inside: a 401 is then seen, and fatal. */
		function catchUp(next) {
			var my = ++gen;
			var viaJsonp = !xhrOk || (useXdr && (mode === 'fallback' || (best === 'poll' && fails > 0)));
			cur = get('/poll', null, 30000, viaJsonp, function (err, d) {
				if (my !== gen || closed)
					return;
				cur = null;
				if (err) {
					fail(err);
					return;
				}
				if (apply(d)) {
					if (!closed)
						catchUp(next);
				} else if (!closed) {
					next();
				}
			});
		}

		/* One round of the simple poll (fallback mode or transport 'poll'). */
		function pollRound() {
			catchUp(function () {
				if (mode !== 'fallback')
					success();
				else
					fails = 0;
				if (probeDue) {
					probeDue = false;
					probe();
					return;
				}
				later(run, cfg.pollInterval);
			});
		}

		/* A long poll is asked again at once after each answer, except an
		 * answer that brought nothing new sooner than the server holds an
		 * idle request (its timeout is at least 1 s): a proxy or server
		 * that answers at once would make that a tight loop, so such
		 * answers in a row back off (retryMin doubling up to retryMax). */
		function longpoll(viaJsonp) {
			var my = ++gen, sent = now();
			cur = get('/longpoll', 'timeout=' + cfg.timeout, (cfg.timeout + 20) * 1000, viaJsonp, function (err, d) {
				var was = cursor, more;
				if (my !== gen || closed)
					return;
				cur = null;
				if (err) {
					fail(err);
					return;
				}
				success();
				more = apply(d);
				if (closed)
					return;
				if (!more && cursor === was && now() - sent < 900) {
					quickEmpties++;
					later(run, backoff(quickEmpties));
				} else {
					quickEmpties = 0;
					longpoll(viaJsonp);
				}
			});
			/* A request the server holds counts as working. */
			win.setTimeout(function () {
				if (my === gen && !closed)
					success();
			}, cfg.heldOk);
		}

		/* Reconnect after a stream that was open ended (maximum time reached,
		 * proxy cut, server restart): soon, with a little jitter. A stream
		 * that ended within a second of opening, having delivered nothing (a
		 * proxy that cuts streamed answers, a stream program that dies),
		 * counts as a failure: backing off, so that such a client does not
		 * reconnect several times a second for ever. */
		function streamEnded(openedAt, delivered) {
			stop();
			if (delivered || now() - openedAt >= cfg.streamMin) {
				later(run, Math.round(Math.random() * cfg.retryMin));
				return;
			}
			/* Ended as it opened (a proxy cutting streamed answers): it
			 * never counted as working (a stream does once it delivers or
			 * lasts streamMin), so this is a failure like any other:
			 * reported, backed off, and in a row, or as a probe, a reason
			 * to fall back to the poll. */
			fail(netError('network', 'stream ended as it opened (a proxy cutting streamed answers?)'));
		}

		/* EventSource hides a refusal's status and headers: one long poll
		 * that never waits (timeout=0) asks the server why, so that push
		 * off is reported with its code and Retry-After, and probed no
		 * sooner than that. Its messages are left to the poll that follows. */
		function refusedWhy(my) {
			cur = get('/longpoll', 'timeout=0', cfg.stall, false, function (err) {
				cur = null;
				if (my !== gen || closed)
					return;
				if (!err || !(err.refused || err.fatal || err.missing))
					err = { code: 'refused', message: 'stream refused (push off?)', status: 0, refused: true };
				fail(err);
			});
		}

		function sse() {
			var my = ++gen, opened = false, openedAt = 0, delivered = false, es;
			var openTimer = null, ageTimer = null, okTimer = null;
			var url = base + '/stream?' + query('format=sse');
			/* Each stream's own timers go with it: one per reconnect would
			 * otherwise pile up, each holding its closed EventSource. */
			function clearTimers() {
				if (openTimer !== null)
					win.clearTimeout(openTimer);
				if (ageTimer !== null)
					win.clearTimeout(ageTimer);
				if (okTimer !== null)
					win.clearTimeout(okTimer);
				openTimer = ageTimer = okTimer = null;
			}
			es = o.withCredentials ? new win.EventSource(url, { withCredentials: true }) : new win.EventSource(url);
			function parse(e) {
				try {
					return parseJSON(e.data);
				} catch (x) {
					return null;
				}
			}
			es.onopen = function () {
				if (my !== gen || closed)
					return;
				opened = true;
				openedAt = now();
				clearTimers();
				/* Working once it delivers or lasts streamMin: one a proxy
				 * cuts as it opens must not count as a probe that worked. */
				okTimer = win.setTimeout(function () {
					okTimer = null;
					if (my === gen && !closed)
						success();
				}, cfg.streamMin);
				/* The server ends every stream after its maximum time (300 s
				 * by default). Its heartbeats are SSE comments, which never
				 * reach script: a connection that died silently (a NAT
				 * mapping dropped) shows only as a stream older than that.
				 * Start over then; the cursor makes it lossless. */
				ageTimer = win.setTimeout(function () {
					ageTimer = null;
					if (my === gen && !closed && cur) {
						cur.abort();
						cur = null;
						streamEnded(openedAt, true);
					}
				}, cfg.streamMaxAge);
			};
			es.onmessage = function (e) {
				if (my !== gen || closed)
					return;
				if (okTimer !== null) {
					win.clearTimeout(okTimer);
					okTimer = null;
					success();
				}
				delivered = true;
				deliver(parse(e));
			};
			if (es.addEventListener) {
				es.addEventListener('reset', function () {
					if (my === gen && !closed && cursor !== null)
						markReset();
				}, false);
				es.addEventListener('gap', function () {
					if (my === gen && !closed)
						markGap();
				}, false);
			}
			es.onerror = function () {
				var closedByServer;
				if (my !== gen || closed)
					return;
				closedByServer = es.readyState === 2;
				cur = null;
				clearTimers();
				es.onopen = es.onmessage = es.onerror = null;
				es.close();
				if (opened)
					streamEnded(openedAt, delivered);
				else if (closedByServer)
					refusedWhy(my);
				else
					fail(netError('network', 'stream failed'));
			};
			cur = {
				abort: function () {
					clearTimers();
					es.onopen = es.onmessage = es.onerror = null;
					es.close();
				}
			};
			/* A buffering proxy can hold the answer's head back forever. */
			openTimer = win.setTimeout(function () {
				openTimer = null;
				if (my === gen && !closed && !opened) {
					cur.abort();
					cur = null;
					fail(netError('timeout', 'stream did not open'));
				}
			}, cfg.stall);
		}

		function iframe() {
			var my = ++gen, opened = false, worked = false, called = false, seen = now(), started = now(), delivered = false;
			var name = 'pushlite_if' + (++seq) + '_' + now();
			var frame;

			if (!doc.body) {
				later(run, 50);
				return;
			}
			win[name] = function (m) {
				if (my !== gen || closed)
					return;
				seen = now();
				called = true;
				if (m === null || m === undefined) {
					opened = true;
					return;
				}
				if (typeof m !== 'object')
					return;
				if (m.error) {
					var err = bodyError(m);
					cur.abort();
					cur = null;
					fail(err);
					return;
				}
				if (m.id !== undefined && m.id !== null) {
					opened = true;
					if (!worked) {
						worked = true;
						success();
					}
					delivered = true;
					deliver(clone(m));
				} else if (m.reset) {
					if (cursor !== null)
						markReset();
				} else if (m.gap) {
					markGap();
				}
			};
			frame = doc.createElement('iframe');
			frame.style.position = 'absolute';
			frame.style.left = '-1000px';
			frame.style.top = '-1000px';
			frame.style.width = '1px';
			frame.style.height = '1px';
			frame.style.visibility = 'hidden';
			frame.tabIndex = -1;
			frame.title = '';
			function onload() {
				if (my !== gen || closed)
					return;
				cur.abort();
				cur = null;
				/* A held stream calls at least once (heartbeat) before it
				 * ends, and the server's refusals are calls too (m.error
				 * above; not a process's own 429 or 503 when overloaded or
				 * stopping, which come before the format is read): a
				 * document without any call was cut on its way, or is
				 * another page. Retried, then the poll. */
				if (called)
					streamEnded(started, delivered);
				else
					fail(netError('network', 'stream ended before it opened'));
			}
			/* An iframe the server holds open counts as working, even
			 * before its first heartbeat (a refusal loads at once), once
			 * it has lasted heldOk and streamMin: one a proxy cuts as it
			 * opens must not count as a probe that worked. */
			win.setTimeout(function () {
				if (my === gen && !closed && !worked) {
					opened = worked = true;
					success();
				}
			}, cfg.heldOk > cfg.streamMin ? cfg.heldOk : cfg.streamMin);
			if (frame.attachEvent)
				frame.attachEvent('onload', onload);
			else
				frame.onload = onload;
			frame.src = base + '/stream?' + query('format=js&callback=' + name);
			doc.body.appendChild(frame);
			cur = {
				abort: function () {
					releaseGlobal(name);
					if (frame.detachEvent)
						frame.detachEvent('onload', onload);
					else
						frame.onload = null;
					try {
						frame.src = 'about:blank';
					} catch (e) {
					}
					removeNode(frame);
				}
			};
			watch = win.setInterval(function () {
				if (my !== gen || closed)
					return;
				if (now() - seen > cfg.stall) {
					cur.abort();
					cur = null;
					if (opened)
						fail(netError('stalled', 'no heartbeat from the stream'));
					else
						fail(netError('timeout', 'stream did not open'));
				}
			}, 1000);
		}

		/* Run the next step: the poll in fallback mode, else the preferred
		 * transport (streams catch up through /poll first, so a reset or gap
		 * is seen in a plain envelope and the stream starts at a known id). */
		function run() {
			if (closed)
				return;
			stop();
			if (mode === 'fallback' || best === 'poll') {
				pollRound();
				return;
			}
			if (best === 'sse' || best === 'iframe' || cursor === null) {
				catchUp(function () {
					if (best === 'sse')
						sse();
					else if (best === 'iframe')
						iframe();
					else
						longpoll(best === 'jsonp');
				});
				return;
			}
			longpoll(best === 'jsonp');
		}

		function close() {
			if (closed)
				return;
			stop();
			closed = true;
			clearTimer();
			if (probeTimer !== null) {
				win.clearTimeout(probeTimer);
				probeTimer = null;
			}
		}

		/* -- start -- */

		if (o.transport && o.transport !== 'auto') {
			if (available(o.transport))
				best = o.transport;
		}
		for (k = 0; best === null && k < ORDER.length; k++) {
			if (available(ORDER[k]))
				best = ORDER[k];
		}
		/* Reported once subscribe() has returned, so that onError's `this`
		 * (and the caller's variable) is the subscription. */
		if (o.transport && o.transport !== 'auto' && best !== o.transport)
			win.setTimeout(function () {
				report({ code: 'unsupported', status: 0,
					message: 'transport ' + o.transport + ' is not available here; using ' + best });
			}, 0);

		if (o.persist) {
			/* The user of a token is part of the key (not the token, which
			 * changes as it is renewed): two users never share a cursor.
			 * v1.USER.EXPIRY.SIG, and USER may hold dots itself. */
			var tp = o.token ? String(o.token).split('.') : [];
			store = makeStore(o.persist, o.persistKey || 'pushlite:' + base + '|' + tlist.join(',') +
				'|' + (o.client || '') + '|' + (o.type || '') +
				(o.token ? '|' + (tp.length > 3 ? tp.slice(1, tp.length - 2).join('.') : o.token) : ''));
		}
		if (store && /^[0-9]+$/.test(String(store.get())))
			cursor = parseInt(store.get(), 10);
		else if (o.since !== undefined && o.since !== null && /^[0-9]+$/.test(String(o.since)))
			cursor = parseInt(o.since, 10);
		else if (o.since)
			since = String(o.since);

		self = {
			close: close,
			cursor: function () { return cursor; },
			transport: function () { return active; },
			preferred: function () { return best; }
		};
		/* A script tag or iframe added before the page has loaded holds up
		 * its load event (and keeps the browser's busy indicator spinning
		 * for as long as the request is held): those transports start
		 * once the page has loaded. */
		if (!xhrOk || best === 'jsonp' || best === 'iframe')
			whenLoaded(function () {
				if (!closed)
					run();
			});
		else
			win.setTimeout(function () {
				if (!closed)
					run();
			}, 0);
		return self;
	}

	return {
		version: '1.0.0',
		subscribe: subscribe,
		parseJSON: parseJSON,
		parseJSONText: parseJSONText,
		transports: ORDER
	};
})(typeof window !== 'undefined' ? window : this);
