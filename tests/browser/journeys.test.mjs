// Browser journeys in a real headless Chromium against the real i2i binary (one server,
// journeys in order, as a team would use it on its first day). Each saves a screenshot
// when I2I_SCREENSHOTS names a folder.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const root = resolve(import.meta.dirname, '..', '..');
const binary = process.env.I2I_BIN ?? join(root, 'target', 'debug', 'i2i');
const shots = process.env.I2I_SCREENSHOTS;
const ADMIN = { username: 'ada', password: 'correct horse battery' };
const RESPONDER = { username: 'rita', password: 'responder pass 1' };
const DESIGNER = { username: 'dora', password: 'designer pass 1' };
let server, browser, dataDir, base;

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.on('error', fail);
    probe.listen(0, '127.0.0.1', () => { const { port } = probe.address(); probe.close(() => ok(port)); });
  });
}

async function waitHealthy(url) {
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`${url}/healthz`)).ok) return; } catch { /* starting */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`i2i did not start at ${url}`);
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'i2i-browser-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(binary, ['--data-dir', dataDir, '--listen', `127.0.0.1:${port}`], {
    env: { ...process.env, I2I_LOG: 'warn' }, stdio: ['ignore', 'inherit', 'inherit'],
  });
  await waitHealthy(base);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  server?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function shot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

async function logIn(context, who) {
  const page = await context.newPage();
  await page.goto(base + '/login');
  await page.getByLabel('Username').fill(who.username);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  assert.equal(new URL(page.url()).pathname, '/');
  return page;
}

async function apiToken(who) {
  const response = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(who),
  });
  return (await response.json()).token;
}

async function apiPost(token, body, incident) {
  const response = await fetch(`${base}/api/v1/posts`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(incident ? { body, incident } : { body }),
  });
  assert.equal(response.status, 201);
  return response.json();
}

