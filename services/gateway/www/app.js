// The paperbus page: one document, routed by script with history.pushState
// (/, /papers/{id}, /search, /signin), talking to the JSON API of API.md.
// Strings from the API are always inserted as text (see dom.js).

import { api, ApiError } from './api.js';
import { h, snippetNodes, todayUtc, isDay, addDays, longDay, shortDay, monthName, timeElement } from './dom.js';

const WINDOWS = [
  { name: 'day', tab: 'Daily', unit: 'day' },
  { name: 'week', tab: 'Weekly', unit: 'week' },
  { name: 'month', tab: 'Monthly', unit: 'month' },
  { name: 'trending', tab: 'Trending', unit: null },
];
const SORTS = [
  { name: 'relevance', label: 'Relevance' },
  { name: 'date', label: 'Newest' },
  { name: 'trending', label: 'Trending' },
];
const AUTHORS_SHOWN = 3; // on cards: the first few, then "et al."
const PER_PAGE = 20; // the API's default page size

const view = document.getElementById('view');
const alertBox = document.getElementById('alert');
const notice = document.getElementById('notice');
const announcer = document.getElementById('announcer');

const state = {
  user: null, // {id, email} when signed in
  listDate: undefined, // the day the last daily/weekly/monthly list was about; the tabs keep it
  navigation: 0, // bumped by every render; late answers of older ones are dropped
};

// ---- messages ----

// Shows an error in BOX (the page's alert by default), from an ApiError or text.
function showError(error, box = alertBox) {
  let message = typeof error === 'string' ? error : error.message;
  if (error instanceof ApiError && error.code === 'rate_limited' && error.retryAfter) {
    message += ` Try again in ${error.retryAfter} s.`;
  }
  box.replaceChildren(error instanceof ApiError ? h('strong', null, 'Something went wrong: ') : '', message);
  box.hidden = false;
}

function clearError(box = alertBox) {
  box.hidden = true;
  box.replaceChildren();
}

function showNotice(text, kind = 'success') {
  notice.className = 'notice notice-' + kind;
  notice.replaceChildren(text);
  notice.hidden = false;
}

function clearNotice() {
  notice.hidden = true;
  notice.replaceChildren();
}

// Says TEXT to screen readers, without showing it.
function announce(text) {
  announcer.textContent = '';
  setTimeout(() => { announcer.textContent = text; }, 50);
}

function loading(text = 'Loading…') {
  return h('p', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

// ---- URLs ----

export function paperUrl(id) {
  return '/papers/' + String(id).split('/').map(encodeURIComponent).join('/');
}

function listUrl(window, date, page) {
  const params = new URLSearchParams();
  if (window !== 'trending') params.set('window', window);
  if (date && window !== 'trending') params.set('date', date);
  if (page > 1) params.set('page', page);
  const text = params.toString();
  return text ? '/?' + text : '/';
}

function searchUrl(q, sort, page) {
  const params = new URLSearchParams({ q });
  if (sort && sort !== 'relevance') params.set('sort', sort);
  if (page > 1) params.set('page', page);
  return '/search?' + params;
}

function pageNumber(params) {
  const page = parseInt(params.get('page') || '1', 10);
  return Number.isFinite(page) && page >= 1 ? page : 1;
}

function isRouted(url) {
  return url.origin === location.origin &&
    (url.pathname === '/' || url.pathname === '/search' || url.pathname === '/signin' ||
      url.pathname.startsWith('/papers/'));
}

// ---- routing ----

function navigate(url, { replace = false, focus = 'heading' } = {}) {
  clearNotice();
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render({ focus });
}

document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey ||
    event.shiftKey || event.altKey) return;
  const link = event.target.closest('a[href]');
  if (!link || link.target || link.hasAttribute('download')) return;
  if (link.getAttribute('href').startsWith('#')) {
    // In-page links (the skip link) move the focus too, not only the view.
    const target = document.getElementById(link.getAttribute('href').slice(1));
    if (target) {
      event.preventDefault();
      target.focus();
    }
    return;
  }
  const url = new URL(link.href);
  if (!isRouted(url)) return;
  event.preventDefault();
  navigate(url.pathname + url.search, { focus: link.dataset.focus || 'heading' });
});

