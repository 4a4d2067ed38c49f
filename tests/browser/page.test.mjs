// The web page in headless Chromium against a real paperbus stack (run.sh
// starts it, with the sample papers loaded and the development mail catcher):
// lists and tabs, dates, search, a paper with similar papers, signing in
// through the mailed link, upvoting, subscribing and confirming, a phone's
// width, and the keyboard. Screenshots of every step go to
// $PAPERBUS_VAR_DIR/browser/screenshots/.
//
// Environment: PAPERBUS_BASE_URL (the gateway, e.g. http://127.0.0.1:8080),
// PAPERBUS_MAIL_DIR (the mail catcher's directory), PAPERBUS_SCREENSHOTS,
// PAPERBUS_ROOT (the repository), PAPERBUS_BIN_DIR (paperctl, with the
// stack's PAPERBUS_BUS_* settings), PAPERBUS_CHROMIUM (/usr/bin/chromium).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = required('PAPERBUS_BASE_URL').replace(/\/$/, '');
const MAIL_DIR = required('PAPERBUS_MAIL_DIR');
const SHOTS = required('PAPERBUS_SCREENSHOTS');
const ROOT = required('PAPERBUS_ROOT');
const BIN_DIR = required('PAPERBUS_BIN_DIR');
const CHROMIUM = process.env.PAPERBUS_CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = 15000;

