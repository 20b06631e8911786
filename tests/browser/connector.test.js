// A web page in headless Chromium reaches the connector over HTTPS (its CA trusted through
// NSS by `t1c trust`), only from an allowlisted origin, and the published t1c-sdk-js
// initializes against it and lists the simulated Belgian eID reader.

'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const { after, before, describe, test } = require('node:test');

const h = require('./harness');

describe('connector without JWT', () => {
  let connector;
  let pages;
  let browser;

  before(async () => {
    pages = await h.startPageServer();
    connector = await h.startConnector({ allowedOrigins: [pages.origin] });
    browser = await h.startBrowser(connector.home);
  });

  after(() => h.stopAll());

  test('t1c trust reports the database, nickname and fingerprint it added', () => {
    const out = connector.trustOutput;
    assert.match(out, new RegExp(`sql:${connector.nssdb.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.match(out, /"T1C local CA"/);
    assert.match(out, /SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
  });

  test('an allowlisted page reaches /info over HTTPS, with CORS headers for its origin', async () => {
    const page = await h.openPage(browser, pages.origin + '/');
    const info = `${connector.url}/info`;

    const [response, result] = await Promise.all([
      page.waitForResponse((r) => r.url() === info),
      h.pageFetch(page, info),
    ]);

    assert.equal(result.status, 200, JSON.stringify(result));
    assert.equal(result.body.success, true);
    assert.ok(result.body.data.t1CInfoAPI, 'InfoResponse in data');
    const headers = await response.allHeaders();
    assert.equal(headers['access-control-allow-origin'], pages.origin);
    assert.equal(headers['access-control-allow-credentials'], 'true');
    const tls = await response.securityDetails();
    assert.match(tls?.issuer ?? '', /T1C local CA/, 'served under the local CA');
    await page.close();
  });

  test('a browser without the CA in its NSS database refuses the certificate', async (t) => {
    // The control for the test above: the trust comes from `t1c trust`, nothing else.
    const untrusted = await h.startBrowser(h.emptyHome());
    t.after(() => untrusted.close().catch(() => {}));
    const page = await h.openPage(untrusted, pages.origin + '/');
    const info = `${connector.url}/info`;

    const [failed, result] = await Promise.all([
      page.waitForEvent('requestfailed', (r) => r.url() === info),
      h.pageFetch(page, info),
    ]);

    assert.match(result.error ?? '', /TypeError/, JSON.stringify(result));
    assert.match(failed.failure().errorText, /ERR_CERT_AUTHORITY_INVALID/);
  });

  test('the same page from an origin not on the allowlist is refused', async () => {
    const page = await h.openPage(browser, pages.unlistedOrigin + '/');
    const info = `${connector.url}/info`;
    const outcome = new Promise((resolve) => {
      page.on('response', (r) => { if (r.url() === info) resolve({ status: r.status(), headers: r.allHeaders() }); });
      page.on('requestfailed', (r) => { if (r.url() === info) resolve({ failed: r.failure().errorText }); });
    });

    const result = await h.pageFetch(page, info);

    assert.match(result.error ?? '', /TypeError/, `fetch must fail: ${JSON.stringify(result)}`);
    const seen = await outcome;
    if (seen.status !== undefined) {
      assert.equal(seen.status, 403);
      assert.equal((await seen.headers)['access-control-allow-origin'], undefined);
    }
    // Chromium reports only a CORS failure to the page; what the connector answered:
    const direct = await h.get(info, { ca: fs.readFileSync(connector.ca), headers: { origin: pages.unlistedOrigin } });
    assert.equal(direct.status, 403);
    assert.equal(direct.headers['access-control-allow-origin'], undefined);
    const sdk = await h.sdkReaders(page, { port: connector.port });
    assert.equal(sdk.initialized, false, JSON.stringify(sdk));
    assert.equal(sdk.error.code, '112999');
    await page.close();
  });

  test('t1c-sdk-js initializes and lists the simulated eID reader', async () => {
    const page = await h.openPage(browser, pages.origin + '/');
    const deviceKey = page.waitForResponse((r) => r.url() === `${connector.url}/device-key`);

    const result = await h.sdkReaders(page, { port: connector.port });

    assert.equal(result.initialized, true, JSON.stringify(result));
    assert.equal((await deviceKey).status(), 200, 'initialize fetches the device key');
    assert.equal(result.readersError, undefined, JSON.stringify(result.readersError));
    const { success, data } = result.readers;
    assert.equal(success, true);
    assert.ok(Array.isArray(data), `data is an array: ${JSON.stringify(result.readers)}`);
    const reader = data.find((r) => r.card && /simulat/i.test(r.name));
    assert.ok(reader, `a simulated reader with a card: ${JSON.stringify(data)}`);
    assert.equal(typeof reader.id, 'string');
    assert.ok(reader.id.length > 0);
    assert.equal(typeof reader.pinpad, 'boolean');
    assert.match(reader.card.atr, /^3B[0-9A-F]+$/i, 'ATR in hex');
    assert.ok(Array.isArray(reader.card.description), 'card.description is a list');
    assert.ok(Array.isArray(reader.card.modules), 'card.modules is a list');
    const info = await h.get(`${connector.url}/info`, { ca: fs.readFileSync(connector.ca) });
    if (JSON.parse(info.body).data.t1CInfoAPI.modules.includes('beid')) {
      assert.ok(reader.card.modules.includes('beid'), `the beid module claims the card: ${JSON.stringify(reader.card)}`);
    }
    await page.close();
  });

  test('initialize learns the connector version from /info', async () => {
    const page = await h.openPage(browser, pages.origin + '/');

    const result = await h.sdkReaders(page, { port: connector.port });

    assert.equal(result.initialized, true, JSON.stringify(result));
    assert.match(String(result.version), /^3\.\d+\.\d+/, `config().version is ${result.version}`);
    await page.close();
  });
});