window.addEventListener('popstate', () => {
  clearNotice();
  render({ focus: 'heading' });
});

async function render({ focus = null } = {}) {
  const navigation = ++state.navigation;
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  clearError();
  document.getElementById('search-input').value = path === '/search' ? params.get('q') || '' : '';
  view.setAttribute('aria-busy', 'true');
  try {
    if (path === '/') await listView(params, navigation, focus);
    else if (path === '/search') await searchView(params, navigation);
    else if (path === '/signin') await signinView(params, navigation);
    else if (path.startsWith('/papers/') && path.length > 8) {
      await paperView(decodeURIComponent(path.slice(8)), navigation);
    } else notFoundView();
  } finally {
    if (navigation === state.navigation) {
      view.removeAttribute('aria-busy');
      if (focus === 'heading') {
        const heading = view.querySelector('h1');
        if (heading) heading.focus({ preventScroll: false });
      } else if (focus && focus !== 'none') {
        document.getElementById(focus)?.focus();
      }
    }
  }
}

const current = (navigation) => navigation === state.navigation;

function heading(text) {
  document.title = `${text} — paperbus`;
  return h('h1', { tabindex: '-1' }, text);
}

// ---- paper cards ----

function authorLine(authors) {
  if (!authors || authors.length === 0) return null;
  const shown = authors.length > AUTHORS_SHOWN + 1 ? authors.slice(0, AUTHORS_SHOWN) : authors;
  const text = shown.join(', ') + (shown.length < authors.length ? ' et al.' : '');
  return h('p', { class: 'authors' }, text,
    shown.length < authors.length ? h('span', { class: 'muted' }, ` (${authors.length} authors)`) : null);
}

function chips(categories) {
  if (!categories || categories.length === 0) return null;
  return h('ul', { class: 'chips', 'aria-label': 'Categories' },
    categories.map((category) => h('li', null,
      h('a', { class: 'chip', href: searchUrl(`cat:${category}`), 'aria-label': `Papers in ${category}` }, category))));
}

function voteLabel(title, upvotes, voted) {
  const count = `${upvotes} upvote${upvotes === 1 ? '' : 's'}`;
  return `${voted ? 'Upvoted' : 'Upvote'}: ${title} (${count})`;
}

// The upvote button of paper P (P.id, P.upvotes, P.voted).
function voteButton(paper, title, large = false) {
  const upvotes = Number(paper.upvotes) || 0;
  const voted = paper.voted === true;
  return h('button', {
    type: 'button',
    class: 'upvote' + (large ? ' upvote-large' : ''),
    'aria-pressed': String(voted),
    'aria-label': voteLabel(title, upvotes, voted),
    dataset: { paper: paper.id, title },
    onclick: onVote,
  }, h('span', { class: 'upvote-arrow', 'aria-hidden': 'true' }, '▲'), h('span', { class: 'upvote-count' }, String(upvotes)));
}

// Every upvote button of paper ID on the page shows UPVOTES and VOTED.
function setVoteButtons(id, upvotes, voted) {
  for (const button of document.querySelectorAll('button.upvote')) {
    if (button.dataset.paper !== id) continue;
    button.setAttribute('aria-pressed', String(voted));
    button.setAttribute('aria-label', voteLabel(button.dataset.title, upvotes, voted));
    button.querySelector('.upvote-count').textContent = String(upvotes);
  }
}

async function onVote(event) {
  const button = event.currentTarget;
  const id = button.dataset.paper;
  if (!state.user) {
    openSignin('Sign in to upvote papers: we email you a link.');
    return;
  }
  if (button.getAttribute('aria-busy') === 'true') return;
  const voted = button.getAttribute('aria-pressed') === 'true';
  button.setAttribute('aria-busy', 'true');
  clearError();
  try {
    const answer = voted ? await api.unvote(id) : await api.vote(id);
    setVoteButtons(id, Number(answer.upvotes) || 0, answer.voted === true);
    announce(answer.voted ? `Upvoted. ${answer.upvotes} upvotes.` : `Upvote withdrawn. ${answer.upvotes} upvotes.`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      setUser(null);
      openSignin('Your session has ended. Sign in again to upvote.');
    } else {
      showError(error);
    }
  } finally {
    button.removeAttribute('aria-busy');
  }
}