const READER = 'reader@example.org';
const SUBSCRIBER = 'digest.reader@example.org';
const SAMPLE_DAY = '2026-05-21'; // a day of the bundled arXiv listings

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run tests/browser/run.sh`);
  return value;
}

let browser;
let context;
let page;
let shot = 0;
const pageErrors = [];

// Retries CHECK (which throws on failure) until it passes or WAIT_MS passes;
// then rethrows its last failure.
async function eventually(check, waitMs = WAIT_MS) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function screenshot(name, target = page, fullPage = true) {
  shot += 1;
  const file = path.join(SHOTS, `${String(shot).padStart(2, '0')}-${name}.png`);
  await target.screenshot({ path: file, fullPage });
  return file;
}

function newPage(ctx) {
  return ctx.newPage().then((p) => {
    p.on('pageerror', (error) => pageErrors.push(`${p.url()}: ${error.message}`));
    // Failed loads are the API's answers (401 signed out, 404 ...); anything
    // else logged as an error (a refused inline style, say) is a fault.
    p.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
        pageErrors.push(`${p.url()}: console: ${message.text()}`);
      }
    });
    return p;
  });
}

// The page's list of cards, once loaded: [{id, title, href, upvotes, pressed}].
async function cards(where = page, scope = '') {
  await where.locator(`${scope} .cards .card`).first().waitFor({ timeout: WAIT_MS });
  return where.locator(`${scope} .cards .card`).evaluateAll((items) => items.map((item) => {
    const link = item.querySelector('.card-title a');
    const vote = item.querySelector('button.upvote');
    return {
      id: item.querySelector('.paper-id')?.textContent,
      title: link?.textContent,
      href: link?.getAttribute('href'),
      upvotes: Number(vote?.querySelector('.upvote-count')?.textContent),
      pressed: vote?.getAttribute('aria-pressed'),
      marks: [...item.querySelectorAll('.snippet mark')].map((mark) => mark.textContent),
      excerpt: item.querySelector('.snippet')?.textContent,
      dates: [...item.querySelectorAll('time')].map((time) => time.getAttribute('datetime')),
    };
  }));
}

async function h1(where = page) {
  return (await where.locator('main h1').first().textContent()).trim();
}

function unescapeHtml(text) {
  return text.replace(/<\/?mark>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'").replace(/&amp;/g, '&');
}

// Mails in the catcher's directory, through tests/support/mailbox.py.
function mailbox() {
  const output = execFileSync('/usr/bin/python3', [path.join(ROOT, 'tests/support/mailbox.py'), MAIL_DIR],
    { encoding: 'utf8' });
  return JSON.parse(output);
}

// The first link of the newest mail to ADDRESS that has a link matching PATTERN.
async function mailedLink(address, pattern) {
  return eventually(() => {
    const mails = mailbox().filter((mail) => (mail.headers.to || []).some((to) => to.includes(address)));
    const newest = mails.reverse().find((mail) => mail.links.some((link) => pattern.test(link)));
    assert.ok(newest, `no mail to ${address} with a link like ${pattern} in ${MAIL_DIR}`);
    return newest.links.find((link) => pattern.test(link));
  });
}

// The API, straight (for setting up and for checking what the page shows).
async function apiGet(route) {
  const response = await fetch(BASE + route, { headers: { Accept: 'application/json' } });
  return { status: response.status, body: await response.json() };
}

async function overflowX(where = page) {
  return where.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
    widest: [...document.querySelectorAll('body *')]
      .filter((element) => element.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
      .slice(0, 3)
      .map((element) => `${element.tagName.toLowerCase()}.${element.className}`),
  }));
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // The stack is up; wait until the index and rank hold the sample.
  await eventually(async () => {
    const { status, body } = await apiGet('/api/search?q=speculative%20decoding');
    assert.equal(status, 200);
    assert.ok(body.total > 0, 'the sample is not searchable yet');
  }, 30000);
  await eventually(async () => {
    const { status, body } = await apiGet('/api/papers');
    assert.equal(status, 200);
    assert.ok(body.papers.length > 0, 'nothing trends yet');
  }, 30000);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  context = await browser.newContext({ viewport: { width: 1200, height: 900 }, colorScheme: 'light' });
  page = await newPage(context);
});

after(async () => {
  await browser?.close();
});

test('the home page lists the trending papers', async () => {
  const response = await page.goto(BASE + '/');
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-type'], /^text\/html/);
  const list = await cards();
  const { body } = await apiGet('/api/papers');
  assert.equal(await h1(), 'Trending papers');
  assert.equal(await page.locator('#tab-trending').getAttribute('aria-selected'), 'true');
  assert.equal(await page.locator('[role=tab][aria-selected=true]').count(), 1);
  // The page shows the API's list, in its order: the sample's Hugging Face papers.
  assert.deepEqual(list.map((card) => card.id), body.papers.map((paper) => paper.id));
  assert.match(list[0].id, /^2410\.\d+$/);
  assert.equal(list[0].title, body.papers[0].title);
  assert.equal(list[0].href, `/papers/${body.papers[0].id}`);
  // Excerpts are the API's snippets, as text (entities read, never markup).
  const excerpts = body.papers.map((paper) => (paper.snippet ? unescapeHtml(paper.snippet) : undefined));
  assert.ok(excerpts.some((excerpt) => excerpt && excerpt.length > 50), 'the API gave no excerpts');
  assert.deepEqual(list.map((card) => card.excerpt), excerpts);
  assert.ok(list.every((card) => card.pressed === 'false'), 'nobody is signed in, yet a paper shows as voted');
  assert.equal(await page.locator('#signin-button').isVisible(), true);
  assert.equal(await page.locator('#alert').isVisible(), false);
  await screenshot('trending');
});

test('tabs switch with the arrow keys, and the dates move day by day', async () => {
  await page.locator('#tab-trending').focus();
  await page.keyboard.press('ArrowLeft');
  await eventually(async () => {
    assert.equal(await page.locator('#tab-month').getAttribute('aria-selected'), 'true');
    assert.match(await h1(), /^Monthly papers: /);
  });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-month');
  assert.equal(new URL(page.url()).searchParams.get('window'), 'month');
  assert.equal(await page.locator('#tab-trending').getAttribute('tabindex'), '-1');
  await page.keyboard.press('Home');
  await eventually(async () => assert.match(await h1(), /^Daily papers: /));
  assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-day');

  // A day of the sample, through the date field.
  await page.locator('#date-input').fill(SAMPLE_DAY);
  await page.locator('#date-input').press('Enter');
  await eventually(async () => assert.equal(await h1(), 'Daily papers: Thursday, 21 May 2026'));
  const day = await cards();
  const { body } = await apiGet(`/api/papers?window=day&date=${SAMPLE_DAY}`);
  assert.ok(body.total > 20, `want a full day of papers, the API has ${body.total}`);
  assert.deepEqual(day.map((card) => card.id), body.papers.map((paper) => paper.id));
  assert.equal(await page.locator('.count').textContent(), `${body.total} papers`);
  assert.match(await page.locator('.pagination').textContent(), new RegExp(`Page 1 of ${Math.ceil(body.total / 20)}`));
  await screenshot('daily');

  await page.locator('#date-next').click();
  await eventually(async () => assert.equal(await h1(), 'Daily papers: Friday, 22 May 2026'));
  const next = await cards();
  assert.notDeepEqual(next.map((card) => card.id), day.map((card) => card.id));

  // The tabs keep the day: the week and the month around it.
  await page.locator('#tab-day').focus();
  await page.keyboard.press('ArrowRight');
  await eventually(async () => assert.equal(await h1(), 'Weekly papers: 18 May 2026 – 24 May 2026'));
  const week = await apiGet('/api/papers?window=week&date=2026-05-22');
  assert.equal(week.body.first_day, '2026-05-18');
  assert.deepEqual((await cards()).map((card) => card.id), week.body.papers.map((paper) => paper.id));
  await page.keyboard.press('ArrowRight');
  await eventually(async () => assert.equal(await h1(), 'Monthly papers: May 2026'));
  await page.locator('#date-prev').click();
  await eventually(async () => assert.equal(await h1(), 'Monthly papers: April 2026'));
  await screenshot('monthly-previous');

  // Back and forward walk the history.
  await page.goBack();
  await eventually(async () => assert.equal(await h1(), 'Monthly papers: May 2026'));
  await page.goBack();
  await eventually(async () => assert.equal(await h1(), 'Weekly papers: 18 May 2026 – 24 May 2026'));
  await page.goForward();
  await eventually(async () => assert.equal(await h1(), 'Monthly papers: May 2026'));
  assert.equal(await page.locator('#tab-month').getAttribute('aria-selected'), 'true');

  // The second page of a day.
  await page.goto(`${BASE}/?window=day&date=${SAMPLE_DAY}`);
  await cards();
  await page.locator('.pagination a[rel=next]').click();
  await eventually(async () => assert.match(await page.locator('.pagination').textContent(), /Page 2 of/));
  const second = await apiGet(`/api/papers?window=day&date=${SAMPLE_DAY}&page=2`);
  assert.deepEqual((await cards()).map((card) => card.id), second.body.papers.map((paper) => paper.id));
});

test('searching shows highlighted results, sorted as asked', async () => {
  await page.goto(BASE + '/');
  await page.locator('#search-input').fill('speculative decoding');
  await page.locator('#search-input').press('Enter');
  await eventually(async () => assert.equal(await h1(), 'Results for “speculative decoding”'));
  assert.equal(new URL(page.url()).pathname, '/search');
  assert.equal(new URL(page.url()).searchParams.get('q'), 'speculative decoding');
  const results = await cards();
  const { body } = await apiGet('/api/search?q=speculative%20decoding');
  assert.deepEqual(results.map((card) => card.id), body.hits.map((hit) => hit.id));
  assert.deepEqual(results.map((card) => card.excerpt), body.hits.map((hit) => unescapeHtml(hit.snippet)));
  const marks = results.flatMap((card) => card.marks);
  assert.ok(marks.length > 0, 'no highlighted words');
  for (const mark of marks) assert.match(mark, /specul|decod/i);
  assert.match(await page.locator('#result-count').textContent(), new RegExp(`${body.total} papers`));
  await screenshot('search');

  await page.locator('#sort-date').click();
  await eventually(async () => assert.equal(new URL(page.url()).searchParams.get('sort'), 'date'));
  await eventually(async () => assert.equal(await page.locator('#sort-date').getAttribute('aria-current'), 'true'));
  const byDate = await apiGet('/api/search?q=speculative%20decoding&sort=date');
  await eventually(async () => assert.deepEqual((await cards()).map((card) => card.id), byDate.body.hits.map((hit) => hit.id)));
  const dates = (await cards()).map((card) => card.dates[0]);
  assert.deepEqual(dates, [...dates].sort().reverse(), 'newest first');
  await screenshot('search-by-date');

  // A query is text: markup in it is shown, never run.
  await page.locator('#search-input').fill('<img src=x id=injected>');
  await page.locator('#search-input').press('Enter');
  await eventually(async () => assert.equal(await h1(), 'Results for “<img src=x id=injected>”'));
  await eventually(async () => assert.equal(await page.locator('main [aria-busy]').count(), 0));
  assert.equal(await page.locator('#injected').count(), 0);

  // The index's own message for a bad query, in the alert.
  await page.goto(`${BASE}/search?q=${encodeURIComponent('since:notadate')}`);
  const bad = await apiGet(`/api/search?q=${encodeURIComponent('since:notadate')}`);
  assert.ok(bad.status >= 400 && bad.status < 500, `a bad query got ${bad.status}`);
  await page.locator('#alert').waitFor({ state: 'visible', timeout: WAIT_MS });
  assert.match(await page.locator('#alert').textContent(), new RegExp(bad.body.error.message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  await screenshot('search-error');
});

let paperId;
let paperTitle;

test('a paper page shows the paper and similar papers', async () => {
  await page.goto(`${BASE}/search?q=${encodeURIComponent('speculative decoding')}`);
  const [first] = await cards();
  await page.locator('.card-title a').first().click();
  await eventually(async () => assert.equal(new URL(page.url()).pathname, first.href));
  await eventually(async () => assert.equal(await h1(), first.title));
  paperId = first.id;
  paperTitle = first.title;
  const { body: paper } = await apiGet(`/api/papers/${encodeURIComponent(paperId)}`);
  assert.equal(paper.title, paperTitle);
  assert.equal(await page.locator('.abstract').textContent(), paper.abstract);
  assert.ok(paper.abstract.length > 100);
  assert.equal(await page.locator('.authors-full').textContent(), paper.authors.join(', '));
  assert.deepEqual(await page.locator('.paper .chip').allTextContents(), paper.categories);
  assert.equal(await page.locator('.paper-actions a', { hasText: 'arXiv page' }).getAttribute('href'), `https://arxiv.org/abs/${paperId}`);
  assert.equal(await page.locator('.paper-actions a', { hasText: 'PDF' }).getAttribute('href'), `https://arxiv.org/pdf/${paperId}`);
  const similar = await cards(page, '.similar');
  const { body: expected } = await apiGet(`/api/papers/${encodeURIComponent(paperId)}/similar`);
  assert.ok(expected.hits.length > 0);
  assert.deepEqual(similar.map((card) => card.id), expected.hits.map((hit) => hit.id));
  assert.ok(!similar.some((card) => card.id === paperId), 'a paper is listed as similar to itself');
  await screenshot('paper');

  // A paper that does not exist: the API's message in the alert.
  await page.goto(`${BASE}/papers/2501.99999`);
  await page.locator('#alert').waitFor({ state: 'visible', timeout: WAIT_MS });
  assert.equal(await h1(), 'Paper not found');
  const missing = await apiGet('/api/papers/2501.99999');
  assert.equal(missing.status, 404);
  assert.match(await page.locator('#alert').textContent(), new RegExp(missing.body.error.message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  await screenshot('paper-not-found');
});

