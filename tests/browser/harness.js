// The browser-test harness: a real `t1c serve` with its own data, HOME and port; a small
// HTTP server for the test page; headless Debian Chromium that trusts the connector's CA
// through NSS (`t1c trust`), never through --ignore-certificate-errors.
//
// Everything started here is registered in `cleanups` and torn down by `stopAll()`, which the
// tests call from `after()` hooks; a process exit handler kills leftover children too, so a
// failing or interrupted run does not leave a connector or a browser behind.

'use strict';

const { spawn, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..', '..');
const SDK = require.resolve('t1c-sdk-js/dist/T1CSdk.js');
const CHROMIUM = process.env.T1C_CHROMIUM || '/usr/bin/chromium';
// No background traffic: this machine's network is closed, and a test talks to loopback only.
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync',
];
/// How long the connector may take to answer /info after it is started.
const START_DEADLINE_MS = 60_000;

const children = new Set();
const tempDirs = new Set();
const cleanups = [];

/** The last resort on exit or a signal: synchronous, so it also runs in an 'exit' handler. */
function killChildren() {
  for (const child of children) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
  for (const dir of tempDirs) {
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
  }
}
process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    killChildren();
    process.exit(128 + os.constants.signals[signal]);
  });
}

/** The connector binary: $T1C_BIN, else target/debug/t1c, built if missing. */
function connectorBinary() {
  if (process.env.T1C_BIN) return process.env.T1C_BIN;
  const binary = path.join(ROOT, 'target', 'debug', 't1c');
  if (!fs.existsSync(binary)) {
    const build = spawnSync('cargo', ['build', '-p', 't1c-host', '--bin', 't1c'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('cargo build of the t1c binary failed');
  }
  return binary;
}

/** A port free on 127.0.0.1 right now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function tempDir(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `t1c-browser-${name}-`));
  tempDirs.add(dir);
  cleanups.push(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  });
  return dir;
}

const toml = (value) => JSON.stringify(value); // TOML basic strings accept JSON escapes.

/**
 * An ES256 key pair for JWT tests: `publicPem` for the connector, `sign(claims)` for tokens
 * with header `{alg: ES256, kid}`.
 */
function jwtSigner(kid) {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const b64 = (data) => Buffer.from(data).toString('base64url');
  return {
    kid,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }),
    sign(claims) {
      const now = Math.floor(Date.now() / 1000);
      const header = b64(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid }));
      const payload = b64(JSON.stringify({ sub: 'browser-test', iat: now, exp: now + 600, ...claims }));
      const signature = crypto.sign('sha256', Buffer.from(`${header}.${payload}`), {
        key: privateKey,
        dsaEncoding: 'ieee-p1363',
      });
      return `${header}.${payload}.${b64(signature)}`;
    },
  };
}

/**
 * Starts `t1c serve` with a temporary data dir, HOME and config; waits for /info; trusts its
 * CA in `<HOME>/.pki/nssdb` with `t1c trust`. Options: `allowedOrigins`, `jwtKey` (from
 * `jwtSigner`), `simulate` (default true), `config` (more TOML lines, for instance a `[pkcs11]`
 * section), `env` (more environment, for instance `SOFTHSM2_CONF` for PKCS#11 workers).
 */
