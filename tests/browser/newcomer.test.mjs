// The newcomer's first run, in a real headless Chromium against the real i2i binary:
// set up the admin, post a hashtagged note linked to an incident, and find it on the
// timeline, both tag pages and the incident page. No JavaScript is needed by the pages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const root = resolve(import.meta.dirname, '..', '..');
const binary = process.env.I2I_BIN ?? join(root, 'target', 'debug', 'i2i');
const shots = process.env.I2I_SCREENSHOTS; // optional folder for screenshots
let server, browser, dataDir, base;

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.on('error', fail);
    probe.listen(0, '127.0.0.1', () => { const { port } = probe.address(); probe.close(() => ok(port)); });
  });
}

async function waitHealthy(url, deadlineMs) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    try { if ((await fetch(`${url}/healthz`)).ok) return; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`i2i did not become healthy at ${url}`);
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'i2i-browser-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(binary, ['--data-dir', dataDir, '--listen', `127.0.0.1:${port}`], {
    env: { ...process.env, I2I_LOG: 'warn' }, stdio: ['ignore', 'inherit', 'inherit'],
  });
  await waitHealthy(base, 20000);
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

test('a newcomer sets up the admin, posts a note and finds it everywhere', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();

  await page.goto(base + '/');
  assert.equal(new URL(page.url()).pathname, '/setup');
  await page.getByLabel('Username').fill('ada');
  await page.getByLabel('Display name (optional)').fill('Ada Lovelace');
  await page.getByLabel('Password (at least 8 characters)').fill('correct horse battery');
  await page.getByLabel('Password again').fill('correct horse battery');
  await shot(page, '1-setup');
  await page.getByRole('button', { name: 'Create administrator' }).click();
  assert.equal(new URL(page.url()).pathname, '/');

  const note = 'Users locked out again after #password-reset on ward tablets #sso INC-7';
  await page.getByLabel('What did you learn about users?').fill(note);
  await page.getByRole('button', { name: 'Post' }).click();
  const card = page.locator('article.card').first();
  assert.equal(await card.locator('p.body').innerText(), note);
  assert.equal(await card.locator('a.author').innerText(), 'Ada Lovelace');
  await shot(page, '2-timeline');

  await card.getByRole('link', { name: '#password-reset' }).click();
  assert.equal(new URL(page.url()).pathname, '/tags/password-reset');
  assert.equal(await page.locator('h1').innerText(), '#password-reset');
  assert.equal(await page.locator('article.card p.body').first().innerText(), note);

  await page.locator('article.card').first().getByRole('link', { name: '#sso' }).click();
  assert.equal(new URL(page.url()).pathname, '/tags/sso');
  assert.equal(await page.locator('article.card p.body').first().innerText(), note);

  await page.locator('article.card p.body').first().getByRole('link', { name: 'INC-7' }).click();
  assert.equal(new URL(page.url()).pathname, '/incidents/INC-7');
  assert.match(await page.locator('h1').innerText(), /INC-7/);
  assert.equal(await page.locator('article.card p.body').first().innerText(), note);
  assert.equal(await page.getByLabel('Incident', { exact: true }).inputValue(), 'INC-7', 'the incident page prefills its key');
  await shot(page, '3-incident');

  await page.getByRole('button', { name: 'Log out' }).click();
  assert.equal(new URL(page.url()).pathname, '/login');
  await context.close();
});

test('an analyst searches, refines by a facet, narrows by time and finds the export', async () => {
  const login = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'ada', password: 'correct horse battery' }),
  });
  const { token } = await login.json();
  const notes = [
    'Kiosk users locked out after #password-reset #sso',
    'Locked out again, nurses share one login #sso #shared-accounts',
    'Printer queue stuck on ward 3 #printing',
  ];
  for (const body of notes) {
    const response = await fetch(`${base}/api/v1/posts`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ body }),
    });
    assert.equal(response.status, 201);
  }
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(base + '/login');
  await page.getByLabel('Username').fill('ada');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Log in' }).click();

  await page.getByRole('link', { name: 'Search' }).click();
  await page.getByLabel('Search notes').fill('locked');
  // The index follows within a second; search until both lockout notes are found.
  let stats = '';
  for (let attempt = 0; attempt < 40 && !stats.startsWith('3 notes'); attempt++) {
    await page.getByRole('button', { name: 'Search' }).click();
    stats = await page.locator('p.stats').innerText();
    if (!stats.startsWith('3 notes')) await page.waitForTimeout(100);
  }
  assert.match(stats, /^3 notes/, 'the newcomer note and both lockout notes match "locked"');
  assert.equal(await page.locator('article.hit mark').first().innerText(), 'locked');
  await shot(page, '4-search');

  await page.getByRole('complementary', { name: 'Refine' }).getByRole('link', { name: '#shared-accounts' }).click();
  assert.equal(await page.getByLabel('Search notes').inputValue(), 'locked #shared-accounts');
  assert.match(await page.locator('p.stats').innerText(), /^1 note /);

  await page.locator('figure.histogram a').first().click();
  assert.match(await page.getByLabel('Search notes').inputValue(), /^locked #shared-accounts during:\d{4}-\d{2}-\d{2}$/);
  assert.match(await page.locator('p.stats').innerText(), /^1 note /);

  const csv = await page.getByRole('link', { name: 'CSV' }).getAttribute('href');
  const exported = await context.request.get(base + csv);
  assert.equal(exported.status(), 200);
  assert.match(await exported.text(), /nurses share one login/);

  await page.getByLabel('Search notes').fill('locked (');
  await page.getByRole('button', { name: 'Search' }).click();
  assert.match(await page.getByRole('alert').innerText(), /position 7/);
  await context.close();
});