// A paper in a list: its excerpt is the index's snippet (HTML-escaped text,
// with the matched words in <mark> in search results).
function paperCard(paper) {
  const title = paper.title || paper.id;
  const headingId = 'card-' + String(paper.id).replace(/[^A-Za-z0-9_-]/g, '_');
  return h('li', { class: 'card' },
    h('article', { 'aria-labelledby': headingId },
      h('div', { class: 'card-vote' }, voteButton(paper, title)),
      h('div', { class: 'card-body' },
        h('h2', { class: 'card-title', id: headingId },
          h('a', { href: paperUrl(paper.id) }, title),
          paper.pinned ? h('span', { class: 'badge' }, 'exact match') : null),
        authorLine(paper.authors),
        typeof paper.snippet === 'string' && paper.snippet ? h('p', { class: 'snippet' }, snippetNodes(paper.snippet)) : null,
        h('div', { class: 'card-meta' },
          chips(paper.categories),
          h('span', { class: 'muted meta-line' },
            h('span', { class: 'paper-id' }, paper.id),
            paper.published ? [' · ', timeElement(paper.published)] : null)))));
}

function cardList(papers) {
  return h('ol', { class: 'cards' }, papers.map((paper) => paperCard(paper)));
}

function pagination(page, total, perPage, urlOf) {
  const pages = Math.min(Math.max(1, Math.ceil(total / perPage)), Math.floor(1000 / perPage));
  if (pages <= 1 && page <= 1) return null;
  return h('nav', { class: 'pagination', 'aria-label': 'Pages' },
    page > 1 ? h('a', { class: 'button', href: urlOf(page - 1), rel: 'prev' }, '← Previous') : h('span'),
    h('span', { class: 'page-of', 'aria-current': 'page' }, `Page ${page} of ${pages}`),
    page < pages ? h('a', { class: 'button', href: urlOf(page + 1), rel: 'next' }, 'Next →') : h('span'));
}

// ---- the lists: Daily, Weekly, Monthly, Trending ----

function listShell() {
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Lists' },
    WINDOWS.map((window) => h('a', {
      class: 'tab', role: 'tab', id: 'tab-' + window.name, href: listUrl(window.name),
      'aria-controls': 'list-panel', 'aria-selected': 'false', tabindex: '-1',
      dataset: { window: window.name, focus: 'tab-' + window.name },
    }, window.tab)));
  tabs.addEventListener('keydown', onTabKey);
  return h('div', { class: 'list-view' },
    h('div', { class: 'list-heading' }),
    tabs,
    h('div', { class: 'tab-panel', id: 'list-panel', role: 'tabpanel', tabindex: '-1' },
      h('div', { class: 'date-nav-slot' }),
      h('div', { class: 'list-results' })));
}

// Arrow keys, Home and End move between the tabs and select the one reached.
function onTabKey(event) {
  const tabs = [...event.currentTarget.querySelectorAll('[role=tab]')];
  const index = tabs.indexOf(document.activeElement);
  if (index < 0) return;
  let next = null;
  if (event.key === 'ArrowRight') next = tabs[(index + 1) % tabs.length];
  else if (event.key === 'ArrowLeft') next = tabs[(index - 1 + tabs.length) % tabs.length];
  else if (event.key === 'Home') next = tabs[0];
  else if (event.key === 'End') next = tabs[tabs.length - 1];
  else if (event.key === ' ') next = tabs[index];
  if (!next) return;
  event.preventDefault();
  next.focus();
  navigate(next.getAttribute('href'), { focus: 'none' });
}