test('an old-style id, and markup in a paper\'s text shown as text', async () => {
  // A record in the Kaggle snapshot's shape, through the real ingest.
  const id = 'hep-th/9901001';
  const title = 'Strings & <b>branes</b> "quoted" <img src=x id=injected-title>';
  const record = {
    id, submitter: 'A. Author', authors: 'A. Author, B. Author', title,
    comments: '12 pages, <i>3 figures</i>', 'journal-ref': 'Phys. Rev. D 59 (1999) 1',
    doi: '10.1103/PhysRevD.59.000001', categories: 'hep-th gr-qc',
    abstract: 'We study branes & strings <script>document.body.dataset.pwned = "yes"</script> in detail.',
    versions: [{ version: 'v1', created: 'Fri, 1 Jan 1999 00:00:00 GMT' }],
    update_date: '1999-01-02', authors_parsed: [['Author', 'A.', ''], ['Author', 'B.', '']],
  };
  const file = path.join(SHOTS, '..', 'old-style.jsonl');
  writeFileSync(file, JSON.stringify(record) + '\n');
  assert.match(execFileSync(path.join(BIN_DIR, 'paperctl'), ['ingest', file], { encoding: 'utf8' }), /^1 inserted/);
  await eventually(async () => assert.equal((await apiGet('/api/search?q=branes')).body.total, 1));

  await page.goto(`${BASE}/search?q=branes`);
  const [card] = await cards();
  assert.equal(card.title, title);
  assert.equal(card.href, '/papers/hep-th/9901001');
  assert.match(card.excerpt, /<script>document\.body/);
  assert.deepEqual(card.marks, ['branes']);
  assert.equal(await page.locator('#injected-title').count(), 0);
  await page.locator('.card-title a').first().click();
  await eventually(async () => assert.equal(await h1(), title));
  assert.equal(new URL(page.url()).pathname, '/papers/hep-th/9901001');
  const details = await page.locator('.details').textContent();
  assert.match(details, /Journal reference\s*Phys\. Rev\. D 59 \(1999\) 1/);
  assert.match(details, /Comment\s*12 pages, <i>3 figures<\/i>/);
  assert.match(details, /First version\s*Friday, 1 January 1999/);
  assert.equal(await page.locator('.details a', { hasText: '10.1103/PhysRevD.59.000001' }).getAttribute('href'),
    'https://doi.org/10.1103/PhysRevD.59.000001');
  assert.equal(await page.locator('.paper-actions a', { hasText: 'arXiv page' }).getAttribute('href'), `https://arxiv.org/abs/${id}`);
  assert.match(await page.locator('.abstract').textContent(), /<script>document\.body/);
  assert.equal(await page.evaluate(() => document.body.dataset.pwned), undefined);
  assert.equal(await page.locator('#injected-title').count(), 0);
  // The address works on its own too (a reload, a shared link).
  await page.reload();
  await eventually(async () => assert.equal(await h1(), title));
  await screenshot('paper-old-style-id');
});

