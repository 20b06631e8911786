// The connector under a real Distribution Service (`t1c-ds serve`), seen from t1c-sdk-js 3.6.1
// in headless Chromium: a label's domain added at the DS lets its page through after the next
// sync and removing it blocks the page again; T1C's web-app flow (a back end exchanges the
// label's API key for a JWT, the page hands it to the SDK, the connector checks it with keys
// from the sync); and a label's token replayed from another application's allowlisted page is
// refused.

'use strict';

const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');

const h = require('./harness');

/** The connector's version (`t1c --version`), which the DS must know. */
function connectorVersion() {
  const out = spawnSync(h.connectorBinary(), ['--version'], { encoding: 'utf8' });
  return /(\d+\.\d+\.\d+\S*)/.exec(out.stdout)[1];
}

describe('connector under a DS', () => {
  let pages;
  let ds;
  let connector;
  let browser;
  let shopPage;
  let bankPage;
  let shop;
  let shopKey;

  const ok = (res, status = 200) => {
    assert.equal(res.status, status, JSON.stringify(res.body));
    return res.body.data;
  };
  const sync = () => {
    const run = connector.cli('ds', 'sync');
    assert.equal(run.status, 0, run.stderr);
  };
  const shopToken = async () => {
    // What a web application's back end does: its API key for a short-lived token.
    const res = await h.request('GET', `${ds.url}/v3_5/tokens/application`, { ca: ds.ca, headers: { apikey: shopKey } });
    return ok(res);
  };

  before(async () => {
    pages = await h.startPageServer();
    ds = await h.startDs();
    const version = connectorVersion();
    ok(await ds.call('PUT', '/v3_5/versions', { id: version, allowed: true }));
    const installationKey = ok(await ds.call('POST', `/v3_5/versions/${version}/keys`, {}), 201).api_key;
    const org = ok(await ds.call('POST', '/v3_5/organisations', { name: 'Browsers' }), 201).id;
    shop = ok(await ds.call('POST', '/v3_5/labels', { organisation_id: org, name: 'shop', domains: [] }), 201).id;
    shopKey = ok(await ds.call('POST', `/v3_5/labels/${shop}/keys`, {}), 201).api_key;
    ok(await ds.call('POST', '/v3_5/labels', { organisation_id: org, name: 'bank', domains: [pages.unlistedOrigin] }), 201);

    const keyFile = path.join(h.tempDir('key'), 'installation-key');
    fs.writeFileSync(keyFile, installationKey);
    connector = await h.startConnector({
      config: [
        '[ds]',
        `url = ${JSON.stringify(ds.url)}`,
        `ca_certificate = ${JSON.stringify(ds.caFile)}`,
        `installation_key_file = ${JSON.stringify(keyFile)}`,
        'initial_delay_max_secs = 3600',
      ],
    });
    sync();
    browser = await h.startBrowser(connector.home);
    shopPage = await h.openPage(browser, pages.origin + '/');
    bankPage = await h.openPage(browser, pages.unlistedOrigin + '/');
  });

  after(() => h.stopAll());

  test('a page whose origin no label registers is refused', async () => {
    const result = await h.sdkReaders(shopPage, { port: connector.port, jwt: await shopToken() });

    assert.equal(result.initialized, false, JSON.stringify(result));
  });

  test('after the domain is added at the DS and a sync, the SDK works with the DS token', async () => {
    ok(await ds.call('PATCH', `/v3_5/labels/${shop}`, { domains: [pages.origin] }));
    sync();

    const result = await h.sdkReaders(shopPage, { port: connector.port, jwt: await shopToken() });

    assert.equal(result.initialized, true, JSON.stringify(result));
    assert.equal(result.readersError, undefined, JSON.stringify(result.readersError));
    assert.ok(result.readers.data.some((r) => /simulat/i.test(r.name)), JSON.stringify(result.readers));
  });

  test("the shop's token from the bank's (allowlisted) page is refused", async () => {
    const token = await shopToken();

    const replayed = await h.pageFetch(bankPage, `${connector.url}/v3/readers`, {
      headers: { authorization: `Bearer ${token}` },
    });

    assert.equal(replayed.status, 403, JSON.stringify(replayed));
    const own = await h.pageFetch(shopPage, `${connector.url}/v3/readers`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(own.status, 200, JSON.stringify(own));
  });

  test('after the domain is removed and a sync, the page is refused again', async () => {
    ok(await ds.call('PATCH', `/v3_5/labels/${shop}`, { domains: [] }));
    sync();

    const result = await h.sdkReaders(shopPage, { port: connector.port, jwt: await shopToken() });

    assert.equal(result.initialized, false, JSON.stringify(result));
  });
});
