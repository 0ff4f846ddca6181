'use strict';
// Checks the fallback JSON parser of pushlite.js in a context without the
// JSON built-in (and without other ES5 built-ins), as in IE6/IE7.
const vm = require('vm');

const VALID = [
  '{"cursor":12,"more":false,"messages":[{"id":12,"topic":"/a","data":"x"}]}',
  '[]', '{}', '0', '-0.5e+3', '1E2', 'true', 'false', 'null', '"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"',
  '"\\u00e9\\u2028\\ud83d\\ude00"', ' [ 1 , 2 , { "a" : [ ] } ] ', '"</script>"',
  '{"__proto__":{"x":1},"y":2}', '{"a":{"b":{"c":[1,[2,[3]]]}}}', '"é ü 中"',
];
const INVALID = [
  '', ' ', '{', '[1,]', '{"a":1,}', "{'a':1}", '{a:1}', '01', '1.', '.5', '+1', '- 1',
  '"\\x41"', '"a\nb"', 'tru', 'nul', 'NaN', 'Infinity', 'undefined', '[1] x',
  'alert(1)', '(function(){})()', '"\\u12"', '{"a" 1}', '[1 2]', '"abc',
];

function run(src) {
  const ctx = { window: undefined };
  vm.createContext(ctx);
  vm.runInContext('delete this.JSON; delete Array.prototype.forEach; delete Array.prototype.map;' +
    'delete Array.prototype.indexOf; delete Object.keys; delete Date.now;' +
    'delete String.prototype.trim; delete Function.prototype.bind;', ctx);
  vm.runInContext(src, ctx, { filename: 'pushlite.js' });
  const P = ctx.Pushlite;
  const problems = [];
  if (!P || typeof P.parseJSON !== 'function') return ['Pushlite.parseJSON missing'];
  for (const t of VALID) {
    let got;
    try {
      got = P.parseJSON(t);
    } catch (e) {
      problems.push(`rejected valid ${JSON.stringify(t)}: ${e.message}`);
      continue;
    }
    const want = JSON.parse(t);
    // compare through JSON of this (outer) realm; own-key order preserved
    const norm = (v) => JSON.stringify(v, (k, x) => (Object.is(x, -0) ? '-0' : x));
    const gotN = norm(JSON.parse(JSON.stringify(got) ?? 'null'));
    if (t.includes('__proto__')) {
      if (got.y !== 2 || Object.getPrototypeOf(got) !== vm.runInContext("Object.prototype", ctx))
        problems.push(`__proto__ key changed the prototype for ${t}`);
      continue;
    }
    if (gotN !== norm(want)) problems.push(`${JSON.stringify(t)}: got ${gotN}, want ${norm(want)}`);
  }
  for (const t of INVALID) {
    let ok = false;
    try {
      P.parseJSON(t);
      ok = true;
    } catch (e) { /* expected */ }
    if (ok) problems.push(`accepted invalid ${JSON.stringify(t)}`);
  }
  if (ctx.alerted) problems.push('code was evaluated');
  return problems;
}

module.exports = { run };