test('upvoting signed out opens sign-in; the mailed link signs in', async () => {
  await page.goto(`${BASE}/papers/${paperId}`);
  await page.locator('.paper-actions button.upvote').click();
  const dialog = page.locator('#signin-dialog');
  await dialog.waitFor({ state: 'visible', timeout: WAIT_MS });
  assert.match(await dialog.textContent(), /Sign in to upvote/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'signin-email');
  assert.equal(await page.locator('.paper-actions button.upvote').getAttribute('aria-pressed'), 'false');

  // An address the API refuses: its message in the dialog.
  await page.locator('#signin-email').fill('not-an-address');
  await page.locator('#signin-submit').click();
  await eventually(async () => assert.equal(await dialog.locator('.form-error').isVisible(), true));
  await screenshot('signin-error', page, false);

  await page.locator('#signin-email').fill(READER);
  await page.locator('#signin-submit').click();
  await eventually(async () => assert.match(await dialog.locator('.form-status').textContent(), /We mailed you a link/));
  assert.equal(await dialog.locator('.form-error').isVisible(), false);
  await screenshot('signin-mailed', page, false);
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden', timeout: WAIT_MS });

  const link = await mailedLink(READER, /\/signin\?token=/);
  assert.ok(link.startsWith(BASE + '/signin?token='), `the link ${link} is not on ${BASE}`);
  await page.goto(link);
  await eventually(async () => assert.equal(await page.locator('#account-email').textContent(), READER));
  assert.equal(new URL(page.url()).pathname, '/');
  assert.equal(new URL(page.url()).search, '', 'the token stays in the address bar');
  assert.equal(await page.locator('#signin-button').isVisible(), false);
  assert.match(await page.locator('#notice').textContent(), new RegExp(`signed in as ${READER}`));
  const cookies = await context.cookies(BASE);
  const session = cookies.find((cookie) => cookie.name === 'pb_session');
  assert.ok(session, 'no pb_session cookie');
  assert.equal(session.httpOnly, true);
  await screenshot('signed-in');

  // The link works once.
  const again = await newPage(await browser.newContext());
  await again.goto(link);
  await again.locator('#alert').waitFor({ state: 'visible', timeout: WAIT_MS });
  assert.equal(await h1(again), 'This sign-in link did not work');
  await screenshot('signin-link-used', again);
  await again.context().close();
});