function dateNav(window, data) {
  const unit = WINDOWS.find((w) => w.name === window).unit;
  const first = isDay(data.first_day) ? data.first_day : data.date;
  const last = isDay(data.last_day) ? data.last_day : data.date;
  const previous = addDays(first, -1);
  const next = addDays(last, 1);
  const input = h('input', { type: 'date', id: 'date-input', name: 'date', value: data.date, max: todayUtc(), required: true });
  const form = h('form', {
    class: 'date-form',
    onsubmit: (event) => {
      event.preventDefault();
      if (isDay(input.value)) navigate(listUrl(window, input.value), { focus: 'date-input' });
    },
  }, h('label', { for: 'date-input' }, 'Date'), input, h('button', { class: 'button', type: 'submit' }, 'Go'));
  return h('nav', { class: 'date-nav', 'aria-label': `Choose the ${unit}` },
    h('a', { class: 'button', href: listUrl(window, previous), dataset: { focus: 'date-prev' }, id: 'date-prev' },
      h('span', { 'aria-hidden': 'true' }, '← '), `Previous ${unit}`),
    form,
    next <= todayUtc()
      ? h('a', { class: 'button', href: listUrl(window, next), dataset: { focus: 'date-next' }, id: 'date-next' },
        `Next ${unit}`, h('span', { 'aria-hidden': 'true' }, ' →'))
      : h('span', { class: 'button button-disabled', 'aria-disabled': 'true' }, `Next ${unit}`));
}

function listTitle(window, data) {
  if (window === 'trending') return 'Trending papers';
  if (window === 'day') return `Daily papers: ${longDay(data.date)}`;
  if (window === 'week') return `Weekly papers: ${shortDay(data.first_day)} – ${shortDay(data.last_day)}`;
  return `Monthly papers: ${monthName(data.first_day || data.date)}`;
}

async function listView(params, navigation, focus) {
  const requested = params.get('window');
  const window = WINDOWS.some((w) => w.name === requested) ? requested : 'trending';
  const date = window !== 'trending' && isDay(params.get('date')) ? params.get('date') : undefined;
  const page = pageNumber(params);
  subscriptionMessages(params);

  let shell = view.querySelector('.list-view');
  if (!shell) {
    shell = listShell();
    view.replaceChildren(shell);
  }
  for (const tab of shell.querySelectorAll('[role=tab]')) {
    const selected = tab.dataset.window === window;
    tab.setAttribute('aria-selected', String(selected));
    tab.setAttribute('tabindex', selected ? '0' : '-1');
    if (date) tab.setAttribute('href', listUrl(tab.dataset.window, date));
  }
  shell.querySelector('[role=tabpanel]').setAttribute('aria-labelledby', 'tab-' + window);
  const results = shell.querySelector('.list-results');
  const dateSlot = shell.querySelector('.date-nav-slot');
  if (window === 'trending') dateSlot.replaceChildren();
  results.replaceChildren(loading());
  if (!shell.querySelector('h1')) shell.querySelector('.list-heading').replaceChildren(heading('Papers'));

  let data;
  try {
    data = await api.papers(window, date, page > 1 ? page : undefined);
  } catch (error) {
    if (!current(navigation)) return;
    showError(error);
    results.replaceChildren(h('p', { class: 'empty' }, 'The list could not be loaded.'));
    return;
  }
  if (!current(navigation)) return;
  // The day asked about: the answer's, else the one asked for, else its first day.
  if (window !== 'trending' && !isDay(data.date)) data.date = date || data.first_day || todayUtc();
  if (window !== 'trending' && isDay(data.date)) state.listDate = data.date;
  for (const tab of shell.querySelectorAll('[role=tab]')) {
    tab.setAttribute('href', listUrl(tab.dataset.window, state.listDate));
  }
  const title = listTitle(window, data);
  const h1 = shell.querySelector('h1');
  h1.textContent = title;
  document.title = `${title} — paperbus`;
  dateSlot.replaceChildren(window === 'trending' ? '' : dateNav(window, data));
  const papers = Array.isArray(data.papers) ? data.papers : [];
  const total = Number(data.total) || 0;
  if (papers.length === 0) {
    results.replaceChildren(h('p', { class: 'empty' },
      window === 'trending'
        ? 'Nothing is trending yet: upvote papers to start the list.'
        : `No papers were listed ${window === 'day' ? 'on this day' : `in this ${window}`}. Try an earlier date, or the Trending tab.`));
  } else {
    results.replaceChildren(
      h('p', { class: 'muted count' }, `${total} paper${total === 1 ? '' : 's'}`),
      cardList(papers),
      pagination(page, total, Number(data.per_page) || PER_PAGE, (p) => listUrl(window, data.date, p)));
  }
  announce(`${title}: ${total} papers.`);
  if (focus === 'heading') h1.focus();
}