async function noSeriousA11yViolations(page, label) {
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help}`), [], `${label} has accessibility violations`);
}

test('1. first run: create the admin, create a responder, log in as the responder', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(base + '/');
  assert.equal(new URL(page.url()).pathname, '/setup');
  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Display name (optional)').fill('Ada Lovelace');
  await page.getByLabel('Password (at least 8 characters)').fill(ADMIN.password);
  await page.getByLabel('Password again').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Create administrator' }).click();
  assert.equal(new URL(page.url()).pathname, '/');

  await page.getByRole('link', { name: 'Users' }).click();
  for (const [who, role] of [[RESPONDER, 'responder'], [DESIGNER, 'designer']]) {
    await page.getByLabel('Username').fill(who.username);
    await page.getByLabel('Password (at least 8 characters)').fill(who.password);
    await page.getByLabel('Role').selectOption(role);
    await page.getByRole('button', { name: 'Add user' }).click();
    assert.match(await page.locator('table').innerText(), new RegExp(`${who.username}\\s+${who.username}\\s+${role}\\s+active`));
  }
  await shot(page, '1-users');
  await page.getByRole('button', { name: 'Log out' }).click();
  const responder = await logIn(context, RESPONDER);
  assert.match(await responder.locator('nav').innerText(), /rita/);
  await context.close();
});

test('2. responder: suggestion, Ctrl+Enter, no reload, and a second session sees it live', async () => {
  const admin = await apiToken(ADMIN);
  await apiPost(admin, 'Users locked out again after #password-reset on ward tablets #sso', 'INC-7');
  // A curator's description of the tag shows in the suggestion.
  const curated = await fetch(`${base}/api/v1/tags/password-reset`, {
    method: 'PATCH', headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
    body: JSON.stringify({ description: 'self-service password resets', kind: 'symptom' }),
  });
  assert.equal(curated.status, 200);
  const watcher = await browser.newContext();
  const watching = await logIn(watcher, ADMIN);
  await watching.goto(base + '/incidents/INC-7');

  const context = await browser.newContext();
  const page = await logIn(context, RESPONDER);
  await page.goto(base + '/incidents/INC-7');
  const marker = await page.evaluate(() => { window.__noReload = 'still here'; return window.__noReload; });
  const box = page.getByLabel('What did you learn about users?');
  await box.click();
  await box.pressSequentially('Kiosk badge fails after #pass');
  const option = page.getByRole('option', { name: /#password-reset/ });
  await option.waitFor();
  assert.match(await option.textContent(), /self-service password resets/);
  await option.click();
  assert.equal(await box.inputValue(), 'Kiosk badge fails after #password-reset ');
  await box.pressSequentially('again');
  await box.press('Control+Enter');
  const mine = page.locator('article.card', { hasText: 'Kiosk badge fails after #password-reset again' });
  await mine.waitFor();
  assert.equal(await page.evaluate(() => window.__noReload), marker, 'the page did not reload');
  assert.equal(await box.inputValue(), '');
  await shot(page, '2-incident-responder');

  const arrived = watching.getByRole('button', { name: '1 new note' });
  await arrived.waitFor({ timeout: 10000 });
  await arrived.click();
  await watching.locator('article.card', { hasText: 'Kiosk badge fails' }).waitFor();
  await shot(watching, '2-incident-live');
  await watcher.close();
  await context.close();
});

test('3. designer: trends, a trending tag with its chart and related tags, follow, My tags', async () => {
  // The last hours' notes, imported with their times (trends count whole hours).
  const hour = 3600 * 1000;
  const lines = [];
  for (let i = 0; i < 6; i++) {
    const at = new Date(Date.now() - (i + 2) * hour).toISOString();
    lines.push(JSON.stringify({ author: `oncall${i % 3}`, body: `Kiosk login loop on ward ${i} #kiosk-login #sso`, incident: `INC-${100 + i}`, created_at: at }));
  }
  const file = join(dataDir, 'recent.jsonl');
  writeFileSync(file, lines.join('\n') + '\n');
  execFileSync(binary, ['--data-dir', dataDir, 'import', file], { env: { ...process.env, I2I_LOG: 'warn' } });

  const context = await browser.newContext();
  const page = await logIn(context, DESIGNER);
  await page.getByRole('link', { name: 'Trends' }).click();
  const trending = page.locator('table.trending');
  assert.match(await trending.innerText(), /#kiosk-login\s+new/);
  await shot(page, '3-trends');
  await trending.getByRole('link', { name: '#kiosk-login' }).click();
  assert.equal(new URL(page.url()).pathname, '/tags/kiosk-login');
  const chart = page.locator('figure.chart').first();
  assert.match(await chart.locator('figcaption').innerText(), /Posts per day/);
  assert.ok(await chart.locator('rect').count() > 0, 'the history chart has bars');
  assert.match(await page.locator('section[aria-labelledby=related]').innerText(), /#sso/);
  await page.getByRole('button', { name: 'Follow #kiosk-login' }).click();
  // The click posts a form and the page comes back: wait for it (isVisible does not wait).
  await page.getByRole('button', { name: /Following/ }).waitFor({ timeout: 10000 });
  await shot(page, '3-tag');
  await page.getByRole('link', { name: 'My tags' }).click();
  assert.match(await page.locator('main').innerText(), /#kiosk-login/);
  assert.ok(await page.locator('article.card', { hasText: 'Kiosk login loop' }).count() >= 6);
  await context.close();
});

test('4. analyst: search with operators, refine by a facet, export CSV', async () => {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await logIn(context, ADMIN);
  await page.getByRole('link', { name: 'Search' }).click();
  await page.getByLabel('Search notes').fill('#sso -#password-reset after:2020-01-01');
  let stats = '';
  for (let attempt = 0; attempt < 40 && !stats.startsWith('6 notes'); attempt++) {
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    stats = await page.locator('p.stats').innerText();
    if (!stats.startsWith('6 notes')) await page.waitForTimeout(150);
  }
  assert.match(stats, /^6 notes/, 'the six kiosk notes, not the password-reset one');
  await page.getByRole('complementary', { name: 'Refine' }).getByRole('link', { name: 'INC-100' }).click();
  assert.equal(await page.getByLabel('Search notes').inputValue(), '#sso -#password-reset after:2020-01-01 incident:INC-100');
  assert.match(await page.locator('p.stats').innerText(), /^1 note /);
  await shot(page, '4-search');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'CSV' }).click()]);
  const csv = readFileSync(await download.path(), 'utf8');
  const rows = csv.trim().split('\n');
  assert.equal(rows[0], 'id,created_at,author,incident,tags,body');
  assert.equal(rows.length, 2);
  assert.match(rows[1], /INC-100,kiosk-login sso,Kiosk login loop on ward 0/);
  await context.close();
});

test('5. hostile markup renders as text and opens no dialog', async () => {
  const token = await apiToken(RESPONDER);
  await apiPost(token, '<script>alert(1)</script> and <img src=x onerror=alert(1)> #xss-check');
  const context = await browser.newContext();
  const page = await logIn(context, RESPONDER);
  let dialogs = 0;
  page.on('dialog', async (dialog) => { dialogs++; await dialog.dismiss(); });
  await page.goto(base + '/tags/xss-check');
  const body = await page.locator('article.card p.body').first().innerText();
  assert.equal(body, '<script>alert(1)</script> and <img src=x onerror=alert(1)> #xss-check');
  assert.equal(await page.locator('article.card img').count(), 0);
  await page.goto(base + '/search?q=%23xss-check');
  await page.waitForTimeout(300);
  assert.equal(dialogs, 0);
  await shot(page, '5-xss');
  await context.close();
});

