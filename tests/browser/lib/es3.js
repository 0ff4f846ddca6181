'use strict';
// ES3 checks for browser code that must run in IE6-era browsers.
// Syntax: acorn with ecmaVersion 3, reserved words refused even as property
// names (as old JScript did); no trailing comma in array literals (IE counts
// an extra element). Runtime: ES5+ built-ins must not be called unguarded.
const acorn = require('acorn');

const BANNED_METHODS = new Set(['forEach', 'map', 'filter', 'reduce', 'reduceRight',
  'some', 'every', 'lastIndexOf', 'trim', 'bind', 'toISOString']);
const BANNED_STATICS = new Map(Object.entries({
  Object: new Set(['keys', 'create', 'defineProperty', 'defineProperties', 'freeze',
    'getPrototypeOf', 'getOwnPropertyNames', 'assign', 'seal']),
  Array: new Set(['isArray', 'from', 'of']),
  Date: new Set(['now']),
  JSON: new Set(['parse', 'stringify']),
}));

// Returns a list of problems (empty when the source is fine).
function check(src, name) {
  const problems = [];
  let tokens;
  try {
    acorn.parse(src, { ecmaVersion: 3, allowReserved: 'never', sourceType: 'script' });
    tokens = [...acorn.tokenizer(src, { ecmaVersion: 3, allowReserved: 'never', locations: true })];
  } catch (e) {
    problems.push(`${name}: not ES3: ${e.message}`);
    return problems;
  }
  const label = (t) => t.type.label;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i], nx = tokens[i + 1], nx2 = tokens[i + 2];
    const where = `${name}:${t.loc.start.line}`;
    if (label(t) === ',' && nx && label(nx) === ']')
      problems.push(`${where}: trailing comma in array literal`);
    if (label(t) === '.' && nx && label(nx) === 'name' && BANNED_METHODS.has(nx.value) &&
        nx2 && label(nx2) === '(')
      problems.push(`${where}: ES5 method .${nx.value}()`);
    if (label(t) === 'name' && BANNED_STATICS.has(t.value) && nx && label(nx) === '.' && nx2 &&
        BANNED_STATICS.get(t.value).has(nx2.value) && !(i > 0 && label(tokens[i - 1]) === '.'))
      problems.push(`${where}: ES5 built-in ${t.value}.${nx2.value}`);
    if (label(t) === 'name' && t.value === 'eval')
      problems.push(`${where}: eval`);
    if (label(t) === 'new' && nx && nx.value === 'Function')
      problems.push(`${where}: new Function`);
  }
  return problems;
}

module.exports = { check };