test('an upvote counts, stays after a reload, and can be withdrawn', async () => {
  await page.goto(`${BASE}/papers/${paperId}`);
  const button = page.locator('.paper-actions button.upvote');
  const count = button.locator('.upvote-count');
  await button.waitFor({ timeout: WAIT_MS });
  const { body: before } = await apiGet(`/api/papers/${encodeURIComponent(paperId)}`);
  assert.equal(Number(await count.textContent()), before.upvotes);
  assert.equal(await button.getAttribute('aria-pressed'), 'false');

  await button.click();
  await eventually(async () => assert.equal(await button.getAttribute('aria-pressed'), 'true'));
  assert.equal(Number(await count.textContent()), before.upvotes + 1);
  await screenshot('upvoted');
  await page.reload();
  await eventually(async () => assert.equal(await button.getAttribute('aria-pressed'), 'true'));
  assert.equal(Number(await count.textContent()), before.upvotes + 1);
  const { body: after } = await apiGet(`/api/papers/${encodeURIComponent(paperId)}`);
  assert.equal(after.upvotes, before.upvotes + 1);

  // The day's list shows the vote too.
  const day = String(after.listed || after.published).slice(0, 10);
  await page.goto(`${BASE}/?window=day&date=${day}`);
  const listed = (await cards()).find((card) => card.id === paperId);
  assert.ok(listed, `${paperId} is not on the top of its day ${day}`);
  assert.equal(listed.upvotes, before.upvotes + 1);
  assert.equal(listed.pressed, 'true');
  await screenshot('upvoted-in-list');

  await page.goto(`${BASE}/papers/${paperId}`);
  await eventually(async () => assert.equal(await button.getAttribute('aria-pressed'), 'true'));
  await button.click();
  await eventually(async () => assert.equal(await button.getAttribute('aria-pressed'), 'false'));
  assert.equal(Number(await count.textContent()), before.upvotes);
  await page.reload();
  await eventually(async () => assert.equal(Number(await count.textContent()), before.upvotes));
  assert.equal(await button.getAttribute('aria-pressed'), 'false');
  await screenshot('unvoted');
});