async function startConnector({ allowedOrigins = [], jwtKey, simulate = true, config = [], env: extraEnv = {} } = {}) {
  const dir = tempDir('connector');
  const home = path.join(dir, 'home');
  const data = path.join(dir, 'data');
  fs.mkdirSync(home);
  const port = await freePort();
  const modules = process.env.T1C_MODULES || path.join(ROOT, 'target', 'modules');
  const lines = [
    `data_dir = ${toml(data)}`,
    '',
    '[server]',
    `port = ${port}`,
    '',
    '[cors]',
    `allowed_origins = ${JSON.stringify(allowedOrigins)}`,
    '',
    '[modules]',
    `bundles = ${toml(modules)}`,
    '',
    '[readers]',
    `simulate = ${simulate}`,
  ];
  if (jwtKey) {
    const keyFile = path.join(dir, `${jwtKey.kid}.pem`);
    fs.writeFileSync(keyFile, jwtKey.publicPem);
    lines.push('', '[jwt]', 'enabled = true',
      `keys = [{ kid = ${toml(jwtKey.kid)}, algorithm = "ES256", public_key = ${toml(keyFile)} }]`);
  }
  lines.push('', ...config);
  const configFile = path.join(dir, 'config.toml');
  fs.writeFileSync(configFile, lines.join('\n') + '\n');

  const binary = connectorBinary();
  const env = { ...process.env, ...extraEnv, HOME: home, T1C_LOG: process.env.T1C_LOG || 'warn' };
  for (const key of Object.keys(env)) {
    if (key.startsWith('T1C_') && key !== 'T1C_LOG') delete env[key];
  }
  const log = [];
  const child = spawn(binary, ['--config', configFile, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.stdout.on('data', (chunk) => log.push(chunk.toString()));
  child.stderr.on('data', (chunk) => log.push(chunk.toString()));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  });

  const ca = path.join(data, 'tls', 'ca.pem');
  const url = `https://localhost:${port}`;
  const deadline = Date.now() + START_DEADLINE_MS;
  let last;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`t1c serve exited early (${child.exitCode ?? child.signalCode}):\n${log.join('')}`);
    }
    try {
      if (fs.existsSync(ca)) {
        const res = await get(`${url}/info`, { ca: fs.readFileSync(ca) });
        if (res.status === 200) break;
        last = `status ${res.status}`;
      }
    } catch (err) {
      last = err.message;
    }
    if (Date.now() > deadline) {
      throw new Error(`t1c serve did not answer ${url}/info within ${START_DEADLINE_MS} ms (${last}):\n${log.join('')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const nssdb = path.join(home, '.pki', 'nssdb');
  const trusted = spawnSync(binary, ['--config', configFile, 'trust', '--nssdb', nssdb], { env, encoding: 'utf8' });
  if (trusted.status !== 0) {
    throw new Error(`t1c trust failed (${trusted.status}): ${trusted.stderr}`);
  }
  /** Runs `t1c <args>` against this connector (its configuration and environment). */
  const cli = (...args) => spawnSync(binary, ['--config', configFile, ...args], { env, encoding: 'utf8' });
  return { url, port, home, data, nssdb, ca, log, cli, trustOutput: trusted.stdout };
}

/** The DS binary: $T1C_DS_BIN, else target/debug/t1c-ds, built if missing. */
function dsBinary() {
  if (process.env.T1C_DS_BIN) return process.env.T1C_DS_BIN;
  const binary = path.join(ROOT, 'target', 'debug', 't1c-ds');
  if (!fs.existsSync(binary)) {
    const build = spawnSync('cargo', ['build', '-p', 't1c-ds', '--bin', 't1c-ds'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('cargo build of the t1c-ds binary failed');
  }
  return binary;
}

/** A JSON request over HTTPS with Node; resolves `{status, body}`. */
function request(method, url, { ca, token, body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(url, {
      method,
      ca,
      timeout: 10_000,
      headers: {
        ...headers,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(payload ? { 'content-type': 'application/json' } : {}),
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => {
        let parsed = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/**
 * Starts `t1c-ds serve` (SQLite, its own local CA) on a free port; waits for /healthz; logs in
 * as the bootstrap administrator. Returns `{url, ca, call(method, path, body), token, password}`.
 */
async function startDs() {
  const dir = tempDir('ds');
  const port = await freePort();
  const env = { ...process.env, T1C_DS_LOG: process.env.T1C_DS_LOG || 'warn' };
  const log = [];
  const child = spawn(dsBinary(), ['serve', '--data-dir', dir, '--listen', `127.0.0.1:${port}`],
    { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.stdout.on('data', (chunk) => log.push(chunk.toString()));
  child.stderr.on('data', (chunk) => log.push(chunk.toString()));
  const exited = new Promise((resolve) => child.on('exit', () => {
    children.delete(child);
    resolve();
  }));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  });
  const url = `https://localhost:${port}`;
  const caFile = path.join(dir, 'tls', 'ca.pem');
  const bootstrap = path.join(dir, 'bootstrap-admin.txt');
  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`t1c-ds exited early:\n${log.join('')}`);
    try {
      if (fs.existsSync(bootstrap) && fs.existsSync(caFile)) {
        const res = await request('GET', `${url}/healthz`, { ca: fs.readFileSync(caFile) });
        if (res.status === 200) break;
      }
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`t1c-ds did not start:\n${log.join('')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const ca = fs.readFileSync(caFile);
  const password = /^password: (.*)$/m.exec(fs.readFileSync(bootstrap, 'utf8'))[1];
  const login = await request('POST', `${url}/v3_5/auth/token`, { ca, body: { username: 'admin', password } });
  const token = login.body.data.access_token;
  const call = (method, pathname, body) => request(method, `${url}${pathname}`, { ca, token, body });
  return { url, ca, caFile, token, call, log, password };
}

/** GET over HTTPS with Node; resolves `{status, headers, body}`. */
function get(url, { ca, headers } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, headers, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/**
 * Serves the test page (`/`) and the published SDK bundle (`/T1CSdk.js`) on 127.0.0.1. The same
 * server is reached as `http://localhost:<port>` (the allowlisted origin) and as
 * `http://127.0.0.1:<port>` (an origin the connector does not know).
 */
async function startPageServer() {
  const page = '<!doctype html><html><head><meta charset="utf-8"><title>T1C browser test</title>' +
    '<script src="/T1CSdk.js"></script></head><body>T1C browser test</body></html>';
  const sdk = fs.readFileSync(SDK);
  const server = http.createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page);
    } else if (req.url === '/T1CSdk.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(sdk);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  const port = await freePort();
  await new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  cleanups.push(() => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return {
    port,
    origin: `http://localhost:${port}`,
    unlistedOrigin: `http://127.0.0.1:${port}`,
  };
}

/** A fresh, empty HOME (no NSS database: a browser there trusts no local CA). */
function emptyHome() {
  return tempDir('home');
}

/**
 * Headless Chromium with a fresh user-data dir and `HOME` set to `home`, so it reads the NSS
 * database `t1c trust` wrote. Returns the persistent browser context.
 */
async function startBrowser(home) {
  const profile = tempDir('profile');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    env: { ...process.env, HOME: home },
    timeout: 60_000,
  });
  cleanups.push(() => context.close().catch(() => {}));
  return context;
}

