// The DS dashboard in headless Debian Chromium against a real `t1c-ds serve` (its local CA
// trusted through NSS): sign in; create an organisation, a label and a version; create and
// revoke an API key; upload a signed bundle and start, raise and pause its rollout; then 20
// simulated connectors (`ds-devices`, from the testkit) register and sync with known counters,
// and the charts and tables show exactly those numbers, read from the page (each chart is drawn
// from the data table under it, and Chart.js's own data is compared too). An organisation
// administrator's session reaches no other organisation's page or number. Every page passes
// axe-core with no serious or critical violation, breaks no Content-Security-Policy rule, and
// is saved as a screenshot under target/dashboard-screenshots/.

'use strict';

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');

const h = require('./harness');

const ROOT = path.resolve(__dirname, '..', '..');
const SHOTS = path.join(ROOT, 'target', 'dashboard-screenshots');
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const BUNDLE = path.join(process.env.T1C_MODULES || path.join(ROOT, 'target', 'modules'), 'hello.t1cm');
const VERSION = '3.6.1';
const DEVICES = 20;
const TOTAL = (DEVICES * (DEVICES + 1)) / 2;

/** The simulated connectors: the testkit's `ds-devices` example, built if missing. */
function devicesBinary() {
  const binary = path.join(ROOT, 'target', 'debug', 'examples', 'ds-devices');
  if (!fs.existsSync(binary)) {
    const build = spawnSync('cargo', ['build', '-p', 't1c-testkit', '--features', 'ds', '--example', 'ds-devices'],
      { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('cargo build of the ds-devices example failed');
  }
  return binary;
}

/** The development signing key's public half, base64 (what the DS trusts as a publisher key). */
function developmentPublicKey() {
  const key = crypto.createPrivateKey(fs.readFileSync(path.join(ROOT, 'xtask', 'development-key.pem')));
  const { x } = crypto.createPublicKey(key).export({ format: 'jwk' });
  return Buffer.from(x, 'base64url').toString('base64');
}

const today = () => new Date().toISOString().slice(0, 10);

describe('the DS dashboard', () => {
  let ds;
  let home;
  let browser;
  let page;
  const cspViolations = [];
  const ids = {};

  /** The numbers of a chart's data table: `{row: [values...]}`. */
  const table = (id) => page.$$eval(`#${id} tbody tr`, (rows) => Object.fromEntries(rows.map((row) => [
    row.cells[0].textContent.trim(),
    Array.from(row.cells).slice(1).map((cell) => Number(cell.dataset.value)),
  ])));
  /** What Chart.js draws for a chart: `{row: [values...]}`. */
  const drawn = (id) => page.evaluate((id) => {
    const chart = window.Chart.getChart(document.querySelector(`canvas[data-chart="${id}"]`));
    return Object.fromEntries(chart.data.labels.map((label, i) => [label, chart.data.datasets.map((d) => d.data[i])]));
  }, id);
  const value = (selector) => page.$eval(selector, (el) => Number(el.dataset.value));

  /** Waits for the page's script, saves a screenshot, runs axe-core. */
  async function check(name, on = page) {
    await on.waitForFunction(() => document.documentElement.dataset.ready === 'true');
    fs.mkdirSync(SHOTS, { recursive: true });
    await on.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
    await on.evaluate(AXE);
    const result = await on.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
    const serious = result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
    assert.deepEqual(serious, [], `axe on ${name}`);
    assert.deepEqual(cspViolations, [], `CSP on ${name}`);
  }

  async function open(pathname, name, on = page) {
    const response = await on.goto(`${ds.url}${pathname}`);
    if (name) await check(name, on);
    return response;
  }

  /** Submits the form that `button` (its text) is in, and waits for the next page. */
  async function submit(text, on = page) {
    await Promise.all([on.waitForNavigation(), on.getByRole('button', { name: text, exact: true }).first().click()]);
  }

  function watch(on) {
    on.on('console', (message) => {
      if (/Content Security Policy|Refused to/.test(message.text())) cspViolations.push(message.text());
    });
    on.on('dialog', (dialog) => dialog.accept());
  }

  before(async () => {
    assert.ok(fs.existsSync(BUNDLE), `${BUNDLE} is missing: run cargo xtask build-modules`);
    devicesBinary();
    ds = await h.startDs();
    home = h.emptyHome();
    h.trustCa(home, ds.caFile);
    browser = await h.startBrowser(home);
    page = await browser.newPage();
    watch(page);
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  after(() => h.stopAll());

  test('sign in with a local account', async () => {
    await open('/dashboard/', 'sign-in');
    assert.match(page.url(), /\/dashboard\/login$/);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(ds.password);
    await submit('Sign in');
    assert.match(page.url(), /\/dashboard\/$/);
    await check('overview-empty');
  });

  test('create an organisation, a label and a version', async () => {
    await open('/dashboard/manage', 'management');
    await open('/dashboard/manage/organisations', 'organisations');
    await page.getByLabel('Name', { exact: true }).fill('Acme');
    await submit('Create organisation');
    ids.organisation = /organisations\/([^/?]+)/.exec(page.url())[1];
    await check('organisation');

    await open('/dashboard/manage/labels', 'labels');
    await page.getByLabel('Organisation', { exact: true }).last().selectOption({ label: 'Acme' });
    await page.getByLabel(/^Name \(a-z/).fill('shop');
    await page.getByLabel(/^Domains/).fill('https://shop.example');
    await submit('Create label');
    ids.label = /labels\/([^/?]+)/.exec(page.url())[1];
    assert.equal(await page.textContent('#label-name-value'), 'shop');

    await open('/dashboard/manage/versions', 'versions');
    await page.getByLabel('Version (semver)').fill(VERSION);
    await page.getByLabel('win64').fill('https://downloads.example/t1c-3.6.1.msi');
    await submit('Save version');
    assert.match(page.url(), new RegExp(`/versions/${VERSION.replaceAll('.', '\\.')}`));
    await submit('Create installation key');
    ids.installationKey = (await page.textContent('#installation-key-text')).trim();
    await check('version');
  });

  test('create and revoke an API key', async () => {
    await open(`/dashboard/manage/labels/${ids.label}`);
    await submit('Create API key');
    const key = (await page.textContent('#api-key-text')).trim();
    assert.match(key, /^t1c_/);
    await check('api-key-shown-once');
    const token = await h.request('GET', `${ds.url}/v3_5/tokens/application`, { ca: ds.ca, headers: { apikey: key } });
    assert.equal(token.status, 200, 'the key opens tokens');

    await open(`/dashboard/manage/labels/${ids.label}`);
    assert.equal(await page.content().then((html) => html.includes(key)), false, 'shown only once');
    await submit('Revoke');
    assert.match(await page.textContent('.notice'), /Revoked/);
    assert.equal((await page.textContent('#api-keys tbody td.state')).trim(), 'revoked');
    await check('label');
  });

  test('upload a bundle, start a rollout, raise it and pause it', async () => {
    await open('/dashboard/manage/publisher-keys');
    await page.getByLabel('Publisher', { exact: true }).fill('Development');
    await page.getByLabel(/^Ed25519 public key/).fill(developmentPublicKey());
    await submit('Trust key');
    await check('publisher-keys');

    await open('/dashboard/manage/bundles');
    await page.setInputFiles('#bundle-file', BUNDLE);
    await submit('Upload');
    assert.match(await page.textContent('.notice'), /Uploaded/, await page.textContent('main'));
    assert.equal(await page.locator('#bundles tbody tr').count(), 1);
    await check('bundles');

    await open('/dashboard/manage/rollouts');
    await page.getByLabel(/^Percent of targeted devices/).fill('10');
    await submit('Start rollout');
    assert.match(await page.textContent('.notice'), /Rollout started/);
    await page.locator('#rollouts tbody tr').first().getByLabel('New percent').fill('50');
    await submit('Raise');
    assert.match(await page.textContent('.notice'), /Rollout raised/);
    assert.equal(await value('#rollouts td.percent'), 50);
    await submit('Pause');
    assert.match(await page.textContent('.notice'), /Rollout paused/);
    assert.equal(await page.getAttribute('#rollouts td.state', 'data-state'), 'paused');
    assert.equal(Object.keys(await table('rollout-progress')).length, 1, 'the progress chart has the rollout');
    await check('rollouts');
  });

  test('20 connectors sync: the charts and tables show exactly their numbers', async () => {
    const run = spawnSync(devicesBinary(), ['--url', ds.url, '--ca', ds.caFile, '--key', ids.installationKey,
      '--count', String(DEVICES), '--label', 'shop', '--version', VERSION], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { devices: DEVICES, total: TOTAL });

    await open('/dashboard/', 'overview');
    assert.equal(await value('#active-day'), DEVICES);
    assert.equal(await value('#active-month'), DEVICES);
    assert.equal(await value('#transactions-month'), TOTAL);
    assert.deepEqual(await table('versions-in-use'), { [VERSION]: [DEVICES] });
    assert.deepEqual(await drawn('versions-in-use'), { [VERSION]: [DEVICES] });

    await open('/dashboard/devices', 'devices');
    assert.equal(await value('#devices-total'), DEVICES);
    const byOs = { linux: [7], windows: [7], macos: [6] };
    assert.deepEqual(await table('devices-by-os'), byOs);
    assert.deepEqual(await drawn('devices-by-os'), byOs);
    assert.deepEqual(await table('devices-by-browser'), { 'Chrome 131': [10], 'Firefox 133': [10] });
    assert.deepEqual(await drawn('devices-by-browser'), { 'Chrome 131': [10], 'Firefox 133': [10] });
    assert.deepEqual(await table('devices-by-state'), { running: [DEVICES] });
    // ds-devices: Linux devices report Debian (even) or Ubuntu (odd), Windows ones their build,
    // macOS ones nothing (as an older connector).
    const byOsVersion = {
      'Debian GNU/Linux 12 (bookworm)': [4], 'Ubuntu 24.04.1 LTS': [3], 'Windows 10.0.22631': [7], unknown: [6],
    };
    assert.deepEqual(await table('devices-by-os-version'), byOsVersion);
    assert.deepEqual(await drawn('devices-by-os-version'), byOsVersion);
    assert.equal(await page.locator('#device-table tbody tr').count(), DEVICES);
    await page.getByLabel('Operating system', { exact: true }).selectOption('macos');
    await submit('Apply');
    assert.equal(await value('#devices-total'), 6);
    assert.equal(await page.locator('#device-table tbody tr').count(), 6);
    assert.deepEqual(await table('devices-by-os-version'), { unknown: [6] });
    await open('/dashboard/devices?os_version=Ubuntu+24.04.1+LTS', 'devices-ubuntu');
    assert.equal(await value('#devices-total'), 3);
    assert.deepEqual(await table('devices-by-os'), { linux: [3] });

    await open('/dashboard/transactions', 'transactions');
    assert.equal(await value('#transactions-total'), TOTAL);
    const daily = await table('transactions-daily');
    assert.deepEqual(daily[today()], [TOTAL]);
    assert.equal(Object.values(daily).flat().reduce((a, b) => a + b, 0), TOTAL, 'no other day counts');
    assert.deepEqual((await drawn('transactions-daily'))[today()], [TOTAL]);
    assert.deepEqual((await table('transactions-monthly'))[today().slice(0, 7)], [TOTAL]);
    assert.deepEqual(await table('transactions-totals'), { shop: [TOTAL] });
    assert.deepEqual(await drawn('transactions-totals'), { shop: [TOTAL] });
    const csvPath = await page.getAttribute('#csv', 'href');
    const csv = await h.pageFetch(page, csvPath);
    assert.equal(csv.status, 200);
    assert.ok(csv.body.includes(`${today().slice(0, 7)},shop,${TOTAL}\r\n`), csv.body);
    assert.ok(csv.body.includes(`${today()},shop,${TOTAL}\r\n`), csv.body);

    await open('/dashboard/transactions?by=organisation', 'transactions-by-organisation');
    assert.deepEqual(await table('transactions-totals'), { Acme: [TOTAL] });
    await open('/dashboard/transactions?by=use_case');
    assert.deepEqual(await table('transactions-totals'), { identity_read: [TOTAL] });

    await page.setViewportSize({ width: 390, height: 844 });
    await open('/dashboard/', 'overview-phone');
    await open('/dashboard/transactions', 'transactions-phone');
    await open(`/dashboard/manage/labels/${ids.label}`, 'label-phone');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  test('the remaining management pages', async () => {
    await open('/dashboard/manage/tls-keystores', 'tls-keystores');
    await open('/dashboard/manage/audit', 'audit-log');
    assert.ok(await page.locator('#audit td', { hasText: 'rollout.pause' }).count() >= 1);
  });

  test("an organisation administrator's session reaches no other organisation", async () => {
    const other = (await ds.call('POST', '/v3_5/organisations', { name: 'Other' })).body.data.id;
    const otherLabel = (await ds.call('POST', '/v3_5/labels', { organisation_id: other, name: 'other-app' })).body.data.id;
    const run = spawnSync(devicesBinary(), ['--url', ds.url, '--ca', ds.caFile, '--key', ids.installationKey,
      '--count', '2', '--label', 'other-app', '--version', VERSION], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const user = await ds.call('POST', '/v3_5/users', {
      username: 'acme-admin', password: 'acme password 1234', role: 'organisation-admin', organisation_id: ids.organisation,
    });
    assert.equal(user.status, 201, JSON.stringify(user.body));

    const context = await h.startBrowser(home);
    const own = await context.newPage();
    watch(own);
    await own.setViewportSize({ width: 1280, height: 800 });
    await own.goto(`${ds.url}/dashboard/login`);
    await own.getByLabel('Username').fill('acme-admin');
    await own.getByLabel('Password').fill('acme password 1234');
    await submit('Sign in', own);

    for (const pathname of [`/dashboard/manage/organisations/${other}`, `/dashboard/manage/labels/${otherLabel}`]) {
      const response = await open(pathname, null, own);
      assert.equal(response.status(), 404, pathname);
      assert.equal((await own.content()).includes('other-app'), false, pathname);
    }
    for (const pathname of ['/dashboard/devices', '/dashboard/manage/rollouts', '/dashboard/manage/versions']) {
      const response = await open(pathname, null, own);
      assert.equal(response.status(), 403, pathname);
    }
    const pages = [
      ['/dashboard/', 'org-admin-overview'],
      ['/dashboard/transactions', 'org-admin-transactions'],
      ['/dashboard/transactions?by=organisation', null],
      [`/dashboard/transactions?organisation=${other}`, null],
      ['/dashboard/manage/organisations', 'org-admin-organisations'],
      ['/dashboard/manage/labels', 'org-admin-labels'],
      ['/dashboard/manage/audit', 'org-admin-audit'],
    ];
    for (const [pathname, name] of pages) {
      const response = await open(pathname, name, own);
      assert.equal(response.status(), 200, pathname);
      const html = await own.content();
      assert.equal(html.includes('other-app') || html.includes('>Other<'), false, pathname);
    }
    await open('/dashboard/transactions', null, own);
    const totals = await own.$$eval('#transactions-totals tbody tr', (rows) => rows.map((r) => [r.cells[0].textContent, Number(r.cells[1].dataset.value)]));
    assert.deepEqual(totals, [['shop', TOTAL]]);
    const csv = await h.pageFetch(own, '/dashboard/transactions.csv?by=label');
    assert.equal(csv.body.includes('other-app'), false, csv.body);
    assert.ok(csv.body.includes(`,shop,${TOTAL}\r\n`), csv.body);

    // The platform administrator sees both.
    await open('/dashboard/transactions?by=label');
    assert.deepEqual(await table('transactions-totals'), { shop: [TOTAL], 'other-app': [3] });
  });
});
