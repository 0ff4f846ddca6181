'use strict';
// Checks the client's probe timing while push is refused, in node with a
// stand-in XMLHttpRequest: every long poll answers 503 push_off with
// Retry-After: 30, and probeMax (200 ms here) must bound the wait between
// probes, jitter included (docs/client.md: "at most probeMax").
const vm = require('vm');

function XHR(log) {
  return function () {
    this.readyState = 0;
    this.open = function (m, u) { this.u = u; };
    this.send = function () {
      const x = this;
      const lp = x.u.indexOf('/longpoll') >= 0;
      if (lp) log.push(Date.now());
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

// Resolves to a list of problems (empty when the timing holds).
function run(src) {
  const log = [];
  const win = {
    document: { readyState: 'complete', createElement() { return {}; }, getElementsByTagName() { return [{}]; } },
    location: { protocol: 'http:', host: 'h' }, XMLHttpRequest: XHR(log),
    setTimeout, clearTimeout, setInterval, clearInterval, JSON,
  };
  const ctx = { window: win };
  vm.createContext(ctx);
  vm.runInContext(src, ctx, { filename: 'pushlite.js' });
  const sub = ctx.Pushlite.subscribe({ url: '/push', topics: '/a', transport: 'longpoll', probeMax: 200,
    probeInterval: 100, pollInterval: 50, onError() {} });
  return new Promise(function (resolve) {
    setTimeout(function () {
      sub.close();
      const gaps = log.slice(1).map(function (t, i) { return t - log[i]; });
      const problems = [];
      if (log.length < 8) problems.push('only ' + log.length + ' probes in 3 s');
      // 200 ms and the stand-in's few ms of answering
      const worst = Math.max.apply(null, gaps.concat([0]));
      if (worst > 215) problems.push('a probe came ' + worst + ' ms after the last (probeMax 200)');
      resolve(problems);
    }, 3000);
  });
}

module.exports = { run };
