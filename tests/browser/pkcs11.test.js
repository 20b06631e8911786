// The published t1c-sdk-js 3.6.1 against a SoftHSMv2 token through the `pkcs11` module.
//
// 3.6.1 has no `pkcs11` client (it arrived in later SDKs), so the page uses its generic token
// client, `client.generic(readerId)`, with module `pkcs11`: the paths are the same
// (`/v3/modules/pkcs11/apps/token/readers/{id}/...`). The token is made here with
// softhsm2-util, openssl and pkcs11-tool; the certificates are compared and the signatures
// verified in Node.

'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { after, before, describe, test } = require('node:test');

const h = require('./harness');

const LIBRARY = '/usr/lib/softhsm/libsofthsm2.so';
const PIN = '123456';
const KEYS = [
  { label: 'rsa-2048', id: '01', genpkey: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'] },
  { label: 'ec-p256', id: '03', genpkey: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'] },
];

/** A SoftHSM token with the KEYS and self-signed certificates, in its own directory. */
function softhsm() {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 't1c-softhsm-'));
  fs.mkdirSync(path.join(dir, 'tokens'));
  const conf = path.join(dir, 'softhsm2.conf');
  fs.writeFileSync(conf, `directories.tokendir = ${dir}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  const run = (program, args) => {
    const result = spawnSync(program, args, { env, encoding: 'utf8' });
    assert.equal(result.status, 0, `${program} ${args.join(' ')}: ${result.stderr}`);
  };
  run('softhsm2-util', ['--init-token', '--free', '--label', 'T1C Browser Token', '--pin', PIN, '--so-pin', '12345678']);
  const keys = KEYS.map((key) => {
    const pem = path.join(dir, `${key.label}.pem`);
    const der = path.join(dir, `${key.label}.der`);
    run('openssl', ['genpkey', ...key.genpkey, '-out', pem]);
    run('openssl', ['req', '-new', '-x509', '-key', pem, '-subj', `/CN=T1C browser ${key.label}`, '-days', '30', '-outform', 'DER', '-out', der]);
    run('softhsm2-util', ['--import', pem, '--token', 'T1C Browser Token', '--label', key.label, '--id', key.id, '--pin', PIN]);
    run('pkcs11-tool', ['--module', LIBRARY, '--token-label', 'T1C Browser Token', '--login', '--pin', PIN,
      '--write-object', der, '--type', 'cert', '--id', key.id, '--label', key.label]);
    return { ...key, certificate: fs.readFileSync(der) };
  });
  return { dir, conf, keys };
}

describe('pkcs11 through t1c-sdk-js 3.6.1 (generic token client)', () => {
  let token;
  let connector;
  let browser;
  let page;
  let readerId;

  /** In the page: `await build(window.__token, arg)`; `{ok}` or `{error}`. */
  function call(build, arg) {
    return page.evaluate(async ({ build, arg }) => {
      // eslint-disable-next-line no-new-func
      const run = new Function('token', 'arg', `return (${build})(token, arg);`);
      try {
        return { ok: await run(window.__token, arg) };
      } catch (e) {
        return { error: e?.code !== undefined ? { code: e.code, description: e.description } : { message: String(e?.message ?? e) } };
      }
    }, { build: build.toString(), arg });
  }

  async function ok(build, arg) {
    const result = await call(build, arg);
    assert.ok(result.ok, JSON.stringify(result.error));
    return result.ok;
  }

  before(async () => {
    token = softhsm();
    const pages = await h.startPageServer();
    connector = await h.startConnector({
      allowedOrigins: [pages.origin],
      simulate: false,
      config: ['[pkcs11]', `linux = "${LIBRARY}"`],
      env: { SOFTHSM2_CONF: token.conf },
    });
    browser = await h.startBrowser(connector.home);
    page = await h.openPage(browser, pages.origin + '/');
    const init = await page.evaluate(async ({ port }) => {
      const options = new T1CSdk.T1CConfigOptions('https://localhost', String(port));
      const client = await T1CSdk.T1CClient.initialize(new T1CSdk.T1CConfig(options));
      const readers = await client.core().readers();
      const reader = readers.data.find((r) => r.card?.modules?.includes('pkcs11'));
      window.__token = reader && client.generic(reader.id);
      return { readers: readers.data, readerId: reader?.id };
    }, { port: connector.port });
    readerId = init.readerId;
    assert.ok(readerId, `the token slot is listed: ${JSON.stringify(init.readers)}`);
    await page.waitForFunction(() => !!T1CSdk.Pinutil.getPubKey(), null, { timeout: 10_000 });
  });

  after(async () => {
    await h.stopAll();
    if (token) fs.rmSync(token.dir, { recursive: true, force: true });
  });

  test('the token info is the PKCS11TokenInfo shape', async () => {
    const res = await ok((t) => t.tokenData('pkcs11'));
    assert.equal(res.data.label, 'T1C Browser Token');
    assert.equal(res.data.model, 'SoftHSM v2');
    assert.equal(res.data.flags.isTokenInitialized, true);
    assert.ok(res.data.mechanisms.some((m) => m.mechanism === 'CKM_RSA_PKCS' && m.flags.isSign));
  });

  test('allCertsExtended lists the token\'s certificates with their CKA_ID', async () => {
    const res = await ok((t) => t.allCertsExtended('pkcs11', false));
    const auth = res.data.authenticationCertificate.certificates;
    assert.deepEqual(auth.map((c) => c.id), ['01', '03']);
    for (const [i, key] of token.keys.entries()) {
      assert.deepEqual(Buffer.from(auth[i].certificate, 'base64'), key.certificate);
    }
  });

  test('verifyPin accepts the PIN (encrypted to the device key) and rejects a wrong one', async () => {
    const res = await ok((t, pin) => t.verifyPin('pkcs11', { pin }), PIN);
    assert.equal(res.data.verified, true);
    const wrong = await call((t) => t.verifyPin('pkcs11', { pin: '000000' }));
    assert.equal(wrong.error?.code, '208001');
  });

  test('sign and authenticate with each key verify against its certificate', async () => {
    for (const key of token.keys) {
      const message = Buffer.from(`browser ${key.label}`);
      const digest = crypto.createHash('sha256').update(message).digest();
      for (const op of ['sign', 'authenticate']) {
        const res = await ok((t, arg) => {
          const body = { algorithm: 'SHA256', data: arg.data, pin: arg.pin, id: arg.id };
          return arg.op === 'sign' ? t.sign('pkcs11', body, false) : t.authenticate('pkcs11', body);
        }, { op, data: digest.toString('base64'), pin: PIN, id: key.id });
        const signature = Buffer.from(res.data.data, 'base64');
        const publicKey = new crypto.X509Certificate(key.certificate).publicKey;
        // RSA PKCS#1 v1.5 or DER ECDSA over SHA-256 of the message.
        assert.ok(crypto.verify('sha256', message, { key: publicKey, dsaEncoding: 'der' }, signature),
          `${op} with ${key.label} verifies`);
      }
    }
  });

  test('supported algorithms are the four digests', async () => {
    const res = await ok((t) => t.allAlgoRefs('pkcs11'));
    assert.deepEqual(res.data.ref, ['sha1', 'sha256', 'sha384', 'sha512']);
  });
});