test('subscribing asks to confirm; the mailed links confirm, then unsubscribe', async () => {
  await page.goto(BASE + '/');
  await cards();
  const form = page.locator('#subscribe-form');
  await form.locator('#subscribe-email').fill(SUBSCRIBER);
  await form.locator('#subscribe-query').fill('diffusion');
  await form.getByLabel('Weekly (Mondays)').check();
  await form.locator('button[type=submit]').click();
  await eventually(async () => assert.match(await form.locator('.form-status').textContent(), /Check your inbox to confirm/));
  assert.equal(await form.locator('.form-error').isVisible(), false);
  await form.scrollIntoViewIfNeeded();
  await screenshot('subscribe-sent');

  const link = await mailedLink(SUBSCRIBER, /\/api\/subscriptions\/confirm\?token=/);
  assert.ok(link.startsWith(BASE + '/'), `the link ${link} is not on ${BASE}`);
  await page.goto(link);
  await eventually(async () => assert.match(await page.locator('#notice').textContent(), /confirmed/));
  assert.equal(new URL(page.url()).pathname, '/');
  assert.equal(await page.locator('#notice').getAttribute('role'), 'status');
  await cards();
  await screenshot('subscription-confirmed');

  // A link that is not one: said so.
  await page.goto(`${BASE}/api/subscriptions/confirm?token=not-a-token`);
  await eventually(async () => assert.match(await page.locator('#notice').textContent(), /not valid/));
  assert.doesNotMatch(await page.locator('#notice').textContent(), /confirmed/);
  await screenshot('subscription-invalid');

  // The first digest, and its one-click link out of it.
  execFileSync(path.join(BIN_DIR, 'paperctl'), ['digests', 'run', '--now'], { encoding: 'utf8' });
  const leave = await mailedLink(SUBSCRIBER, /\/api\/unsubscribe\?token=/);
  assert.ok(leave.startsWith(BASE + '/'), `the link ${leave} is not on ${BASE}`);
  await page.goto(leave);
  await eventually(async () => assert.match(await page.locator('#notice').textContent(), /You are unsubscribed/));
  assert.equal(new URL(page.url()).search, '', 'the message stays in the address bar');
  await screenshot('unsubscribed');
  await page.goto(`${BASE}/api/unsubscribe?token=not-a-token`);
  await eventually(async () => assert.match(await page.locator('#notice').textContent(), /not valid/));
  assert.doesNotMatch(await page.locator('#notice').textContent(), /You are unsubscribed/);

  // An address the API refuses: its message by the form.
  await form.locator('#subscribe-email').fill('nobody@localhost');
  await form.locator('button[type=submit]').click();
  await eventually(async () => assert.equal(await form.locator('.form-error').isVisible(), true));
  assert.doesNotMatch(await form.locator('.form-status').textContent(), /Check your inbox/);
});