// Messages of the links in subscription mails: /?subscription=confirmed, ...
function subscriptionMessages(params) {
  const subscription = params.get('subscription');
  const unsubscribed = params.get('unsubscribed');
  if (!subscription && !unsubscribed) return;
  if (subscription === 'confirmed') {
    showNotice('Your subscription is confirmed. Your first digest comes at its hour.');
  } else if (subscription === 'invalid') {
    showNotice('This confirmation link is not valid. Subscribe again below to get a new one.', 'error');
  } else if (subscription === 'expired') {
    showNotice('This confirmation link has expired. Subscribe again below to get a new one.', 'error');
  } else if (unsubscribed === '1') {
    showNotice('You are unsubscribed: your address and its history are deleted.');
  } else if (unsubscribed) {
    showNotice('This unsubscribe link is not valid. The links of older digests stop working once you have left.', 'error');
  }
  // Shown once: a reload or a shared address does not repeat it.
  params.delete('subscription');
  params.delete('unsubscribed');
  const rest = params.toString();
  history.replaceState(null, '', '/' + (rest ? '?' + rest : ''));
}

// ---- search ----

async function searchView(params, navigation) {
  const q = (params.get('q') || '').trim();
  const sort = SORTS.some((s) => s.name === params.get('sort')) ? params.get('sort') : 'relevance';
  const page = pageNumber(params);
  if (!q) {
    view.replaceChildren(heading('Search'), h('p', null, 'Type words, "phrases", -exclusions, au:author, cat:cs.LG, since:2026-01 in the search box.'));
    return;
  }
  const sorts = h('nav', { class: 'sorts', 'aria-label': 'Sort results' },
    h('span', { class: 'muted' }, 'Sort by'),
    SORTS.map((s) => h('a', {
      class: 'sort', href: searchUrl(q, s.name), 'aria-current': s.name === sort ? 'true' : null,
      dataset: { focus: 'sort-' + s.name }, id: 'sort-' + s.name,
    }, s.label)));
  const results = h('div', { class: 'search-results' }, loading('Searching…'));
  const title = heading(`Results for “${q}”`);
  view.replaceChildren(title, sorts, results);

  let data;
  try {
    data = await api.search(q, sort, page > 1 ? page : undefined);
  } catch (error) {
    if (!current(navigation)) return;
    showError(error);
    results.replaceChildren(h('p', { class: 'empty' }, 'The search could not be run.'));
    return;
  }
  if (!current(navigation)) return;
  const hits = Array.isArray(data.hits) ? data.hits : [];
  const total = Number(data.total) || 0;
  const count = data.total_exact === false ? `About ${total} papers` : `${total} paper${total === 1 ? '' : 's'}`;
  results.replaceChildren(
    h('p', { class: 'muted count', id: 'result-count' }, count),
    typeof data.note === 'string' && data.note ? h('p', { class: 'note' }, data.note) : null,
    hits.length ? cardList(hits) : h('p', { class: 'empty' }, 'No papers match this search.'),
    pagination(page, total, Number(data.per_page) || PER_PAGE, (p) => searchUrl(q, sort, p)));
  announce(`${count} for ${q}.`);
}

// ---- one paper ----

function detail(term, ...value) {
  return [h('dt', null, term), h('dd', null, ...value)];
}

