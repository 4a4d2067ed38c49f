// Small DOM and date helpers for the paperbus page. Nothing here ever parses
// a string from the API as HTML: text goes in as text nodes, and a search
// snippet (HTML-escaped text with <mark> tags) is rebuilt node by node.

// h('a', {href: '/x', class: 'y'}, 'text', child) builds an element. Attribute
// values of null, undefined or false are left out; true sets an empty value;
// `on*` functions become event listeners. Children are nodes or strings
// (inserted as text); null, undefined and false children are skipped.
export function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'dataset') {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

// The text an HTML-escaped string stands for (named entities of escaping,
// and numeric ones); anything else is kept as it is.
export function unescapeHtml(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, entity) => {
    if (entity[0] === '#') {
      const code = entity[1] === 'x' || entity[1] === 'X'
        ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[entity.toLowerCase()] ?? whole;
  });
}

// The nodes of a search snippet: its text, with the words between <mark> and
// </mark> in <mark> elements. Any other tag would show as plain text.
export function snippetNodes(snippet) {
  const nodes = [];
  let marked = false;
  for (const part of String(snippet).split(/(<\/?mark>)/)) {
    if (part === '<mark>') marked = true;
    else if (part === '</mark>') marked = false;
    else if (part) {
      const text = unescapeHtml(part);
      nodes.push(marked ? h('mark', null, text) : document.createTextNode(text));
    }
  }
  return nodes;
}

// ---- dates: days are YYYY-MM-DD strings, always read and written in UTC ----

export function todayUtc() {
  return new Date().toISOString().slice(0, 10);
}

export function isDay(text) {
  return /^\d{4}-\d{2}-\d{2}$/.test(text || '') && !Number.isNaN(Date.parse(text + 'T00:00:00Z'));
}

export function addDays(day, count) {
  const date = new Date(day + 'T00:00:00Z');
  date.setUTCDate(date.getUTCDate() + count);
  return date.toISOString().slice(0, 10);
}

const LONG_DAY = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'UTC', weekday: 'long', day: 'numeric', month: 'long', year: 'numeric',
});
const SHORT_DAY = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'UTC', day: 'numeric', month: 'short', year: 'numeric',
});
const MONTH = new Intl.DateTimeFormat('en-GB', { timeZone: 'UTC', month: 'long', year: 'numeric' });

function asDate(day) {
  return new Date(String(day).slice(0, 10) + 'T00:00:00Z');
}

export function longDay(day) {
  return isDay(String(day).slice(0, 10)) ? LONG_DAY.format(asDate(day)) : String(day);
}

export function shortDay(day) {
  return isDay(String(day).slice(0, 10)) ? SHORT_DAY.format(asDate(day)) : String(day);
}

export function monthName(day) {
  return MONTH.format(asDate(day));
}

// "12 May 2026" as a <time> element.
export function timeElement(day, format = shortDay) {
  const value = String(day).slice(0, 10);
  return h('time', { datetime: isDay(value) ? value : null }, format(day));
}