test('a 360 px wide phone scrolls only down', async () => {
  const phone = await browser.newContext({ viewport: { width: 360, height: 780 }, colorScheme: 'dark', storageState: await context.storageState() });
  const small = await newPage(phone);
  const pages = [
    ['phone-trending', '/'],
    ['phone-daily', `/?window=day&date=${SAMPLE_DAY}`],
    ['phone-search', `/search?q=${encodeURIComponent('speculative decoding')}`],
    ['phone-paper', `/papers/${paperId}`],
  ];
  for (const [name, route] of pages) {
    await small.goto(BASE + route);
    await cards(small);
    const { scrollWidth, clientWidth, widest } = await overflowX(small);
    assert.equal(clientWidth, 360);
    assert.ok(scrollWidth <= clientWidth, `${route}: ${scrollWidth} px wide at 360 (${widest.join(', ')})`);
    await screenshot(name, small, false);
  }
  await small.locator('#account-email').waitFor({ timeout: WAIT_MS });
  assert.equal(await small.locator('#account-email').textContent(), READER);
  await phone.close();
});

test('everything is reachable with the keyboard, with a visible focus', async () => {
  const fresh = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const kb = await newPage(fresh);
  await kb.goto(BASE + '/');
  await cards(kb);
  const focused = () => kb.evaluate(() => {
    const element = document.activeElement;
    const style = getComputedStyle(element);
    return {
      tag: element.tagName.toLowerCase(),
      id: element.id,
      text: (element.getAttribute('aria-label') || element.textContent || element.value || '').trim(),
      role: element.getAttribute('role'),
      outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
      inView: element.getBoundingClientRect().height > 0,
    };
  });
  const order = [];
  for (let i = 0; i < 8; i += 1) {
    await kb.keyboard.press('Tab');
    const now = await focused();
    order.push(now);
    assert.ok(now.outline, `no visible focus on ${now.tag}#${now.id} "${now.text}"`);
    assert.ok(now.inView, `focus on an invisible ${now.tag}#${now.id}`);
  }
  assert.equal(order[0].text, 'Skip to content');
  assert.equal(order[1].text, 'paperbus');
  assert.equal(order[2].id, 'search-input');
  assert.equal(order[3].text, 'Search');
  assert.equal(order[4].id, 'signin-button');
  // One stop for the tab list (the selected tab), then the first card.
  assert.equal(order[5].id, 'tab-trending');
  assert.ok(!order.slice(6).some((stop) => stop.role === 'tab'), 'unselected tabs are in the Tab order');
  assert.ok(order.slice(6).some((stop) => /^Upvote: /.test(stop.text)), `no upvote button among ${JSON.stringify(order.slice(6))}`);
  await screenshot('keyboard-focus', kb, false);

  // The skip link moves to the content.
  await kb.locator('.skip-link').focus();
  await kb.keyboard.press('Enter');
  await eventually(async () => assert.equal(await kb.evaluate(() => document.activeElement.id), 'main'));

  // The sign-in dialog: opened with Enter, closed with Escape, focus back.
  await kb.locator('#signin-button').focus();
  await kb.keyboard.press('Enter');
  await kb.locator('#signin-dialog').waitFor({ state: 'visible', timeout: WAIT_MS });
  assert.equal(await kb.evaluate(() => document.activeElement.id), 'signin-email');
  await screenshot('keyboard-dialog', kb, false);
  await kb.keyboard.press('Escape');
  await kb.locator('#signin-dialog').waitFor({ state: 'hidden', timeout: WAIT_MS });
  assert.equal(await kb.evaluate(() => document.activeElement.id), 'signin-button');

  // A search from the keyboard, then a result opened with Enter.
  await kb.locator('#search-input').focus();
  await kb.keyboard.type('diffusion');
  await kb.keyboard.press('Enter');
  await eventually(async () => assert.equal(await h1(kb), 'Results for “diffusion”'));
  const [first] = await cards(kb);
  await eventually(async () => assert.equal(await kb.evaluate(() => document.activeElement.tagName), 'H1', 'focus did not move to the new page'));
  for (let i = 0; i < 20; i += 1) {
    await kb.keyboard.press('Tab');
    if ((await focused()).text === first.title) break;
  }
  assert.equal((await focused()).text, first.title, 'Tab never reached the first result');
  await kb.keyboard.press('Enter');
  await eventually(async () => assert.equal(await h1(kb), first.title));
  await screenshot('keyboard-paper', kb, false);
  await fresh.close();
});