/** Opens `url` in a new page of `context`; waits until the SDK bundle has loaded. */
async function openPage(context, url) {
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => typeof window.T1CSdk !== 'undefined', null, { timeout: 10_000 });
  return page;
}

/**
 * In `page`: `T1CClient.initialize` with `T1CConfigOptions(url, port, -, -, jwt)`, then
 * `client.core().readers()`. Resolves `{initialized, version, readers}` or the SDK's
 * `{code, description}` as `error` (initialize) or `readersError`.
 */
function sdkReaders(page, { url = 'https://localhost', port, jwt }) {
  return page.evaluate(async ({ url, port, jwt }) => {
    const describe = (e) => (e?.code !== undefined
      ? { code: e.code, description: e.description }
      : { message: String(e?.message ?? e) });
    let client;
    try {
      const options = new T1CSdk.T1CConfigOptions(url, String(port), undefined, undefined, jwt);
      client = await T1CSdk.T1CClient.initialize(new T1CSdk.T1CConfig(options));
    } catch (e) {
      return { initialized: false, error: describe(e) };
    }
    const result = { initialized: true, version: client.config().version };
    try {
      result.readers = await client.core().readers();
    } catch (e) {
      result.readersError = describe(e);
    }
    return result;
  }, { url, port, jwt });
}

/** In `page`: `fetch(url, init)`; resolves `{status, body}` or `{error}` when fetch rejects. */
function pageFetch(page, url, init) {
  return page.evaluate(async ({ url, init }) => {
    try {
      const res = await fetch(url, init);
      const text = await res.text();
      let body = text;
      try { body = JSON.parse(text); } catch { /* not JSON */ }
      return { status: res.status, body };
    } catch (e) {
      return { error: `${e.name}: ${e.message}` };
    }
  }, { url, init });
}

/**
 * Makes browsers started with `HOME=home` trust `caFile` (a DS's local CA), in
 * `<home>/.pki/nssdb` with NSS's certutil (Debian package libnss3-tools), as `t1c trust` does
 * for a connector's CA: never through --ignore-certificate-errors.
 */
function trustCa(home, caFile) {
  const nssdb = path.join(home, '.pki', 'nssdb');
  fs.mkdirSync(nssdb, { recursive: true });
  for (const args of [
    ['-N', '-d', `sql:${nssdb}`, '--empty-password'],
    ['-A', '-d', `sql:${nssdb}`, '-n', 't1c-ds-test-ca', '-t', 'C,,', '-i', caFile],
  ]) {
    const run = spawnSync('certutil', args, { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`certutil ${args[0]} failed (${run.status}): ${run.stderr}`);
  }
  return nssdb;
}

/** Stops everything started so far, newest first; never throws. */
async function stopAll() {
  while (cleanups.length) {
    const cleanup = cleanups.pop();
    try { await cleanup(); } catch (err) { console.error('cleanup failed:', err); }
  }
}

module.exports = {
  connectorBinary,
  emptyHome,
  request,
  startDs,
  tempDir,
  get,
  jwtSigner,
  openPage,
  pageFetch,
  sdkReaders,
  startBrowser,
  startConnector,
  startPageServer,
  stopAll,
  trustCa,
};