test('6. designer: merge #pwreset into #password-reset, see the trend combine, build an insight, accept it, export it', async () => {
  const hour = 3600 * 1000;
  const notes = [
    ['oncall1', 'Reset mail arrived after the link expired #pwreset', 'INC-201'],
    ['oncall2', 'Reset link opened on the wrong device #pwreset', 'INC-202'],
    ['oncall0', 'Reset page rejects the new password silently #password-reset', 'INC-203'],
  ];
  const lines = notes.map(([author, body, incident], i) =>
    JSON.stringify({ author, body, incident, created_at: new Date(Date.now() - (i + 3) * hour).toISOString() }));
  const file = join(dataDir, 'resets.jsonl');
  writeFileSync(file, lines.join('\n') + '\n');
  execFileSync(binary, ['--data-dir', dataDir, 'import', file], { env: { ...process.env, I2I_LOG: 'warn' } });

  const context = await browser.newContext({ acceptDownloads: true });
  const page = await logIn(context, DESIGNER);
  const recurringRow = (name) => page.locator('table.recurring tr', { has: page.getByRole('link', { name, exact: true }) });
  await page.goto(base + '/trends');
  const before = Number((await recurringRow('#password-reset').locator('svg.hbar text').textContent()).trim());
  assert.equal(await recurringRow('#pwreset').locator('svg.hbar text').textContent(), '2');

  // Merge from the alias's tag page.
  await page.goto(base + '/tags/pwreset');
  await page.getByText('Curate #pwreset').click();
  await page.getByLabel('Merge #pwreset into').fill('password-reset');
  await page.getByRole('button', { name: 'Merge' }).click();
  assert.equal(new URL(page.url()).pathname, '/tags/password-reset');
  assert.match(await page.locator('p.tag-aliases').innerText(), /Also written as #pwreset/);
  await shot(page, '6-merged-tag');

  // The trend combines: the canonical tag spans the alias's incidents too; the alias is gone.
  await page.goto(base + '/trends');
  assert.equal(Number((await recurringRow('#password-reset').locator('svg.hbar text').textContent()).trim()), before + 2);
  assert.equal(await recurringRow('#pwreset').count(), 0);

  // One click on the tag page makes the insight; pin two notes; accept it.
  await page.goto(base + '/tags/password-reset');
  await page.getByRole('button', { name: 'Create insight from #password-reset' }).click();
  assert.match(new URL(page.url()).pathname, /^\/insights\/\d+$/);
  assert.match(await page.locator("p.counts").innerText(), /5 notes · 4 incidents/, "the alias's notes count in the insight");
  const candidates = page.locator('li.candidate', { hasText: 'Reset' });
  const first = await candidates.filter({ hasText: 'link expired' }).getAttribute('data-post');
  const second = await candidates.filter({ hasText: 'wrong device' }).getAttribute('data-post');
  // Each pin is a form post that reloads the page: wait for the reloaded page to show it
  // before the next click, which would otherwise race the first pin's navigation.
  const pinned = page.locator('ul.pinned-posts li.pinned');
  await page.getByRole('button', { name: `Pin note ${first}` }).click();
  await pinned.first().waitFor();
  await page.getByRole('button', { name: `Pin note ${second}` }).click();
  await pinned.nth(1).waitFor();
  assert.equal(await pinned.count(), 2);
  await page.getByLabel('Move to').selectOption('accepted');
  await page.getByRole('button', { name: 'Move' }).click();
  await page.locator('.status', { hasText: 'accepted' }).waitFor();
  assert.equal(await page.locator('.status').textContent(), 'accepted');
  await shot(page, '6-insight');

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export as Markdown' }).click()]);
  const markdown = readFileSync(await download.path(), 'utf8');
  assert.match(markdown, /^# #password-reset: what users run into\n/);
  assert.match(markdown, /- Status: \*\*accepted\*\*/);
  for (const id of [first, second]) assert.ok(markdown.includes(`${base}/posts/${id})`), `links note ${id}:\n${markdown}`);
  assert.ok(markdown.includes(`[INC-201](${base}/incidents/INC-201)`), markdown);
  assert.match(markdown, /Reset link opened on the wrong device #pwreset/);

  // The board shows it under accepted.
  await page.getByRole('link', { name: 'Insights' }).first().click();
  assert.match(await page.locator('section.board-column', { has: page.locator('#col-accepted') }).innerText(), /#password-reset: what users run into/);
  await context.close();
});

test('the main pages pass an accessibility check and work without JavaScript', async () => {
  const context = await browser.newContext({ bypassCSP: true });
  const page = await logIn(context, ADMIN);
  for (const path of ['/', '/incidents/INC-7', '/tags/kiosk-login', '/trends', '/search?q=%23sso', '/my', '/digest', '/insights', '/insights/1']) {
    await page.goto(base + path);
    await noSeriousA11yViolations(page, path);
  }
  await context.close();

  const plain = await browser.newContext({ javaScriptEnabled: false });
  const nojs = await logIn(plain, RESPONDER);
  await nojs.getByLabel('What did you learn about users?').fill('Posted without JavaScript #nojs');
  await nojs.getByRole('button', { name: 'Post' }).click();
  assert.match(await nojs.locator('article.card').first().innerText(), /Posted without JavaScript/);
  await nojs.goto(base + '/trends');
  assert.match(await nojs.locator('h1').innerText(), /Trends/);
  await nojs.goto(base + '/search?q=%23sso');
  assert.match(await nojs.locator('p.stats').innerText(), /notes/);
  await plain.close();
});
