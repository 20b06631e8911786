// The published t1c-sdk-js 3.6.1's file exchange client (`client.fileex()`) against the
// `fileexchange` module: folders mapped with `t1c files map` for the page's origin, a file
// downloaded from the page into one, listed, described, uploaded back byte-identical, copied,
// moved, renamed, and the type deleted.

'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');

const h = require('./harness');

const ENTITY = 'acme';
const SIZE = 300_000;

describe('file exchange through t1c-sdk-js 3.6.1', () => {
  let connector;
  let browser;
  let page;
  let folders;

  /** In the page: `await build(window.__fx, arg)`; `{ok}` or `{error}`. */
  function call(build, arg) {
    return page.evaluate(async ({ build, arg }) => {
      // eslint-disable-next-line no-new-func
      const run = new Function('fx', 'arg', `return (${build})(fx, arg);`);
      try {
        return { ok: await run(window.__fx, arg) };
      } catch (e) {
        return { error: e?.code !== undefined ? { code: e.code, description: e.description } : { message: String(e?.message ?? e) } };
      }
    }, { build: build.toString(), arg });
  }

  async function ok(build, arg) {
    const result = await call(build, arg);
    assert.ok('ok' in result, JSON.stringify(result.error));
    return result.ok;
  }

  before(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 't1c-browser-files-'));
    folders = { root: dir, invoices: path.join(dir, 'invoices'), archive: path.join(dir, 'archive') };
    fs.mkdirSync(folders.invoices);
    fs.mkdirSync(folders.archive);
    const pages = await h.startPageServer();
    connector = await h.startConnector({ allowedOrigins: [pages.origin], simulate: false });
    for (const type of ['invoices', 'archive']) {
      const mapped = connector.cli('files', 'map', '--application', pages.origin, ENTITY, type, folders[type]);
      assert.equal(mapped.status, 0, `t1c files map: ${mapped.stderr}`);
    }
    browser = await h.startBrowser(connector.home);
    page = await h.openPage(browser, pages.origin + '/');
    await page.evaluate(async ({ port }) => {
      const options = new T1CSdk.T1CConfigOptions('https://localhost', String(port));
      const client = await T1CSdk.T1CClient.initialize(new T1CSdk.T1CConfig(options));
      window.__fx = client.fileex();
    }, { port: connector.port });
  });

  after(async () => {
    await h.stopAll();
    if (folders) fs.rmSync(folders.root, { recursive: true, force: true });
  });

  test('the mapped types are listed for the page, MAPPED', async () => {
    const res = await ok((fx, entity) => fx.listTypes(entity), ENTITY);
    assert.equal(res.data.total, 2, JSON.stringify(res));
    const names = res.data.types.map((t) => t.type).sort();
    assert.deepEqual(names, ['archive', 'invoices']);
    for (const type of res.data.types) {
      assert.equal(type.status, 'MAPPED');
      assert.equal(type.entity, ENTITY);
    }
    assert.equal((await ok((fx, e) => fx.existsType(e, 'invoices'), ENTITY)).data, true);
  });

  test('a file goes from the page to the disk and back byte-identical', async () => {
    const sent = await ok(async (fx, { entity, size }) => {
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i += 1) bytes[i] = (i * 7 + 3) % 251;
      const digest = await crypto.subtle.digest('SHA-256', bytes);
      const answer = await fx.download(entity, 'invoices', new Blob([bytes]), 'report.pdf', ['2026', '11'], false, false);
      return { answer, sha256: Array.from(new Uint8Array(digest)).map((b) => b.toString(16).padStart(2, '0')).join('') };
    }, { entity: ENTITY, size: SIZE });
    assert.equal(sent.answer.success, true, JSON.stringify(sent.answer));
    const onDisk = fs.readFileSync(path.join(folders.invoices, '2026', '11', 'report.pdf'));
    assert.equal(onDisk.length, SIZE);
    assert.equal(crypto.createHash('sha256').update(onDisk).digest('hex'), sent.sha256);

    const listed = await ok((fx, e) => fx.listTypeContent(e, 'invoices', ['2026', '11']), ENTITY);
    assert.equal(listed.data.total, 1, JSON.stringify(listed));
    assert.equal(listed.data.files[0].name, 'report.pdf');
    const info = await ok((fx, e) => fx.getFileInfo(e, 'invoices', 'report.pdf', ['2026', '11']), ENTITY);
    assert.equal(info.data.size, SIZE);
    assert.equal(info.data.isDir, false);
    assert.equal(info.data.extension, 'pdf');

    const back = await ok(async (fx, e) => {
      const blob = await fx.upload(e, 'invoices', 'report.pdf', ['2026', '11'], false);
      const buffer = await blob.arrayBuffer();
      const digest = await crypto.subtle.digest('SHA-256', buffer);
      return { size: buffer.byteLength, sha256: Array.from(new Uint8Array(digest)).map((b) => b.toString(16).padStart(2, '0')).join('') };
    }, ENTITY);
    assert.equal(back.size, SIZE);
    assert.equal(back.sha256, sent.sha256);
  });

  test('copy, move and rename work within and across types', async () => {
    const copied = await ok((fx, e) => fx.copyFile(e, 'invoices', 'archive', 'report.pdf', 'copy.pdf', ['2026', '11'], []), ENTITY);
    assert.equal(copied.data.name, 'copy.pdf', JSON.stringify(copied));
    assert.ok(fs.existsSync(path.join(folders.archive, 'copy.pdf')));
    const renamed = await ok((fx, e) => fx.renameFile(e, 'archive', 'copy.pdf', 'renamed.pdf', []), ENTITY);
    assert.equal(renamed.data.name, 'renamed.pdf');
    const moved = await ok((fx, e) => fx.moveFile(e, 'archive', 'invoices', 'renamed.pdf', [], ['2026']), ENTITY);
    assert.equal(moved.data.name, 'renamed.pdf');
    assert.ok(fs.existsSync(path.join(folders.invoices, '2026', 'renamed.pdf')));
    assert.ok(!fs.existsSync(path.join(folders.archive, 'renamed.pdf')));
  });

  test('a path out of the folder is refused with a T1C error', async () => {
    const refused = await call((fx, e) => fx.createDir(e, 'invoices', ['..', 'escaped'], true), ENTITY);
    assert.ok(refused.error, JSON.stringify(refused));
    assert.ok(!fs.existsSync(path.join(folders.root, 'escaped')));
  });

  test('deleting a type forgets it and keeps its folder', async () => {
    const deleted = await ok((fx, e) => fx.deleteType(e, 'archive'), ENTITY);
    assert.equal(deleted.data, true);
    assert.equal((await ok((fx, e) => fx.existsType(e, 'archive'), ENTITY)).data, false);
    assert.ok(fs.existsSync(folders.archive));
  });
});
