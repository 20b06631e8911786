// With `[jwt] enabled`, t1c-sdk-js works when the page passes a token signed by a configured
// key (ES256, `kid` "test") and is refused without one or with a token from another key.

'use strict';

const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');

const h = require('./harness');

describe('connector with JWT', () => {
  let connector;
  let pages;
  let browser;
  let page;
  const key = h.jwtSigner('test');

  before(async () => {
    pages = await h.startPageServer();
    connector = await h.startConnector({ allowedOrigins: [pages.origin], jwtKey: key });
    browser = await h.startBrowser(connector.home);
    page = await h.openPage(browser, pages.origin + '/');
  });

  after(() => h.stopAll());

  test('/info reports that JWT is enforced', async () => {
    const result = await h.pageFetch(page, `${connector.url}/info`);

    assert.equal(result.status, 200, JSON.stringify(result));
    assert.equal(result.body.data.t1CInfoAPI.jwtEnabled, true);
  });

  test('with a valid token, initialize and readers succeed', async () => {
    const result = await h.sdkReaders(page, { port: connector.port, jwt: key.sign({}) });

    assert.equal(result.initialized, true, JSON.stringify(result));
    assert.equal(result.readersError, undefined, JSON.stringify(result.readersError));
    assert.equal(result.readers.success, true);
    assert.ok(result.readers.data.some((r) => /simulat/i.test(r.name)), JSON.stringify(result.readers));
  });

  test('without a token, readers fails and the connector answers 401 with code 104025', async () => {
    const result = await h.sdkReaders(page, { port: connector.port });

    // /info and /device-key are open, so initialize itself succeeds without a token.
    assert.equal(result.initialized, true, JSON.stringify(result));
    assert.equal(result.readers, undefined, JSON.stringify(result.readers));
    // t1c-sdk-js 3.6.1 turns any HTTP 401 into {code: "112999", description: "Unauthorized"}
    // without reading the body (3.8 reports "104025"); the body carries the T1C code.
    assert.deepEqual(result.readersError, { code: '112999', description: 'Unauthorized' });
    const raw = await h.pageFetch(page, `${connector.url}/v3/readers`);
    assert.equal(raw.status, 401);
    assert.equal(raw.body.success, false);
    assert.equal(raw.body.code, '104025');
  });

  test('a token signed by another key is refused the same way', async () => {
    const stranger = h.jwtSigner('test');

    const result = await h.sdkReaders(page, { port: connector.port, jwt: stranger.sign({}) });

    assert.deepEqual(result.readersError, { code: '112999', description: 'Unauthorized' });
    const raw = await h.pageFetch(page, `${connector.url}/v3/readers`, {
      headers: { authorization: `Bearer ${stranger.sign({})}` },
    });
    assert.equal(raw.status, 401);
    assert.equal(raw.body.code, '104025');
  });

  test('an expired token is refused', async () => {
    const now = Math.floor(Date.now() / 1000);

    const result = await h.sdkReaders(page, { port: connector.port, jwt: key.sign({ iat: now - 7200, exp: now - 3600 }) });

    assert.deepEqual(result.readersError, { code: '112999', description: 'Unauthorized' });
  });
});
