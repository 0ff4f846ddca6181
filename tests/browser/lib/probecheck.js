'use strict';
// Checks the client's probe timing while push is refused, in node with a
// stand-in XMLHttpRequest: every long poll answers 503 push_off with
// Retry-After: 30, and probeMax (200 ms here) must bound the wait between
// probes, jitter included (docs/client.md: "at most probeMax"). The wait
// checked is the delay the client asks of the timer that sends a probe,
// not the time measured between probes: a loaded machine fires timers
// late, never early, and would fail a wall-clock bound without a fault.
const vm = require('vm');

// The requested delay of the client's timer whose callback runs now (null:
// none; the stand-in XHR answers on timers of its own, not through it).
let firing = null;

function clientSetTimeout(fn, ms) {
  return setTimeout(function () {
    firing = +ms || 0;
    try { fn(); } finally { firing = null; }
  }, ms);
}

function XHR(log, waits) {
  return function () {
    this.readyState = 0;
    this.open = function (m, u) { this.u = u; };
    this.send = function () {
      const x = this;
      const lp = x.u.indexOf('/longpoll') >= 0;
      if (lp) {
        log.push(Date.now());
        waits.push(firing === null ? 0 : firing);
      }
      setTimeout(function () {
        x.readyState = 4;
        x.status = lp ? 503 : 200;
        x.responseText = lp ? '{"error":"push_off","message":"push is off"}'
          : '{"cursor":5,"more":false,"messages":[]}';
        x.onreadystatechange();
      }, 2);
    };
    this.abort = function () {};
    this.getResponseHeader = function (h) { return /retry-after/i.test(h) && this.u.indexOf('/longpoll') >= 0 ? '30' : null; };
  };
}

// The client's Pushlite, loaded into a window with no DOM but these.
function load(src, XMLHttpRequest, setTimeoutFn) {
  const win = {
    document: { readyState: 'complete', createElement() { return {}; }, getElementsByTagName() { return [{}]; } },
    location: { protocol: 'http:', host: 'h' }, XMLHttpRequest,
    setTimeout: setTimeoutFn, clearTimeout, setInterval, clearInterval, JSON,
  };
  const ctx = { window: win };
  vm.createContext(ctx);
  vm.runInContext(src, ctx, { filename: 'pushlite.js' });
  return ctx.Pushlite;
}

// Resolves to a list of problems (empty when the timing holds).
function run(src) {
  const log = [], waits = [];
  const sub = load(src, XHR(log, waits), clientSetTimeout).subscribe({ url: '/push', topics: '/a', transport: 'longpoll', probeMax: 200,
    probeInterval: 100, pollInterval: 50, onError() {} });
  return new Promise(function (resolve) {
    setTimeout(function () {
      sub.close();
      const problems = [];
      if (log.length < 8) problems.push('only ' + log.length + ' probes in 3 s');
      const worst = Math.max.apply(null, waits.slice(1).concat([0]));
      if (worst > 200) problems.push('a probe waited for a timer of ' + worst + ' ms (probeMax 200)');
      resolve(problems);
    }, 3000);
  });
}

// An onError that closes the subscription itself: no timer of the client
// may be set after that (a retry or probe timer kept the closed
// subscription alive until it fired, 24 s at the default backoff).
// Resolves to a list of problems.
function runCloseInError(src) {
  let closed = false;
  const after = [];
  const XMLHttpRequest = function () {
    this.readyState = 0;
    this.open = function (m, u) { this.u = u; };
    this.send = function () {
      const x = this;
      setTimeout(function () {
        x.readyState = 4;
        x.status = 503;
        x.responseText = '{"error":"storage_unavailable","message":"down"}';
        x.onreadystatechange();
      }, 2);
    };
    this.abort = function () {};
    this.getResponseHeader = function () { return null; };
  };
  const Pushlite = load(src, XMLHttpRequest, function (fn, ms) {
    if (closed) after.push(ms);
    return setTimeout(fn, ms);
  });
  let errors = 0;
  Pushlite.subscribe({ url: '/push', topics: '/a', transport: 'longpoll',
    onError() { errors++; closed = true; this.close(); } });
  return new Promise(function (resolve) {
    setTimeout(function () {
      const problems = [];
      if (errors !== 1) problems.push(errors + ' onError calls, want 1');
      if (after.length) problems.push('timers set after close(): ' + after.join(', ') + ' ms');
      resolve(problems);
    }, 300);
  });
}

module.exports = { run, runCloseInError };
