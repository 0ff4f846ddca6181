'use strict';
// Real-browser tests of www/pushlite.js and www/index.html against the real
// pushlite server started through scripts/serve. Prints TAP.
//
// Environment:
//   PUSHLITE_SERVE_CMD   command that starts the server (default: scripts/serve;
//                        e.g. "scripts/serve --apache")
//   CHROMIUM             browser binary (default /usr/bin/chromium)
//   OUT                  output directory (default tests/browser/out)
//   BT_FIRST_START_SECS  how long the first start may take (it builds; default 900)

const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const es3 = require('./lib/es3');
const jsoncheck = require('./lib/jsoncheck');
const probecheck = require('./lib/probecheck');

const HERE = __dirname;
const ROOT = path.resolve(HERE, '..', '..');
const OUT = path.resolve(process.env.OUT || path.join(HERE, 'out'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SERVE_CMD = process.env.PUSHLITE_SERVE_CMD || path.join(ROOT, 'scripts', 'serve');
const PUB = 'bt-pub-' + Math.random().toString(36).slice(2, 12);
const ADMIN = 'bt-adm-' + Math.random().toString(36).slice(2, 12);
const SECRET = 'bt-secret-' + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
const TRANSPORTS = ['sse', 'longpoll', 'jsonp', 'iframe', 'poll'];
// Fast timings so that the fallback and recovery paths run within seconds.
const HEARTBEAT = 2;
const FAST = {
  pollInterval: 500, probeInterval: 1500, probeMax: 3000, retryMin: 200, retryMax: 1500, timeout: 20,
  stallTimeout: HEARTBEAT * 3000 + 1000,
};

/* ------------------------------------------------------------------ TAP */

let tapN = 0, tapFailed = 0;
function ok(cond, name, diag) {
  tapN++;
  if (cond) {
    console.log(`ok ${tapN} - ${name}`);
  } else {
    tapFailed++;
    console.log(`not ok ${tapN} - ${name}`);
    if (diag) for (const l of String(diag).split('\n')) console.log(`#   ${l}`);
  }
  return !!cond;
}
function note(s) {
  for (const l of String(s).split('\n')) console.log(`# ${l}`);
}

/* -------------------------------------------------------------- helpers */

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(fn, ms, step = 100) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = undefined;
    }
    if (Date.now() > end) return last;
    await sleep(step);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function request(port, method, p, { body, headers = {}, timeout = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, timeout }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// Open a request the server holds (a stream): resolves with it once the
// answer's head has come; call .destroy() to end it.
function hold(port, p) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p }, (res) => {
      res.on('data', () => {});
      res.on('error', () => {});
      resolve({ status: res.statusCode, destroy: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

// Gaps in ms between consecutive times.
const gaps = (times) => times.slice(1).map((t, i) => t - times[i]);

/* --------------------------------------------------------------- server */

class Server {
  constructor(port, state) {
    this.port = port;
    this.state = state;
    this.proc = null;
    this.starts = 0;
    this.log = path.join(OUT, 'serve.log');
  }

  // extra: further [pushlite] settings, one per line
  async start({ push = 'on', timeoutSecs = 90, extra = '' } = {}) {
    // extra [pushlite] settings (scripts/serve appends STATE/pushlite.local):
    // a short heartbeat lets the iframe client notice a dead stream quickly
    fs.writeFileSync(path.join(this.state, 'pushlite.local'), `heartbeat = ${HEARTBEAT}\npush = ${push}\n${extra}`);
    const fd = fs.openSync(this.log, 'a');
    fs.writeSync(fd, `\n===== start ${++this.starts} (push ${push}) ${new Date().toISOString()}\n`);
    const parts = SERVE_CMD.split(/\s+/).filter(Boolean);
    this.proc = spawn(parts[0], parts.slice(1), {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', fd, fd],
      env: Object.assign({}, process.env, {
        PORT: String(this.port),
        PUSHLITE_STATE: this.state,
        PUSHLITE_PUBLISH_TOKEN: PUB,
        PUSHLITE_ADMIN_TOKEN: ADMIN,
        PUSHLITE_SECRET: SECRET,
      }),
    });
    fs.closeSync(fd);
    let exited = null;
    this.proc.on('exit', (code, sig) => { exited = { code, sig }; });
    const t0 = Date.now();
    const up = await waitFor(async () => {
      if (exited) throw new Error('exited');
      const r = await request(this.port, 'GET', '/push/health', { timeout: 2000 });
      return r.status === 200;
    }, timeoutSecs * 1000, 200);
    if (!up || exited) {
      const tail = fs.readFileSync(this.log, 'utf8').split('\n').slice(-40).join('\n');
      throw new Error(`server did not come up (${exited ? 'exited ' + JSON.stringify(exited) : 'timeout'}):\n${tail}`);
    }
    return Date.now() - t0;
  }

  async stop() {
    const p = this.proc;
    if (!p) return;
    this.proc = null;
    if (p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      try { process.kill(p.pid, 'SIGTERM'); } catch (e) { /* gone */ }
      const t = await Promise.race([gone.then(() => true), sleep(15000).then(() => false)]);
      if (!t) {
        try { process.kill(-p.pid, 'SIGKILL'); } catch (e) { /* gone */ }
      }
    }
    // the web server runs in a session of its own; make sure it is gone
    const pidf = path.join(this.state, 'server.pid');
    if (fs.existsSync(pidf)) {
      const pid = parseInt(fs.readFileSync(pidf, 'utf8'), 10);
      if (pid > 0) {
        try { process.kill(-pid, 'SIGTERM'); } catch (e) { /* gone */ }
        await sleep(300);
        try { process.kill(-pid, 'SIGKILL'); } catch (e) { /* gone */ }
      }
    }
    await waitFor(async () => {
      try {
        await request(this.port, 'GET', '/push/health', { timeout: 500 });
        return false;
      } catch (e) {
        return true;
      }
    }, 10000);
  }

  async publish(topic, text, extra = '') {
    const r = await request(this.port, 'POST', '/push/publish?topic=' + encodeURIComponent(topic) + extra, {
      body: text,
      headers: { Authorization: 'Bearer ' + PUB, 'Content-Type': 'text/plain' },
    });
    if (r.status !== 201) throw new Error(`publish ${topic}: HTTP ${r.status} ${r.body}`);
    const d = JSON.parse(r.body);
    return d.id;
  }
}

/* ------------------------------------------------------------- fixtures */

// A bare page that loads the client and records what it sees in window.T.
// strip: JavaScript run before pushlite.js loads (to imitate an old browser).
// autostart: options to subscribe with at once (results then also go to the DOM,
// for pages whose built-ins are stripped, where page.evaluate cannot run).
function fixture(scriptSrc, strip = '', autostart = null) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>pushlite test fixture</title>
<script>
var T = { msgs: [], ids: [], transports: [], errors: [], pushOff: [], full: [], misshapen: [], resets: 0, gaps: 0, sub: null };
${strip}
</script>
<script src="${scriptSrc}"></script>
<script>
function startSub(o) {
  o.onMessage = function (m) {
    T.ids[T.ids.length] = m.id;
    T.msgs[T.msgs.length] = m;
    var li = document.createElement('li');
    li.appendChild(document.createTextNode(m.id + ' ' + m.topic + ' ' + m.data));
    document.getElementById('msgs').appendChild(li);
    document.getElementById('ids').innerHTML = T.ids.join(',');
    if (T.msgs.length === 1) document.getElementById('data0').appendChild(document.createTextNode(m.data));
  };
  o.onTransport = function (n) {
    T.transports[T.transports.length] = n;
    document.getElementById('transport').innerHTML = n;
  };
  o.onError = function (e) {
    T.errors[T.errors.length] = e.code + ':' + (e.status || 0) + ':' + e.transport;
    // every error carries the fields docs/client.md lists
    if (typeof e.code !== 'string' || typeof e.message !== 'string' || typeof e.status !== 'number' ||
        typeof e.transport !== 'string' || typeof e.fatal !== 'boolean')
      T.misshapen[T.misshapen.length] = e.code;
    if (e.code === 'reset') T.resets++;
    if (e.code === 'gap') T.gaps++;
    if (e.code === 'push_off') T.pushOff[T.pushOff.length] = e.transport + ':' + (e.retryAfter || 0);
    if (e.code === 'too_many_subscribers') T.full[T.full.length] = e.status + ':' + (e.retryAfter || 0);
  };
  T.sub = Pushlite.subscribe(o);
  return true;
}
${autostart ? 'startSub(' + JSON.stringify(autostart) + ');' : ''}
</script>
</head><body>
<p>transport: <b id="transport"></b></p>
<p>ids: <span id="ids"></span></p>
<p>first data: <span id="data0"></span></p>
<ul id="msgs"></ul>
</body></html>`;
}

const STRIP_ES5 =
  'try { delete window.JSON; } catch (e) { window.JSON = undefined; }\n' +
  'Array.prototype.forEach = Array.prototype.map = Array.prototype.filter = Array.prototype.indexOf = undefined;\n' +
  'Object.keys = Date.now = Function.prototype.bind = String.prototype.trim = undefined;\n';
const STRIP_ES = 'try { delete window.EventSource; } catch (e) {} window.EventSource = undefined;\n';
const STRIP_XHR = 'window.XMLHttpRequest = undefined;\n';
// IE8/9: XMLHttpRequest without CORS (no withCredentials) and an
// XDomainRequest that, like the real one, shows no status and no headers:
// onload for a 2xx answer, onerror for anything else. It reaches the
// server through the page's own host name (the same server), so that the
// browser's own CORS rules do not stand in the way.
const XDR_SHIM = `(function () {
  var X = window.XMLHttpRequest;
  delete X.prototype.withCredentials;
  window.XDR_USED = 0;
  window.XDomainRequest = function () {
    var self = this, x = new X();
    this.open = function (m, u) {
      window.XDR_USED++;
      x.open(m, u.replace(/^https?:\\/\\/[^\\/]+/, location.protocol + '//' + location.host), true);
    };
    this.send = function (b) {
      x.onreadystatechange = function () {
        if (x.readyState !== 4) return;
        if (x.status >= 200 && x.status < 300) { self.responseText = x.responseText; if (self.onload) self.onload(); }
        else if (self.onerror) self.onerror();
      };
      x.send(b === undefined ? null : b);
    };
    this.abort = function () { x.onreadystatechange = null; x.abort(); };
  };
})();
`;

// The fixture is written into a page of the server's origin (the demo page,
// replaced through document.open/write): same origin and address space as a
// page the server itself served.
async function loadFixture(page, origin, html) {
  await page.goto(`${origin}/`, { waitUntil: 'domcontentloaded' });
  await page.setContent(html, { waitUntil: 'domcontentloaded' });
}

async function openFixture(browser, origin, { strip = '', scriptSrc = '/pushlite.js', autostart = null } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  await loadFixture(page, origin, fixture(scriptSrc, strip, autostart));
  return { context, page, consoleLines };
}

async function state(page) {
  return page.evaluate(() => ({
    ids: T.ids.join(','),
    transports: T.transports.join(','),
    errors: T.errors.join(' '),
    pushOff: T.pushOff.join(' '),
    resets: T.resets,
    gaps: T.gaps,
    misshapen: T.misshapen.join(','),
    cursor: T.sub ? T.sub.cursor() : null,
    transport: T.sub ? T.sub.transport() : null,
  }));
}

const idList = (s) => (s ? s.split(',').map(Number) : []);

function sameList(got, want) {
  return got.length === want.length && got.every((v, i) => v === want[i]);
}

function describe(st, want) {
  return `want ids ${want.join(',')}\ngot  ids ${st.ids}\ntransports ${st.transports}\nerrors ${st.errors}`;
}

// Subscribe recording each error as code:status:fatal, and wait (up to ms)
// until one is fatal. Returns the page state then.
async function subscribeUntilFatal(page, opts, ms) {
  await page.evaluate((o) => {
    o.onError = function (e) { T.errors[T.errors.length] = e.code + ':' + (e.status || 0) + ':' + (e.fatal ? 'fatal' : ''); };
    T.sub = Pushlite.subscribe(o);
  }, opts);
  return await waitFor(async () => {
    const s = await state(page);
    return /fatal/.test(s.errors) ? s : null;
  }, ms) || await state(page);
}

// Publish two messages on topic, and wait until the page has shown both.
async function publishTwoAndWait(server, page, topic) {
  const ids = [await server.publish(topic, 'x1'), await server.publish(topic, 'x2')];
  const st = await waitFor(async () => {
    const s = await state(page);
    return idList(s.ids).length >= 2 ? s : null;
  }, 15000) || await state(page);
  return { ids, st };
}

/* ----------------------------------------------------------------- main */

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, 'serve.log'), '');

  // 1. syntax
  const jsPath = path.join(ROOT, 'www', 'pushlite.js');
  const src = fs.readFileSync(jsPath, 'utf8');
  const probs = es3.check(src, 'www/pushlite.js');
  ok(probs.length === 0, 'www/pushlite.js is ES3 (acorn ecmaVersion 3, no ES5 built-ins)', probs.join('\n'));
  const html = fs.readFileSync(path.join(ROOT, 'www', 'index.html'), 'utf8');
  const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/gi)].map((m) => m[1]);
  const hprobs = inline.flatMap((s, i) => es3.check(s, `www/index.html script ${i + 1}`));
  ok(inline.length > 0 && hprobs.length === 0, 'inline scripts of www/index.html are ES3', hprobs.join('\n'));

  // 2. fallback JSON parser without the JSON built-in
  const jprobs = jsoncheck.run(src);
  ok(jprobs.length === 0, 'fallback JSON parser: accepts valid JSON, rejects invalid, never evaluates', jprobs.join('\n'));
  const pprobs = await probecheck.run(src);
  ok(pprobs.length === 0, 'push refused with a Retry-After above probeMax: probes come at most probeMax apart, jitter included',
    pprobs.join('\n'));
  const cprobs = await probecheck.runCloseInError(src);
  ok(cprobs.length === 0, 'an onError that closes the subscription leaves no retry or probe timer behind', cprobs.join('\n'));

  // 3. the real server
  const port = await freePort();
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pushlite-bt-'));
  const server = new Server(port, stateDir);
  const origin = `http://127.0.0.1:${port}`;
  let browser = null;
  const pages = [];
  try {
    let ms;
    try {
      ms = await server.start({ timeoutSecs: +(process.env.BT_FIRST_START_SECS || 900) });
    } catch (e) {
      ok(false, 'scripts/serve starts the server', e.message);
      return;
    }
    ok(true, `scripts/serve starts the server (${(ms / 1000).toFixed(1)} s)`);

    const { chromium } = require('playwright-core');
    // playwright-core starts chromium with a fresh temporary profile
    // (--user-data-dir in a new temporary directory) and removes it afterwards
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    note(`chromium ${browser.version()}`);

    /* ---- A: each transport forced, live delivery in order, exactly once */
    const want = {};
    for (const tr of TRANSPORTS) {
      const f = await openFixture(browser, origin, { name: tr });
      pages.push(f);
      f.tr = tr;
      f.topic = `/bt/${tr}`;
      want[tr] = [];
      // limit 25: bursts need several answers ("more": true)
      await f.page.evaluate((o) => startSub(o), Object.assign({ url: '/push', topics: [f.topic], transport: tr, limit: 25 }, FAST));
    }
    // wait until each knows its cursor (the subscription starts at "now")
    for (const f of pages) {
      const st = await waitFor(async () => {
        const s = await state(f.page);
        return s.cursor !== null && s.transport === f.tr ? s : null;
      }, 15000);
      ok(!!st, `${f.tr}: subscribes and reports transport "${f.tr}"`, st ? '' : JSON.stringify(await state(f.page)));
    }
    await sleep(300);
    const pubSome = async (n, label) => {
      for (let i = 0; i < n; i++) {
        for (const f of pages) {
          want[f.tr].push(await server.publish(`${f.topic}/sub`, `${label} ${i} for ${f.tr}`));
          if (i === 0) {
            // neighbours that must not arrive: another topic, a name with the same prefix
            await server.publish('/bt/other', 'not for anyone');
            await server.publish(`${f.topic}x`, 'not a subtopic');
          }
        }
      }
    };
    const checkAll = async (what, ms = 20000) => {
      for (const f of pages) {
        const st = await waitFor(async () => {
          const s = await state(f.page);
          return idList(s.ids).length >= want[f.tr].length ? s : null;
        }, ms) || await state(f.page);
        await sleep(200);
        const fin = await state(f.page);
        ok(sameList(idList(fin.ids), want[f.tr]), `${f.tr}: ${what}`, describe(fin, want[f.tr]));
        void st;
      }
    };
    await pubSome(5, 'live');
    await checkAll('live messages arrive in order, exactly once, only matching topics');
    // text that must not break out of a script element (JSONP, iframe) nor a line (SSE)
    const NASTY = 'a</script><script>window.owned=1</script><!-- \u2028\u2029 "q" \\ \n\r\t é 中 😀';
    for (const f of pages) want[f.tr].push(await server.publish(f.topic, NASTY));
    await checkAll('text with </script>, <!--, U+2028, newlines and emoji arrives as the very same string');
    for (const f of pages) {
      const got = await f.page.evaluate(() => [T.msgs[T.msgs.length - 1].data, window.owned === 1]);
      ok(got[0] === NASTY && !got[1], `${f.tr}: message data intact and nothing injected`, JSON.stringify(got));
    }
    for (const f of pages) {
      const st = await state(f.page);
      ok(st.errors === '' && st.transports === f.tr, `${f.tr}: no errors and no transport change while the server runs`,
        `transports ${st.transports}; errors ${st.errors}`);
    }

    // a burst: 4 publishers at once, 60 messages per topic
    {
      const jobs = [];
      for (const f of pages) for (let i = 0; i < 60; i++) jobs.push([f, i]);
      const ids = {};
      for (const f of pages) ids[f.tr] = [];
      let next = 0;
      const worker = async () => {
        while (next < jobs.length) {
          const [f, i] = jobs[next++];
          ids[f.tr].push(await server.publish(`${f.topic}/burst`, `burst ${i}`));
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      for (const f of pages) want[f.tr].push(...ids[f.tr].sort((a, b) => a - b));
    }
    await checkAll('a burst from 4 publishers at once arrives in id order, exactly once', 30000);
    {
      // An answered JSONP request leaves no global (nor the timer that
      // would remove it) behind: only the one in flight has a callback.
      const f = pages.find((p) => p.tr === 'jsonp');
      const names = await f.page.evaluate(() => {
        var n = 0, k;
        for (k in window) if (/^pushlite_cb/.test(k) && window[k] !== undefined) n++;
        return n;
      });
      ok(names <= 1, `jsonp: answered requests leave no callback behind (${names} left)`,
        `${names} pushlite_cb* globals after the burst; want at most the one in flight`);
    }

    /* ---- B: server stopped and restarted mid-test */
    await pubSome(2, 'before stop');
    await checkAll('messages published before the stop arrive');
    await server.stop();
    await sleep(1500);
    await server.start();
    await pubSome(3, 'after restart');
    await checkAll('resumes after a server restart without loss or duplicates', 30000);
    for (const f of pages) {
      const st = await waitFor(async () => {
        const s = await state(f.page);
        return s.transport === f.tr ? s : null;
      }, 20000) || await state(f.page);
      ok(st.transport === f.tr, `${f.tr}: back on its own transport after the restart`,
        `transport now ${st.transport}; history ${st.transports}; errors ${st.errors}`);
    }
    await pubSome(2, 'after recovery');
    await checkAll('delivers on the recovered transport');

    /* ---- C: push switched off by the operator, then on again */
    await server.stop();
    await server.start({ push: 'off' });
    const lp = await request(port, 'GET', '/push/longpoll?topic=/bt&since=now&timeout=1');
    ok(lp.status === 503 && !!lp.headers['retry-after'], 'push off: /push/longpoll answers 503 with Retry-After',
      `got ${lp.status} retry-after=${lp.headers['retry-after']} ${lp.body.slice(0, 200)}`);
    for (const f of pages) {
      if (f.tr === 'poll') continue;
      const st = await waitFor(async () => {
        const s = await state(f.page);
        return s.transport === 'poll' ? s : null;
      }, 20000) || await state(f.page);
      ok(st.transport === 'poll', `${f.tr}: push off: falls back to the simple poll`,
        `transport ${st.transport}; history ${st.transports}; errors ${st.errors}`);
    }
    {
      // the demo page while push is off: shows the fallback
      const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
      const page = await context.newPage();
      await page.goto(`${origin}/?topics=/bt&transport=auto&autostart=1`);
      const shown = await waitFor(async () => {
        const t = (await page.textContent('#active-transport')).trim();
        const s = (await page.textContent('#state')).trim();
        return t === 'poll' && s === 'fallback' ? t : null;
      }, 10000);
      await server.publish('/bt/demo', 'published while push is off');
      await waitFor(async () => (await page.textContent('#messages')).includes('while push is off'), 15000);
      await page.screenshot({ path: path.join(OUT, 'demo-push-off.png') });
      ok(!!shown, 'demo page: push off: shows the fallback to poll', `transport ${await page.textContent('#active-transport')}`);
      await context.close();
    }
    await pubSome(3, 'push off');
    await checkAll('push off: messages keep arriving through the poll', 20000);
    await sleep(4000); // a probe or two of the push transport fails meanwhile
    for (const f of pages) {
      const st = await state(f.page);
      ok(f.tr === 'poll' || st.transport === 'poll', `${f.tr}: push off: stays on the poll while probes fail`,
        `transport ${st.transport}; history ${st.transports}; errors ${st.errors}`);
    }
    // The server's Retry-After reaches onError as retryAfter, also where the
    // transport cannot read headers (JSONP, the iframe: inside the error;
    // EventSource, which sees neither status nor body: asked by a long
    // poll that never waits). The poll has no push to lose.
    for (const f of pages) {
      if (f.tr === 'poll') continue;
      const ra = lp.headers['retry-after'];
      const st = await waitFor(async () => {
        const s = await state(f.page);
        return s.pushOff ? s : null;
      }, 15000) || await state(f.page);
      ok(st.pushOff.split(' ').includes(`${f.tr}:${ra}`),
        `${f.tr}: push off: onError's retryAfter is the server's Retry-After (${ra} s)`,
        `push_off errors: ${st.pushOff}; errors ${st.errors}`);
    }
    await server.stop();
    await server.start({ push: 'on' });
    await pubSome(2, 'push back on');
    for (const f of pages) {
      const st = await waitFor(async () => {
        const s = await state(f.page);
        return s.transport === f.tr ? s : null;
      }, 20000) || await state(f.page);
      ok(st.transport === f.tr, `${f.tr}: push on again: returns to ${f.tr}`,
        `transport ${st.transport}; history ${st.transports}; errors ${st.errors}`);
    }
    await pubSome(2, 'push on');
    await checkAll('push off and on again: every message exactly once, in order', 20000);
    for (const f of pages) {
      const st = await state(f.page);
      note(`${f.tr}: transports ${st.transports}`);
      note(`${f.tr}: errors ${st.errors}`);
    }
    for (const f of pages) {
      const bad = f.consoleLines.filter((l) => /^pageerror/.test(l));
      ok(bad.length === 0, `${f.tr}: no script errors on the page`, bad.join('\n'));
    }
    /* ---- close(): nothing more is delivered or requested */
    for (const f of pages) {
      f.requests = 0;
      f.page.on('request', (r) => { if (r.url().includes('/push/')) f.requests++; });
      await f.page.evaluate(() => T.sub.close());
    }
    await sleep(300);
    for (const f of pages) f.requests = 0;
    const before = {};
    for (const f of pages) before[f.tr] = (await state(f.page)).ids;
    for (const f of pages) await server.publish(f.topic, 'after close');
    await sleep(2500);
    for (const f of pages) {
      const st = await state(f.page);
      const frames = await f.page.evaluate(() => document.getElementsByTagName('iframe').length);
      ok(st.ids === before[f.tr] && f.requests === 0 && frames === 0,
        `${f.tr}: close() stops: no message, no request, no frame afterwards`,
        `requests ${f.requests}; frames ${frames}; ids before ${before[f.tr]}; after ${st.ids}`);
    }
    for (const f of pages) await f.context.close();
    pages.length = 0;

    /* ---- D: automatic choice */
    {
      const f = await openFixture(browser, origin, { name: 'auto' });
      await f.page.evaluate((o) => startSub(o), Object.assign({ url: '/push', topics: ['/bt/auto'] }, FAST));
      await waitFor(async () => { const x = await state(f.page); return x.cursor !== null && !!x.transport; }, 10000);
      const id = await server.publish('/bt/auto', 'auto');
      const st = await waitFor(async () => {
        const s = await state(f.page);
        return s.ids === String(id) ? s : null;
      }, 10000) || await state(f.page);
      ok(st.transport === 'sse' && st.ids === String(id), 'auto: a current browser uses EventSource (sse)', describe(st, [id]));
      await f.context.close();
    }
    const oldBrowser = async (label, strip, expect) => {
      const topic = '/bt/old/' + expect;
      // the page subscribes by itself (since=all: no need to wait for the cursor)
      const f = await openFixture(browser, origin, {
        name: 'old-' + expect, strip, autostart: Object.assign({ url: '/push', topics: [topic], since: 'all' }, FAST),
      });
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push(await server.publish(topic, `old ${i} "quoted" <b>&amp;</b> \\ \u00e9 \u2028`));
      const dom = async () => ({
        ids: (await f.page.textContent('#ids')).trim(),
        transport: (await f.page.textContent('#transport')).trim(),
        data: await f.page.textContent('#data0'),
        transports: '', errors: '',
      });
      const st = await waitFor(async () => {
        const s = await dom();
        return idList(s.ids).length >= 3 && s.transport !== '' ? s : null;
      }, 15000) || await dom();
      const bad = f.consoleLines.filter((l) => /^pageerror/.test(l));
      ok(st.transport === expect && sameList(idList(st.ids), ids) && st.data === 'old 0 "quoted" <b>&amp;</b> \\ \u00e9 \u2028' && !bad.length,
        `${label}: auto picks ${expect}; delivers in order with the fallback JSON parser`,
        describe(st, ids) + `\ntransport ${st.transport}\ndata ${st.data}\n${f.consoleLines.join('\n')}`);
      await f.context.close();
    };
    await oldBrowser('no EventSource, no JSON, no ES5 built-ins', STRIP_ES + STRIP_ES5, 'longpoll');
    await oldBrowser('no EventSource, no XMLHttpRequest', STRIP_ES + STRIP_XHR + STRIP_ES5, 'jsonp');

    /* ---- D2: subscriber token and client kind; a bad token is fatal */
    {
      const conf = path.join(stateDir, 'pushlite.conf');
      const tok = await new Promise((resolve) => {
        const p = spawn(path.join(ROOT, 'tools', 'pushlite'), ['--conf', conf, 'token', '--user', 'alice', '--ttl', '1h']);
        let o = '';
        p.stdout.on('data', (c) => { o += c; });
        p.on('close', () => resolve(o.trim()));
        p.on('error', () => resolve(''));
      });
      for (const tr of ['sse', 'jsonp', 'iframe']) {
        const topic = '/bt/who/' + tr;
        const f = await openFixture(browser, origin);
        await f.page.evaluate((o) => startSub(o), Object.assign({ url: '/push', topics: [topic], transport: tr, token: tok, client: 'pc' }, FAST));
        await waitFor(async () => (await state(f.page)).transport === tr, 10000);
        const want = [];
        want.push(await server.publish(topic, 'broadcast'));
        await server.publish(topic, 'for bob', '&user=bob');
        want.push(await server.publish(topic, 'for alice', '&user=alice'));
        await server.publish(topic, 'for phones', '&clients=ios,android');
        want.push(await server.publish(topic, 'for alice on a pc', '&user=alice&clients=pc'));
        const st = await waitFor(async () => {
          const s = await state(f.page);
          return idList(s.ids).length >= 3 ? s : null;
        }, 10000) || await state(f.page);
        await sleep(500);
        const fin = await state(f.page);
        ok(/^v1\./.test(tok) && sameList(idList(fin.ids), want),
          `${tr}: with a subscriber token and client=pc gets broadcasts and alice's messages only`, describe(fin, want) + `\ntoken ${tok}`);
        void st;
        await f.context.close();
      }
      for (const tr of ['longpoll', 'jsonp']) {
        const f = await openFixture(browser, origin);
        await subscribeUntilFatal(f.page,
          Object.assign({ url: '/push', topics: ['/bt/bad'], transport: tr, token: 'v1.alice.99999999999.forged' }, FAST), 10000);
        await sleep(1500);
        const fin = await state(f.page);
        ok(/^unauthorized:(401|0):fatal$/.test(fin.errors), `${tr}: a forged token is fatal: reported once, then the client stops`,
          `errors ${fin.errors}`);
        await f.context.close();
      }
      /* A wrong mount path: 404 on the poll itself, which nothing can
       * stand in for, so the error that stops the client says fatal. */
      for (const tr of ['poll', 'longpoll']) {
        const f = await openFixture(browser, origin);
        let requests = 0;
        f.page.on('request', (r) => { if (r.url().includes('/pushx/')) requests++; });
        const st = await subscribeUntilFatal(f.page,
          Object.assign({ url: '/pushx', topics: ['/bt/missing'], transport: tr }, FAST), 10000);
        const seen = requests;
        await sleep(2000);
        const fin = await state(f.page);
        ok(/(^| )not_found:404:fatal$/.test(st.errors) && fin.errors === st.errors && requests === seen,
          `${tr}: a wrong URL (404 on the poll) ends the subscription with an error that says fatal, and no more requests`,
          `errors ${fin.errors}; requests ${seen} then ${requests}`);
        await f.context.close();
      }
    }

    /* ---- E0: IE8/9 cross-origin through XDomainRequest; a refused token
     * (whose 401 XDomainRequest cannot show) is still found out and fatal */
    {
      const xorigin = `http://localhost:${port}`;
      const open = async (name) => {
        const f = await openFixture(browser, xorigin, { name, strip: STRIP_ES + XDR_SHIM, scriptSrc: `${origin}/pushlite.js` });
        f.requests = 0;
        f.page.on('request', () => { f.requests++; });
        await f.page.waitForFunction(() => typeof Pushlite !== 'undefined', null, { timeout: 10000 })
          .catch((e) => note(`${name} page: ${e.message.split('\n')[0]}\n${f.consoleLines.join('\n')}`));
        return f;
      };
      let f = await open('xdr');
      await f.page.evaluate((o) => startSub(o), Object.assign({ url: `${origin}/push`, topics: ['/bt/xdr'], cors: true }, FAST));
      await waitFor(async () => { const x = await state(f.page); return x.cursor !== null && !!x.transport; }, 10000);
      const { ids, st } = await publishTwoAndWait(server, f.page, '/bt/xdr');
      const used = await f.page.evaluate(() => window.XDR_USED);
      ok(st.transport === 'longpoll' && used > 0 && sameList(idList(st.ids), ids),
        'IE8/9 cross-origin (cors: true, no CORS XHR): long poll through XDomainRequest delivers', describe(st, ids) + `\nXDomainRequest used ${used} times`);
      await f.context.close();

      f = await open('xdr-bad');
      const bad = await subscribeUntilFatal(f.page,
        Object.assign({ url: `${origin}/push`, topics: ['/bt/xdr'], cors: true, token: 'v1.alice.99999999999.forged' }, FAST), 15000);
      const before = f.requests;
      await sleep(3000);
      ok(/(^| )unauthorized:401:fatal$/.test(bad.errors) && f.requests === before,
        'IE8/9 through XDomainRequest: a forged token is found out (the fallback poll goes by JSONP), fatal, and the client stops',
        `errors ${bad.errors}\nrequests after the fatal error: ${f.requests - before}`);
      await f.context.close();

      // The same with the poll forced: there is no fallback to fail into,
      // yet the 401 is found out the same way after one failed poll.
      f = await open('xdr-poll-bad');
      const pbad = await subscribeUntilFatal(f.page,
        Object.assign({ url: `${origin}/push`, topics: ['/bt/xdr'], cors: true, transport: 'poll', token: 'v1.alice.99999999999.forged' }, FAST), 8000);
      const pused = await f.page.evaluate(() => window.XDR_USED);
      const pbefore = f.requests;
      await sleep(1500);
      ok(/^(network:0: ){1,2}unauthorized:401:fatal$/.test(pbad.errors) && pused > 0 && f.requests === pbefore,
        'IE8/9 through XDomainRequest, transport poll: a forged token is found out after a failed poll (JSONP), fatal, and the client stops',
        `errors ${pbad.errors}\nXDomainRequest used ${pused} times; requests after the fatal error: ${f.requests - pbefore}`);
      await f.context.close();
    }

    /* ---- E: cross-origin page without CORS: auto picks JSONP */
    {
      const xorigin = `http://localhost:${port}`;
      const f = await openFixture(browser, xorigin, { name: 'xorigin', scriptSrc: `${origin}/pushlite.js` });
      await f.page.waitForFunction(() => typeof Pushlite !== 'undefined', null, { timeout: 10000 })
        .catch((e) => note(`cross-origin page: ${e.message.split('\n')[0]}\n${f.consoleLines.join('\n')}`));
      await f.page.evaluate((o) => startSub(o), Object.assign({ url: `${origin}/push`, topics: ['/bt/xo'] }, FAST));
      await waitFor(async () => { const x = await state(f.page); return x.cursor !== null && !!x.transport; }, 10000);
      const { ids, st } = await publishTwoAndWait(server, f.page, '/bt/xo');
      ok(st.transport === 'jsonp' && sameList(idList(st.ids), ids),
        'cross-origin without CORS: auto picks jsonp and delivers', describe(st, ids));
      await f.context.close();
    }

    /* ---- F: cursor persistence across a reload */
    for (const persist of ['session', 'cookie']) {
      for (const tr of ['sse', 'longpoll']) {
        const topic = `/bt/persist/${persist}/${tr}`;
        const f = await openFixture(browser, origin, { name: `persist-${persist}-${tr}` });
        const opts = Object.assign({ url: '/push', topics: [topic], transport: tr, persist }, FAST);
        await f.page.evaluate((o) => startSub(o), opts);
        await waitFor(async () => { const x = await state(f.page); return x.cursor !== null && !!x.transport; }, 10000);
        const first = [await server.publish(topic, 'p1'), await server.publish(topic, 'p2')];
        await waitFor(async () => (await state(f.page)).ids === first.join(','), 10000);
        await f.page.goto('about:blank');
        const missed = [await server.publish(topic, 'while away 1'), await server.publish(topic, 'while away 2')];
        await loadFixture(f.page, origin, fixture('/pushlite.js'));
        await f.page.evaluate((o) => startSub(o), opts);
        const later = await waitFor(async () => (await state(f.page)).transport === tr, 10000);
        void later;
        missed.push(await server.publish(topic, 'after reload'));
        const st = await waitFor(async () => {
          const s = await state(f.page);
          return idList(s.ids).length >= 3 ? s : null;
        }, 15000) || await state(f.page);
        await sleep(300);
        const fin = await state(f.page);
        ok(sameList(idList(fin.ids), missed),
          `persist ${persist} (${tr}): after a reload resumes from the saved cursor, no loss, no repeat`, describe(fin, missed));
        void st;
        await f.context.close();
      }
    }

    /* ---- G: the database recreated (ids restart): the client follows the reset */
    {
      const list = [];
      for (const tr of ['sse', 'longpoll', 'iframe']) {
        const f = await openFixture(browser, origin, { name: 'reset-' + tr });
        f.tr = tr;
        f.topic = '/bt/reset/' + tr;
        await f.page.evaluate((o) => startSub(o), Object.assign({ url: '/push', topics: [f.topic], transport: tr }, FAST));
        await waitFor(async () => (await state(f.page)).transport === tr, 10000);
        list.push(f);
      }
      for (const f of list) {
        const id = await server.publish(f.topic, 'before reset');
        await waitFor(async () => (await state(f.page)).ids === String(id), 10000);
      }
      await server.stop();
      for (const n of fs.readdirSync(stateDir)) {
        if (/^pushlite\.db/.test(n)) fs.rmSync(path.join(stateDir, n), { force: true, recursive: true });
      }
      await server.start();
      const fresh = {};
      for (const f of list) fresh[f.tr] = [await server.publish(f.topic, 'after reset 1'), await server.publish(f.topic, 'after reset 2')];
      for (const f of list) {
        const st = await waitFor(async () => {
          const s = await state(f.page);
          return idList(s.ids).length >= 3 ? s : null;
        }, 30000) || await state(f.page);
        const got = idList(st.ids).slice(1);
        ok(st.resets >= 1 && sameList(got, fresh[f.tr]) && !st.misshapen,
          `${f.tr}: database recreated: reports the reset (an error with every documented field) and delivers the new lower ids`,
          describe(st, fresh[f.tr]) + `\nresets ${st.resets}; errors without a documented field: ${st.misshapen}`);
        await f.context.close();
      }
    }

    /* ---- G2: messages purged before delivery: the client reports the gap */
    {
      const list = [];
      for (const tr of ['longpoll', 'sse', 'jsonp']) {
        const f = await openFixture(browser, origin);
        f.tr = tr;
        f.topic = '/bt/gap/' + tr;
        f.opts = Object.assign({ url: '/push', topics: [f.topic], transport: tr, persist: 'session' }, FAST);
        await f.page.evaluate((o) => startSub(o), f.opts);
        await waitFor(async () => (await state(f.page)).transport === tr, 10000);
        const id = await server.publish(f.topic, 'seen');
        await waitFor(async () => (await state(f.page)).ids === String(id), 10000);
        await f.page.goto('about:blank');
        list.push(f);
      }
      let purgeUpTo = 0;
      for (const f of list) purgeUpTo = Math.max(purgeUpTo, await server.publish(f.topic, 'purged before delivery'));
      for (const f of list) f.want = [await server.publish(f.topic, 'kept')];
      // delete every message up to purgeUpTo, so the oldest kept is above each cursor + 1
      const all = await request(port, 'GET', '/push/admin/messages?topic=/&since=all&limit=1000',
        { headers: { Authorization: 'Bearer ' + ADMIN } });
      let deleted = 0;
      if (all.status === 200) {
        for (const m of JSON.parse(all.body).messages) {
          if (m.id > purgeUpTo) continue;
          const r = await request(port, 'DELETE', '/push/admin/messages/' + m.id, { headers: { Authorization: 'Bearer ' + ADMIN } });
          if (r.status === 204) deleted++;
        }
      }
      ok(all.status === 200 && deleted > 0, 'admin: messages listed and deleted to make a gap', `list ${all.status} ${all.body.slice(0, 200)}; deleted ${deleted}`);
      for (const f of list) {
        await loadFixture(f.page, origin, fixture('/pushlite.js'));
        await f.page.evaluate((o) => startSub(o), f.opts);
        const st = await waitFor(async () => {
          const s = await state(f.page);
          return s.gaps >= 1 && idList(s.ids).length >= 1 ? s : null;
        }, 15000) || await state(f.page);
        // a stream counts as working once it lasts streamMin (1 s) or delivers
        await waitFor(async () => ((await state(f.page)).transport === f.tr ? true : null), 5000);
        await sleep(300);
        const fin = await state(f.page);
        ok(fin.gaps === 1 && sameList(idList(fin.ids), f.want) && fin.transport === f.tr && !fin.misshapen,
          `${f.tr}: messages purged after the saved cursor: reports the gap once (an error with every documented field) and goes on`,
          describe(fin, f.want) + `\ngaps ${fin.gaps}; errors without a documented field: ${fin.misshapen}`);
        void st;
        await f.context.close();
      }
    }

    /* ---- I: streams that end at once, silent streams, notices, cursors per user */
    // Every stream the page asks for is answered with body and ends at
    // once (a proxy cutting streamed answers); the count of them.
    async function cutStreams(page, contentType, body) {
      const n = { streams: 0 };
      await page.route('**/push/stream?**', (route) => {
        n.streams++;
        route.fulfill({ status: 200, contentType, body });
      });
      return n;
    }
    const SSE_CUT = 'retry: 3000\n\n: hb\n\n';
    {
      // A stream that opens and ends at once (a proxy cutting streamed
      // answers): the client backs off instead of reconnecting without pause.
      const f = await openFixture(browser, origin);
      const cut = await cutStreams(f.page, 'text/event-stream', SSE_CUT);
      await f.page.evaluate((o) => startSub(o), { url: '/push', topics: ['/bt/cut'], transport: 'sse', retryMin: 200, retryMax: 2000 });
      await sleep(8000);
      const streams = cut.streams;
      ok(streams >= 2 && streams <= 12, `sse: a stream that ends as it opens is retried with backoff (${streams} streams in 8 s)`,
        `${streams} streams in 8 s; without backoff about 40`);
      // ... and is a failure: reported, and after fallbackAfter (2) in a
      // row the client polls meanwhile, so messages do not wait for the
      // catch-up poll of the next reconnection.
      const st = await state(f.page);
      const net = st.errors.split(' ').filter((e) => e === 'network:0:sse').length;
      ok(net >= 2 && st.transports.split(',').indexOf('poll') >= 0,
        `sse: streams that end as they open are reported (${net} network errors) and the client falls back to the poll`,
        JSON.stringify({ errors: st.errors, transports: st.transports }));
      await f.context.close();
    }
    {
      // Probes of a stream that ends as it opens are failed probes: the
      // probe interval doubles (0.5, 1, 2, 4 s here), instead of a probe
      // every 0.5 s that "worked" at each opening.
      const f = await openFixture(browser, origin);
      const cut = await cutStreams(f.page, 'text/event-stream', SSE_CUT);
      await f.page.evaluate((o) => startSub(o), { url: '/push', topics: ['/bt/cutprobe'], transport: 'sse',
        retryMin: 200, retryMax: 2000, probeInterval: 500, probeMax: 8000, pollInterval: 1000 });
      await sleep(9000);
      const st = await state(f.page), streams = cut.streams;
      ok(streams >= 3 && streams <= 8 && st.transport === 'poll',
        `sse: probes of streams that end as they open back off (${streams} streams in 9 s, on the poll meanwhile)`,
        JSON.stringify({ streams, transports: st.transports, errors: st.errors }) + '; without backoff about 15');
      await f.context.close();
    }
    {
      // An iframe document that ends without any call (cut on its way, or
      // another server's page; pushlite's refusals are calls) is a network
      // failure, retried, not a refusal.
      const f = await openFixture(browser, origin);
      const cut = await cutStreams(f.page, 'text/html', '<html><body><!-- cut --></body></html>');
      await f.page.evaluate((o) => startSub(o), { url: '/push', topics: ['/bt/ifcut'], transport: 'iframe', retryMin: 200, retryMax: 2000 });
      await sleep(5000);
      const st = await state(f.page), frames = cut.streams;
      const errs = st.errors.split(' ');
      ok(frames >= 2 && errs.indexOf('network:0:iframe') >= 0 && !errs.some((e) => e.startsWith('refused')),
        `iframe: a document without any call is a network failure, retried (${frames} documents), not a refusal`,
        JSON.stringify({ frames, errors: st.errors, transports: st.transports }));
      await f.context.close();
    }
    {
      // The server ends every stream after stream_max_time; an EventSource
      // still open after streamMaxAge died silently (its heartbeats are
      // comments, invisible to script) and is started over, losing nothing.
      const f = await openFixture(browser, origin);
      let streams = 0;
      f.page.on('request', (r) => { if (r.url().includes('/push/stream?')) streams++; });
      await f.page.evaluate((o) => startSub(o), { url: '/push', topics: ['/bt/age'], transport: 'sse', streamMaxAge: 2500 });
      await waitFor(async () => ((await state(f.page)).transport === 'sse' ? true : null), 10000);
      const want = [await server.publish('/bt/age', 'one')];
      await sleep(3500);
      want.push(await server.publish('/bt/age', 'two'));
      const st = await waitFor(async () => {
        const s = await state(f.page);
        return idList(s.ids).length >= 2 ? s : null;
      }, 10000) || await state(f.page);
      ok(streams >= 2 && sameList(idList(st.ids), want), `sse: a stream older than streamMaxAge is started over, nothing lost or repeated (${streams} streams)`,
        describe(st, want) + `\nstreams ${streams}`);
      await f.context.close();
    }
    {
      // The notice that a forced transport is not available comes after
      // subscribe() returned, with the subscription as `this` and status 0.
      const f = await openFixture(browser, origin, { strip: STRIP_ES });
      const got = await f.page.evaluate(() => new Promise((resolve) => {
        var sub = null, early = false;
        sub = Pushlite.subscribe({ url: '/push', topics: ['/bt/unsup'], transport: 'sse',
          onError: function (e) {
            if (e.code !== 'unsupported') return;
            resolve({ same: this === sub && sub !== null, status: e.status, early: early });
          } });
        early = false;
        setTimeout(function () { resolve(null); sub.close(); }, 3000);
      }));
      ok(got && got.same && got.status === 0, 'unsupported transport: notice after subscribe() returned, this = the subscription, status 0',
        JSON.stringify(got));
      await f.context.close();
    }
    {
      // persist: two users on the same topics keep cursors of their own.
      const f = await openFixture(browser, origin);
      const tok = (user) => {
        const body = `v1.${user}.${Math.floor(Date.now() / 1000) + 3600}`;
        return body + '.' + require('crypto').createHmac('sha256', SECRET).update(body).digest('base64url');
      };
      await server.publish('/bt/pk', 'for everyone');
      // User names may hold dots: alice.smith and alice.jones are two users.
      await f.page.evaluate((t) => {
        T.subs = t.map(function (tk) {
          return Pushlite.subscribe({ url: '/push', topics: ['/bt/pk'], persist: 'session', token: tk, transport: 'poll', since: 'all' });
        });
        return true;
      }, [tok('alice.smith'), tok('alice.jones'), tok('bob')]);
      await sleep(1500);
      const keys = await f.page.evaluate(() => {
        T.subs.forEach(function (s) { s.close(); });
        var k = [];
        for (var i = 0; i < sessionStorage.length; i++) k.push(sessionStorage.key(i));
        return k.sort();
      });
      ok(keys.length === 3 && /\|alice\.jones$/.test(keys[0]) && /\|alice\.smith$/.test(keys[1]) && /\|bob$/.test(keys[2]),
        'persist: subscriptions of three users (token=; two names with dots) on the same topics keep separate cursors', JSON.stringify(keys));
      await f.context.close();
    }
    {
      // An option given as null or '' (an unset setting passed through) is
      // not given: the default, not 0 (a poll every 0 ms, timeout=1).
      const f = await openFixture(browser, origin);
      const urls = [];
      f.page.on('request', (r) => { if (/\/push\/(poll|longpoll)\?/.test(r.url())) urls.push(r.url()); });
      await f.page.evaluate(() => {
        T.subs = [Pushlite.subscribe({ url: '/push', topics: ['/bt/unset'], transport: 'poll', pollInterval: null, retryMin: '' }),
          Pushlite.subscribe({ url: '/push', topics: ['/bt/unset'], transport: 'longpoll', timeout: null })];
        return true;
      });
      await sleep(1500);
      await f.page.evaluate(() => { T.subs[0].close(); T.subs[1].close(); return true; });
      const polls = urls.filter((u) => /\/poll\?/.test(u)).length;
      const lps = urls.filter((u) => /\/longpoll\?/.test(u));
      const t = lps.map((u) => (/[?&]timeout=(\d+)/.exec(u) || [])[1]).join(',');
      ok(polls <= 3 && lps.length >= 1 && lps.every((u) => /[?&]timeout=25(&|$)/.test(u)),
        `options null or '': their defaults (${polls} polls in 1.5 s; long poll timeout=${t})`,
        `polls ${polls}; long polls ${lps.join(' ')}`);
      await f.context.close();
    }
    {
      // A long poll that gets no answer in time is reported as "timeout".
      const f = await openFixture(browser, origin);
      await f.page.route('**/push/longpoll?**', () => { /* never answered */ });
      await f.page.evaluate((o) => startSub(o), { url: '/push', topics: ['/bt/to'], transport: 'longpoll', timeout: 1, retryMin: 60000 });
      const st = await waitFor(async () => {
        const s = await state(f.page);
        return s.errors ? s : null;
      }, 30000) || await state(f.page);
      ok(/^timeout:0:longpoll/.test(st.errors), 'longpoll: an answer that does not come in time is reported as timeout, not network', st.errors);
      await f.context.close();
    }
    {
      // Long polls on an idle topic that come back at once and empty are
      // not asked again in a tight loop: timeout 0 (which the server answers
      // at once) counts as 1 s, and empty answers that come sooner than the
      // server holds a request (a proxy answering at once) back off.
      const list = [];
      for (const [tr, proxy] of [['longpoll', false], ['jsonp', false], ['longpoll', true], ['jsonp', true]]) {
        const f = await openFixture(browser, origin);
        f.label = proxy ? `${tr}: empty answers that come at once (a proxy)` : `${tr}: timeout 0 on an idle topic`;
        f.proxy = proxy;
        f.topic = `/bt/idle/${tr}${proxy ? '/proxy' : ''}`;
        f.times = [];
        f.page.on('request', (r) => { if (r.url().includes('/push/longpoll?')) f.times.push(Date.now()); });
        if (proxy) {
          await f.page.route('**/push/longpoll?**', (route) => {
            const cb = new URL(route.request().url()).searchParams.get('callback');
            const body = '{"cursor":1,"more":false,"messages":[]}';
            route.fulfill({ status: 200, contentType: cb ? 'application/javascript' : 'application/json',
              body: cb ? `${cb}(${body});` : body });
          });
        }
        await f.page.evaluate((o) => startSub(o), { url: '/push', topics: [f.topic], transport: tr,
          timeout: proxy ? 20 : 0, retryMin: 200, retryMax: 1500 });
        list.push(f);
      }
      // count each page's long polls in the 3 s from its first one
      for (const f of list) await waitFor(() => f.times.length > 0 && Date.now() > f.times[0] + 3100, 15000);
      for (const f of list) {
        const n = f.times.filter((t) => f.times.length && t < f.times[0] + 3000).length;
        // held 1 s each: 3 (4 with the lag of the browser's events); a proxy's: backoff from 100-200 ms doubling up to 0.75-1.5 s: 5-7
        const [lo, hi] = f.proxy ? [3, 9] : [2, 5];
        ok(n >= lo && n <= hi, `${f.label}: no tight loop (${n} long polls in 3 s)`,
          `${n} long polls in 3 s, want ${lo}-${hi}; gaps ${gaps(f.times.slice(0, 12)).join(', ')} ms; errors ${(await state(f.page)).errors}`);
      }
      for (const f of list) {
        if (f.proxy) continue;
        const id = await server.publish(f.topic, 'after idle');
        const st = await waitFor(async () => { const s = await state(f.page); return s.ids === String(id) ? s : null; }, 5000) ||
          await state(f.page);
        ok(st.ids === String(id) && st.errors === '', `${f.label}: a message still arrives`, describe(st, [id]));
      }
      for (const f of list) await f.context.close();
    }

    /* ---- H: the demo page */
    {
      const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
      const page = await context.newPage();
      const errs = [];
      page.on('pageerror', (e) => errs.push(e.message));
      await page.goto(`${origin}/`);
      await page.fill('#topics', '/demo');
      await page.selectOption('#transport', 'auto');
      await page.click('#subscribe');
      const tr = await waitFor(async () => {
        const t = (await page.textContent('#active-transport')).trim();
        return /^(sse|longpoll|jsonp|iframe|poll)$/.test(t) ? t : null;
      }, 10000);
      ok(tr === 'sse', 'demo page: subscribes and shows the transport in use', `shows ${tr}`);
      await page.fill('#pub-topic', '/demo');
      await page.fill('#pub-token', PUB);
      for (const text of ['Hello from the demo page', 'Disk 91 % full on db-2', 'Deploy finished']) {
        await page.fill('#pub-text', text);
        await page.click('#publish');
        await waitFor(async () => (await page.textContent('#messages')).includes(text), 10000);
      }
      const ext = await server.publish('/demo/ops', 'published with curl');
      const seen = await waitFor(async () => (await page.textContent('#messages')).includes('published with curl'), 10000);
      ok(!!seen, 'demo page: messages published from the form and from outside appear live', `id ${ext}`);
      const pubResult = await page.textContent('#pub-result');
      ok(/\b201\b|id/i.test(pubResult), 'demo page: shows the publish result', pubResult);
      await page.selectOption('#transport', 'longpoll');
      await page.click('#subscribe');
      const tr2 = await waitFor(async () => {
        const t = (await page.textContent('#active-transport')).trim();
        return t === 'longpoll' ? t : null;
      }, 10000);
      await server.publish('/demo', 'now over long-poll');
      const seen2 = await waitFor(async () => (await page.textContent('#messages')).includes('now over long-poll'), 10000);
      ok(tr2 === 'longpoll' && !!seen2, 'demo page: forcing a transport switches to it', `shows ${tr2}`);
      await page.screenshot({ path: path.join(OUT, 'demo.png'), fullPage: true });
      ok(fs.statSync(path.join(OUT, 'demo.png')).size > 5000, `demo page: screenshot saved to ${path.relative(ROOT, path.join(OUT, 'demo.png'))}`);
      ok(errs.length === 0, 'demo page: no script errors', errs.join('\n'));
      await context.close();
    }

    /* ---- J: the host is full (429 with Retry-After): the client waits that
     * long before it asks again, and keeps working through the poll */
    {
      await server.stop();
      await server.start({ extra: 'max_waiting = 1\n' });
      const holder = await hold(port, '/push/stream?topic=/bt/full/hold&since=now&format=sse');
      // (each program reads the host's count of waiting requests every 100 ms)
      const full = await waitFor(async () => {
        const r = await request(port, 'GET', '/push/longpoll?topic=/bt/full&since=now&timeout=1');
        return r.status === 429 ? r : null;
      }, 5000) || await request(port, 'GET', '/push/longpoll?topic=/bt/full&since=now&timeout=1');
      const ra = parseInt(full.headers['retry-after'], 10);
      ok(holder.status === 200 && full.status === 429 && ra > 0,
        'max_waiting = 1, one stream held: /push/longpoll answers 429 with Retry-After',
        `stream ${holder.status}; longpoll ${full.status} retry-after=${full.headers['retry-after']} ${full.body.slice(0, 200)}`);
      const list = [];
      for (const tr of ['longpoll', 'jsonp', 'iframe']) {
        const f = await openFixture(browser, origin);
        f.tr = tr;
        f.topic = '/bt/full/' + tr;
        f.times = [];
        const ep = tr === 'iframe' ? '/push/stream?' : '/push/longpoll?';
        f.page.on('request', (r) => { if (r.url().includes(ep)) f.times.push(Date.now()); });
        await f.page.evaluate((o) => startSub(o), Object.assign({}, FAST, { url: '/push', topics: [f.topic], transport: tr, probeMax: 60000 }));
        list.push(f);
      }
      // the first request and the next one (the probe from the fallback),
      // both refused: 429 reported twice, with the server's Retry-After
      for (const f of list) {
        await waitFor(async () => f.times.length >= 2 && (await f.page.evaluate(() => T.full.length)) >= 2, (ra * 1.25 + 5) * 1000);
      }
      for (const f of list) {
        const st = await state(f.page);
        const full = await f.page.evaluate(() => T.full.join(' '));
        const errs = st.errors;
        const g = gaps(f.times.slice(0, 2));
        // (less 0.5 s for the lag of the browser's events; without the wait: 0.1-0.3 s)
        ok(g.length === 1 && g[0] >= ra * 1000 - 500 && full.split(' ').slice(0, 2).join(' ') === `429:${ra} 429:${ra}` &&
          st.transports === 'poll',
          `${f.tr}: host full (429): asks again only after Retry-After (${ra} s), on the poll meanwhile`,
          `gaps between requests ${g.join(', ')} ms; 429s (status:retryAfter) ${full}; errors ${errs}; transports ${st.transports}`);
      }
      for (const f of list) f.want = [await server.publish(f.topic, 'while the host is full')];
      for (const f of list) {
        const st = await waitFor(async () => { const s = await state(f.page); return s.ids ? s : null; }, 5000) || await state(f.page);
        ok(sameList(idList(st.ids), f.want) && st.transport === 'poll', `${f.tr}: host full: messages arrive through the poll`,
          describe(st, f.want));
      }
      holder.destroy();
      for (const f of list) await f.context.close();
    }

    /* ---- K: a raw EventSource (no pushlite.js) on a quiet topic: its
     * stream ends at stream_max_time before any message, and a message
     * published while the browser waits out retry: comes with the
     * reconnection (the first block named the cursor as an id) */
    {
      await server.stop();
      await server.start({ extra: 'stream_max_time = 2\n' });
      const f = await openFixture(browser, origin);
      await f.page.evaluate(() => {
        var es = new EventSource('/push/stream?topic=/bt/raw');
        window.RAW = { es: es, opens: 0, errors: 0, ids: [] };
        es.onopen = function () { RAW.opens++; };
        es.onerror = function () { RAW.errors++; };
        es.onmessage = function (e) { RAW.ids.push(JSON.parse(e.data).id); };
      });
      const ended = await waitFor(async () => (await f.page.evaluate(() => RAW.errors)) >= 1 || null, 8000);
      const want = [await server.publish('/bt/raw', 'while EventSource waits to reconnect')];
      const got = await waitFor(async () => {
        const r = await f.page.evaluate(() => ({ opens: RAW.opens, ids: RAW.ids.join(','), last: RAW.es.readyState }));
        return r.ids ? r : null;
      }, 8000) || await f.page.evaluate(() => ({ opens: RAW.opens, ids: RAW.ids.join(','), none: true }));
      ok(ended && got.opens >= 2 && sameList(idList(got.ids), want),
        'raw EventSource: a message published while it reconnects after stream_max_time comes with the reconnection',
        `stream ended ${!!ended}; ${JSON.stringify(got)}; want ${want.join(',')}`);
      await f.page.evaluate(() => RAW.es.close());
      await f.context.close();
    }
  } catch (e) {
    ok(false, 'browser tests ran to the end', e.stack || String(e));
  } finally {
    for (const f of pages) await f.context.close().catch(() => {});
    if (browser) await browser.close().catch(() => {});
    await server.stop().catch(() => {});
    if (!process.env.BT_KEEP_STATE) fs.rmSync(stateDir, { recursive: true, force: true });
    else note(`state kept in ${stateDir}`);
  }
}

main().catch((e) => {
  ok(false, 'browser tests ran', e.stack || String(e));
}).finally(() => {
  console.log(`1..${tapN}`);
  note(`${tapN - tapFailed} passed, ${tapFailed} failed`);
  process.exitCode = tapFailed ? 1 : 0;
});