test('signing out', async () => {
  await page.goto(BASE + '/');
  await page.locator('#signout-button').click();
  await eventually(async () => assert.equal(await page.locator('#signin-button').isVisible(), true));
  assert.equal(await page.locator('#account-email').isVisible(), false);
  const session = await page.evaluate(async () => (await fetch('/api/session')).status);
  assert.equal(session, 401);
  await page.locator('.cards button.upvote').first().click();
  await page.locator('#signin-dialog').waitFor({ state: 'visible', timeout: WAIT_MS });
  await screenshot('signed-out', page, false);
});

test('the daily tab without a date shows today, even when empty', async () => {
  await page.goto(BASE + '/?window=day');
  const today = new Date().toISOString().slice(0, 10);
  await eventually(async () => assert.match(await h1(), /^Daily papers: \w+day, \d+ \w+ \d{4}$/));
  assert.equal(await page.locator('#date-input').inputValue(), today);
  const { body } = await apiGet('/api/papers?window=day');
  if (body.papers.length === 0) {
    assert.match(await page.locator('.list-results').textContent(), /No papers were listed on this day/);
  } else {
    assert.deepEqual((await cards()).map((card) => card.id), body.papers.map((paper) => paper.id));
  }
  await screenshot('daily-today');
});

test('no script errors on any page', () => {
  assert.deepEqual(pageErrors, []);
});