async function paperView(id, navigation) {
  view.replaceChildren(loading());
  let paper;
  let similar;
  try {
    [paper, similar] = await Promise.all([
      api.paper(id),
      api.similar(id).catch((error) => error),
    ]);
  } catch (error) {
    if (!current(navigation)) return;
    if (error instanceof ApiError && error.status === 404) {
      view.replaceChildren(heading('Paper not found'), h('p', null, error.message), h('p', null, h('a', { href: '/' }, 'Back to the trending papers')));
    } else {
      view.replaceChildren(heading('The paper could not be loaded'));
    }
    showError(error);
    return;
  }
  if (!current(navigation)) return;
  const title = paper.title || paper.id;
  const links = paper.links || {};
  const dates = [];
  if (paper.published) dates.push(...detail('First version', timeElement(paper.published, longDay)));
  if (paper.updated && String(paper.updated).slice(0, 10) !== String(paper.published || '').slice(0, 10)) {
    dates.push(...detail(`Version ${paper.version || ''}`.trim(), timeElement(paper.updated, longDay)));
  }
  if (paper.listed) dates.push(...detail('Listed', timeElement(paper.listed, longDay)));
  const article = h('article', { class: 'paper' },
    h('p', { class: 'muted paper-kicker' }, h('span', { class: 'paper-id' }, `arXiv:${paper.id}`),
      paper.version ? ` · version ${paper.version}` : null),
    heading(title),
    paper.authors && paper.authors.length ? h('p', { class: 'authors authors-full' }, paper.authors.join(', ')) : null,
    h('div', { class: 'paper-actions' },
      voteButton(paper, title, true),
      links.abs ? h('a', { class: 'button', href: links.abs, rel: 'noopener' }, 'arXiv page') : null,
      links.pdf ? h('a', { class: 'button', href: links.pdf, rel: 'noopener' }, 'PDF') : null),
    chips(paper.categories),
    h('section', { 'aria-labelledby': 'abstract-title' },
      h('h2', { id: 'abstract-title' }, 'Abstract'),
      h('p', { class: 'abstract' }, paper.abstract || 'No abstract.')),
    h('dl', { class: 'details' },
      dates,
      paper.doi ? detail('DOI', h('a', { href: 'https://doi.org/' + paper.doi, rel: 'noopener' }, paper.doi)) : null,
      paper.journal_ref ? detail('Journal reference', paper.journal_ref) : null,
      paper.comment ? detail('Comment', paper.comment) : null));
  const similarSection = h('section', { class: 'similar', 'aria-labelledby': 'similar-title' },
    h('h2', { id: 'similar-title' }, 'Similar papers'));
  if (similar instanceof Error) {
    similarSection.append(h('p', { class: 'empty' }, `Similar papers could not be loaded: ${similar.message}`));
  } else if (!similar.hits || similar.hits.length === 0) {
    similarSection.append(h('p', { class: 'empty' }, 'No similar papers found.'));
  } else {
    similarSection.append(cardList(similar.hits));
  }
  view.replaceChildren(article, similarSection);
  announce(`Paper: ${title}`);
}

// ---- sign-in ----

const dialog = document.getElementById('signin-dialog');
const signinForm = document.getElementById('signin-form');
const signinEmail = document.getElementById('signin-email');
const signinError = signinForm.querySelector('.form-error');
const signinStatus = signinForm.querySelector('.form-status');
const signinSubmit = document.getElementById('signin-submit');

function openSignin(reason) {
  document.getElementById('signin-reason').textContent =
    reason || 'We email you a link to sign in: no password to remember.';
  clearError(signinError);
  signinStatus.textContent = '';
  signinSubmit.disabled = false;
  if (!dialog.open) dialog.showModal();
  signinEmail.focus();
}

signinForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  clearError(signinError);
  signinStatus.textContent = '';
  const email = signinEmail.value.trim();
  if (!signinEmail.checkValidity() || !email) {
    showError('Enter your email address, like name@example.org.', signinError);
    signinEmail.focus();
    return;
  }
  signinSubmit.disabled = true;
  signinStatus.textContent = 'Sending…';
  try {
    await api.signin(email);
    signinStatus.textContent = `We mailed you a link at ${email}. Open it in this browser to sign in.`;
  } catch (error) {
    signinStatus.textContent = '';
    showError(error, signinError);
  } finally {
    signinSubmit.disabled = false;
  }
});

document.getElementById('signin-cancel').addEventListener('click', () => dialog.close());
document.getElementById('signin-button').addEventListener('click', () => openSignin());
document.getElementById('signout-button').addEventListener('click', async () => {
  try {
    await api.signout();
  } catch (error) {
    showError(error);
    return;
  }
  setUser(null);
  announce('Signed out.');
  showNotice('You are signed out.');
  render({ focus: 'none' });
  document.getElementById('signin-button').focus();
});

function setUser(user) {
  state.user = user;
  const signedIn = Boolean(user);
  document.getElementById('signin-button').hidden = signedIn;
  document.getElementById('signout-button').hidden = !signedIn;
  const email = document.getElementById('account-email');
  email.hidden = !signedIn;
  email.textContent = signedIn ? user.email : '';
  email.title = signedIn ? `Signed in as ${user.email}` : '';
  document.body.classList.toggle('signed-in', signedIn);
}

// /signin?token=T: the token goes to the API from script, never on a bare GET.
async function signinView(params, navigation) {
  const token = params.get('token');
  view.replaceChildren(heading('Signing in'), loading('Signing you in…'));
  const failed = (message) => {
    view.replaceChildren(heading('This sign-in link did not work'), h('p', null, message),
      h('p', null, h('button', { type: 'button', class: 'button button-primary', onclick: () => openSignin() }, 'Send me a new link')));
  };
  if (!token) {
    failed('The link has no token. Ask for a new one.');
    return;
  }
  let answer;
  try {
    answer = await api.startSession(token);
  } catch (error) {
    if (!current(navigation)) return;
    failed('Links work once and expire after a while. Ask for a new one.');
    showError(error);
    return;
  }
  if (!current(navigation)) return;
  setUser(answer.user);
  showNotice(`You are signed in as ${answer.user.email}.`);
  history.replaceState(null, '', '/');
  await render({ focus: 'heading' });
}

// ---- subscribing ----

const subscribeForm = document.getElementById('subscribe-form');
subscribeForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = subscribeForm.querySelector('.form-error');
  const status = subscribeForm.querySelector('.form-status');
  const button = subscribeForm.querySelector('button[type=submit]');
  const emailInput = subscribeForm.elements.email;
  clearError(error);
  status.textContent = '';
  const email = emailInput.value.trim();
  if (!emailInput.checkValidity() || !email) {
    showError('Enter your email address, like name@example.org.', error);
    emailInput.focus();
    return;
  }
  const subscription = { email, cadence: subscribeForm.elements.cadence.value };
  const query = subscribeForm.elements.query.value.trim();
  if (query) subscription.query = query;
  button.disabled = true;
  status.textContent = 'Subscribing…';
  try {
    await api.subscribe(subscription);
    status.textContent = `Check your inbox to confirm: we sent a link to ${email}.`;
    subscribeForm.reset();
  } catch (failure) {
    status.textContent = '';
    showError(failure, error);
  } finally {
    button.disabled = false;
  }
});

// ---- the rest ----

document.getElementById('search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const q = document.getElementById('search-input').value.trim();
  if (!q) return;
  const params = new URLSearchParams(location.search);
  const sort = location.pathname === '/search' ? params.get('sort') : null;
  navigate(searchUrl(q, sort), { focus: 'heading' });
});

function notFoundView() {
  view.replaceChildren(heading('Page not found'),
    h('p', null, 'There is nothing at this address. ', h('a', { href: '/' }, 'See the trending papers.')));
}

async function start() {
  try {
    const session = await api.session();
    setUser(session.user);
  } catch (error) {
    setUser(null);
    if (!(error instanceof ApiError && error.status === 401)) showError(error);
  }
  await render();
}

start();
