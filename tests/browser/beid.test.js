// The published t1c-sdk-js 3.6.1, end to end, on the Belgian eID module: a page from an
// allowlisted origin initializes the client, lists readers and calls every beid operation on
// the simulated applet 1.7 card of `Persona::default_citizen()`; the results are checked
// against that persona, the certificates are parsed and the signatures verified in Node.

'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { after, before, describe, test } = require('node:test');

const h = require('./harness');

// Persona::default_citizen() (sdk/src/simulator/belpic/persona.rs), as the card writes it
// (sdk/src/simulator/belpic/identity.rs, crypto/pki.rs).
const PERSONA = {
  surname: 'Testkaart', // surname
  firstNames: 'Lotte Anna', // first_names
  thirdInitial: 'M', // third_initial
  nationality: 'Belg', // nationality
  birthPlace: 'Hasselt', // birth_place
  birthDate: '15 MAAR 1985', // birth_date 1985-03-15, Language::Dutch (identity.rs birth_date)
  birthDateIso: '1985-03-15',
  sex: 'V', // Sex::Female on a Dutch card (identity.rs sex_letter)
  nobility: '', // nobility
  // national_number(1985-03-15, 2): 850315002 and 97 - 850315002 % 97 = 93.
  nationalNumber: '85031500293',
  // card_number(5_920_000_012): 5920000012 and 5920000012 % 97 = 93.
  cardNumber: '592000001293',
  validityBegin: '15.01.2024', // validity_begin 2024-01-15, Date::dotted
  validityEnd: '15.01.2034', // validity_end 2034-01-15
  issuingMunicipality: 'Hasselt', // issuing_municipality
  documentType: '1', // DocumentType::BELGIAN_CITIZEN
  specialStatus: '0', // SpecialStatus::None
  street: 'Simulatiestraat 12 bus 3', // address.street_and_number
  zip: '3500', // address.zip
  municipality: 'Hasselt', // address.municipality
  pin: '1234', // pin
  // Persona::common_name() and given_names(), used in the certificates (pki.rs `holder`).
  commonName: 'Lotte Testkaart',
  givenNames: 'Lotte Anna M',
};
const WRONG_PIN = '9999';
/// Persona::chip_number(): `SLIN` and the first 12 bytes of SHA-256 of the card number.
const CHIP_NUMBER = Buffer.concat([
  Buffer.from('SLIN'),
  crypto.createHash('sha256').update(PERSONA.cardNumber).digest().subarray(0, 12),
]).toString('base64');

const BEID_ROUTE = /\/v3\/modules\/beid\/apps\/token\/readers\/([^/?]+)\/([a-z-]+)/;

function x509(b64) {
  return new crypto.X509Certificate(Buffer.from(b64, 'base64'));
}

function assertBiometric(bio) {
  assert.equal(bio.name, PERSONA.surname);
  assert.equal(bio.firstNames, PERSONA.firstNames);
  assert.equal(bio.thirdName, PERSONA.thirdInitial);
  assert.equal(bio.nationality, PERSONA.nationality);
  assert.equal(bio.birthLocation, PERSONA.birthPlace);
  assert.equal(bio.birthDate, PERSONA.birthDate);
  assert.equal(bio.birthDateIso, PERSONA.birthDateIso);
  assert.equal(bio.sex, PERSONA.sex);
  assert.equal(bio.nobleCondition, PERSONA.nobility);
  assert.equal(bio.nationalNumber, PERSONA.nationalNumber);
  assert.equal(bio.cardNumber, PERSONA.cardNumber);
  assert.equal(bio.chipNumber, CHIP_NUMBER);
  assert.equal(bio.cardValidityDateBegin, PERSONA.validityBegin);
  assert.equal(bio.cardValidityDateBeginIso, '2024-01-15');
  assert.equal(bio.cardValidityDateEnd, PERSONA.validityEnd);
  assert.equal(bio.cardValidityDateEndIso, '2034-01-15');
  assert.equal(bio.cardDeliveryMunicipality, PERSONA.issuingMunicipality);
  assert.equal(bio.documentType, PERSONA.documentType);
  assert.equal(bio.specialStatus, PERSONA.specialStatus);
  assert.equal(typeof bio.version, 'number');
  assert.equal(bio.integrity.identity, 'valid');
  // rawData is EF(ID#RN): its TLVs carry the same values.
  const raw = Buffer.from(bio.rawData, 'base64');
  assert.ok(raw.includes(Buffer.from(PERSONA.nationalNumber)), 'rawData holds the national number');
  assert.equal(Buffer.from(bio.pictureHash, 'base64').length, 32, 'SHA-256 photo hash on applet 1.7');
  assert.ok(Buffer.from(bio.signature, 'base64').length > 0);
}

function assertAddress(address) {
  assert.equal(address.streetAndNumber, PERSONA.street);
  assert.equal(address.zipcode, PERSONA.zip);
  assert.equal(address.municipality, PERSONA.municipality);
  assert.equal(typeof address.version, 'number');
  assert.equal(address.integrity.address, 'valid');
  assert.ok(Buffer.from(address.rawData, 'base64').includes(Buffer.from(PERSONA.street)));
}

/** The photo's SHA-256 equals the identity file's pictureHash; it is a 140 x 200 JPEG. */
function assertPicture(picture, pictureHash) {
  const jpeg = Buffer.from(picture.picture, 'base64');
  assert.deepEqual([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff], 'JPEG start of image');
  assert.equal(picture.width, 140);
  assert.equal(picture.height, 200);
  assert.equal(picture.integrity.photo, 'valid');
  if (pictureHash) {
    assert.equal(crypto.createHash('sha256').update(jpeg).digest('base64'), pictureHash);
  }
}

function assertHolderCertificate(cert, usage) {
  assert.match(cert.subject, new RegExp(`^CN=${PERSONA.commonName} \\(${usage}\\)$`, 'm'));
  assert.match(cert.subject, new RegExp(`^serialNumber=${PERSONA.nationalNumber}$`, 'm'));
  assert.match(cert.subject, new RegExp(`^SN=${PERSONA.surname}$`, 'm'));
  assert.match(cert.subject, new RegExp(`^GN=${PERSONA.givenNames}$`, 'm'));
  assert.match(cert.subject, /^C=BE$/m);
  assert.equal(cert.publicKey.asymmetricKeyType, 'rsa');
  assert.equal(cert.publicKey.asymmetricKeyDetails.modulusLength, 2048);
}

describe('beid through t1c-sdk-js 3.6.1', () => {
  let connector;
  let pages;
  let browser;
  let page;
  let readerId;
  /** The beid requests the page sent, in order: `{reader, op, method}`. */
  const requests = [];
  /** The beid POST bodies the page sent, in order: `{op, body}`. */
  const posted = [];
  let biometric;
  let certs;
  /** The connector's device key, which the SDK encrypts PINs to. */
  let deviceKey;

  /** In the page: `await __beid.<method>(...)`, built by `build`; `{ok}` or `{error}`. */
  function call(build, arg) {
    return page.evaluate(async ({ build, arg }) => {
      // eslint-disable-next-line no-new-func
      const run = new Function('beid', 'T1CSdk', 'arg', `return (${build})(beid, T1CSdk, arg);`);
      try {
        return { ok: await run(window.__beid, T1CSdk, arg) };
      } catch (e) {
        return {
          error: e?.code !== undefined
            ? { code: e.code, description: e.description }
            : { message: String(e?.message ?? e) },
        };
      }
    }, { build: build.toString(), arg });
  }

  async function ok(build, arg) {
    const result = await call(build, arg);
    assert.equal(result.error, undefined, JSON.stringify(result.error));
    assert.equal(result.ok.success, true, JSON.stringify(result.ok));
    return result.ok;
  }

  before(async () => {
    pages = await h.startPageServer();
    connector = await h.startConnector({ allowedOrigins: [pages.origin] });
    browser = await h.startBrowser(connector.home);
    page = await h.openPage(browser, pages.origin + '/');
    page.on('request', (request) => {
      const match = BEID_ROUTE.exec(request.url());
      if (match) requests.push({ reader: match[1], op: match[2], method: request.method() });
      if (match && request.method() === 'POST') posted.push({ op: match[2], body: request.postDataJSON() });
    });
    const init = await page.evaluate(async ({ port }) => {
      const options = new T1CSdk.T1CConfigOptions('https://localhost', String(port));
      const client = await T1CSdk.T1CClient.initialize(new T1CSdk.T1CConfig(options));
      const readers = await client.core().readers();
      const reader = readers.data.find((r) => r.card?.modules?.includes('beid'));
      window.__beid = reader && client.beid(reader.id);
      return { readers, readerId: reader?.id };
    }, { port: connector.port });
    assert.ok(init.readerId, `a reader with a beid card: ${JSON.stringify(init.readers)}`);
    readerId = init.readerId;
    // 3.6.1's initialize resolves before its own GET /device-key has answered (it fires
    // `getDevicePublicKey()` without awaiting it); until the key is in `Pinutil`, PINs would go
    // out in plain text (agent >= 3.5.0). An application has to wait for it as well.
    await page.waitForFunction(() => !!T1CSdk.Pinutil.getPubKey(), null, { timeout: 10_000 });
    const served = await h.get(`${connector.url}/device-key`, { ca: fs.readFileSync(connector.ca) });
    const pem = JSON.parse(served.body).data;
    assert.equal(await page.evaluate(() => T1CSdk.Pinutil.getPubKey()), pem,
      'the SDK encrypts PINs to the connector\'s device key');
    deviceKey = crypto.createPublicKey(pem);
  });

  after(() => h.stopAll());

  test('the page is on another origin than the connector', () => {
    assert.notEqual(new URL(pages.origin).origin, new URL(connector.url).origin);
  });

  test('biometric returns the persona\'s identity', async () => {
    const res = await ok((beid) => beid.biometric());

    biometric = res.data;
    assertBiometric(biometric);
  });

  test('address returns the persona\'s address', async () => {
    const res = await ok((beid) => beid.address());

    assertAddress(res.data);
  });

  test('picture returns the photo whose hash the identity file holds', async () => {
    const res = await ok((beid) => beid.picture());

    assertPicture(res.data, biometric?.pictureHash);
  });

  test('allData without a filter returns biometric, address and picture', async () => {
    const [response, res] = await Promise.all([
      page.waitForResponse((r) => BEID_ROUTE.test(r.url()) && r.url().includes('/all-data')),
      ok((beid) => beid.allData([])),
    ]);

    assert.equal(new URL(response.url()).search, '', 'no filter query');
    assert.deepEqual(Object.keys(res.data).sort(), ['address', 'biometric', 'picture']);
    assertBiometric(res.data.biometric);
    assertAddress(res.data.address);
    assertPicture(res.data.picture, res.data.biometric.pictureHash);
    assert.deepEqual(res.data.biometric.integrity, { identity: 'valid', address: 'valid', photo: 'valid' });
  });

  test('allData with a filter array returns only those objects', async () => {
    const res = await ok((beid) => beid.allData(['biometric', 'address']));

    assert.deepEqual(Object.keys(res.data).sort(), ['address', 'biometric']);
    assertBiometric(res.data.biometric);
    assertAddress(res.data.address);
  });

  test('allData with {filters} options returns only those objects', async () => {
    const res = await ok((beid) => beid.allData({ filters: ['picture'] }));

    assert.deepEqual(Object.keys(res.data), ['picture']);
    assertPicture(res.data.picture, biometric?.pictureHash);
  });

  test('allCerts returns five certificates that chain to the root', async () => {
    const res = await ok((beid) => beid.allCerts(false));

    const d = res.data;
    const expected = {
      authenticationCertificate: ['authentication', '5038'],
      nonRepudiationCertificate: ['nonRepudiation', '5039'],
      intermediateCertificates: ['intermediate', '503A'],
      rootCertificate: ['root', '503B'],
      encryptionCertificate: ['encryption', '503C'],
    };
    for (const [key, [type, id]] of Object.entries(expected)) {
      assert.equal(d[key]?.certificateType, type, key);
      assert.equal(d[key].id, id, key);
    }
    certs = {
      authentication: x509(d.authenticationCertificate.certificate),
      nonRepudiation: x509(d.nonRepudiationCertificate.certificate),
      intermediate: x509(d.intermediateCertificates.certificate),
      root: x509(d.rootCertificate.certificate),
      rrn: x509(d.encryptionCertificate.certificate),
    };
    assertHolderCertificate(certs.authentication, 'Authentication');
    assertHolderCertificate(certs.nonRepudiation, 'Signature');
    assert.match(certs.root.subject, /^CN=T1C Test Root CA$/m);
    assert.match(certs.intermediate.subject, /^CN=T1C Test Citizen CA$/m);
    assert.match(certs.rrn.subject, /^CN=T1C Test RRN$/m);
    assert.ok(certs.root.verify(certs.root.publicKey), 'root is self-signed');
    assert.ok(certs.intermediate.verify(certs.root.publicKey), 'citizen CA issued by root');
    assert.ok(certs.authentication.verify(certs.intermediate.publicKey), 'authentication cert issued by the CA');
    assert.ok(certs.nonRepudiation.verify(certs.intermediate.publicKey), 'signing cert issued by the CA');
    assert.ok(certs.rrn.verify(certs.root.publicKey), 'RRN cert issued by root');
    // The identity file's signature is the RRN's (README "Integrity").
    assert.ok(crypto.verify('sha256', Buffer.from(biometric.rawData, 'base64'), certs.rrn.publicKey,
      Buffer.from(biometric.signature, 'base64')), 'EF(SGN#ID) verifies with the RRN certificate');
  });

  test('allCerts with a filter returns only those certificates', async () => {
    const [response, res] = await Promise.all([
      page.waitForResponse((r) => BEID_ROUTE.test(r.url()) && r.url().includes('/cert-list?')),
      ok((beid) => beid.allCerts(false, ['rootCertificate', 'authenticationCertificate'])),
    ]);

    assert.equal(new URL(response.url()).searchParams.get('filter'), 'rootCertificate,authenticationCertificate');
    const raw = await response.json();
    assert.deepEqual(Object.keys(raw.data).sort(), ['authenticationCertificate', 'rootCertificate']);
    // The SDK's TokenAllCerts names every kind; the ones filtered out stay undefined.
    const present = Object.keys(res.data).filter((key) => res.data[key] !== undefined);
    assert.deepEqual(present.sort(), ['authenticationCertificate', 'rootCertificate']);
    assert.equal(x509(res.data.rootCertificate.certificate).fingerprint256, certs.root.fingerprint256);
  });

  test('verifyPin with the right PIN is verified; the PIN travels RSA-encrypted', async () => {
    const before = posted.length;

    const res = await ok((beid, T1CSdk, pin) => beid.verifyPin(new T1CSdk.TokenVerifyPinData(pin)), PERSONA.pin);

    assert.deepEqual(res.data, { verified: true });
    const sent = posted.slice(before);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].op, 'verify-pin');
    assert.equal(sent[0].body.base64Encoded, true);
    assert.notEqual(sent[0].body.pin, PERSONA.pin);
    // JSEncrypt: RSA PKCS#1 v1.5 under the device key, base64, one modulus long (JSEncrypt
    // drops leading zero bytes, so allow a little less).
    const modulusBytes = deviceKey.asymmetricKeyDetails.modulusLength / 8;
    const cipher = Buffer.from(sent[0].body.pin, 'base64');
    assert.ok(cipher.length <= modulusBytes && cipher.length >= modulusBytes - 2, `${cipher.length} of ${modulusBytes}`);
  });

  test('a wrong PIN fails with the tries left; the right PIN then verifies again', async () => {
    // Exactly one wrong try: three in a row block the card for the connector's lifetime.
    const wrong = await call((beid, T1CSdk, pin) => beid.verifyPin(new T1CSdk.TokenVerifyPinData(pin)), WRONG_PIN);

    assert.equal(wrong.ok, undefined, JSON.stringify(wrong.ok));
    // 208001 (PinWrong, host/src/api/error.rs); the tries left are only in the description.
    assert.deepEqual(wrong.error, { code: '208001', description: 'wrong PIN, 2 tries left' });

    const right = await ok((beid, T1CSdk, pin) => beid.verifyPin(new T1CSdk.TokenVerifyPinData(pin)), PERSONA.pin);

    assert.deepEqual(right.data, { verified: true });
  });

  test('sign (sha256) returns a signature that verifies with the non-repudiation certificate', async () => {
    const message = Buffer.from(`T1C browser test sign ${Date.now()}`);
    const digest = crypto.createHash('sha256').update(message).digest('base64');

    const res = await ok((beid, T1CSdk, { pin, digest }) =>
      beid.sign(new T1CSdk.TokenAuthenticateOrSignData('sha256', digest, pin)), { pin: PERSONA.pin, digest });

    const signature = Buffer.from(res.data.data, 'base64');
    assert.equal(signature.length, 256);
    assert.ok(crypto.verify('sha256', message, certs.nonRepudiation.publicKey, signature),
      'PKCS#1 v1.5 SHA-256 signature by the non-repudiation key');
    assert.ok(!crypto.verify('sha256', message, certs.authentication.publicKey, signature),
      'not by the authentication key');
    assert.equal(posted.at(-1).op, 'sign');
    assert.notEqual(posted.at(-1).body.pin, PERSONA.pin);
  });

  test('authenticate (sha256) returns a signature that verifies with the authentication certificate', async () => {
    const challenge = crypto.randomBytes(32);
    const digest = crypto.createHash('sha256').update(challenge).digest('base64');

    const res = await ok((beid, T1CSdk, { pin, digest }) =>
      beid.authenticate(new T1CSdk.TokenAuthenticateOrSignData('sha256', digest, pin)), { pin: PERSONA.pin, digest });

    const signature = Buffer.from(res.data.data, 'base64');
    assert.ok(crypto.verify('sha256', challenge, certs.authentication.publicKey, signature),
      'PKCS#1 v1.5 SHA-256 signature by the authentication key');
    assert.ok(!crypto.verify('sha256', challenge, certs.nonRepudiation.publicKey, signature),
      'not by the non-repudiation key');
    assert.equal(posted.at(-1).op, 'authenticate');
  });

  test('every call went to the listed reader, on the v3 routes', () => {
    const ops = new Set(requests.map((r) => `${r.method} ${r.op}`));
    for (const op of ['GET biometric', 'GET address', 'GET picture', 'GET all-data', 'GET cert-list',
      'POST verify-pin', 'POST sign', 'POST authenticate']) {
      assert.ok(ops.has(op), `${op} in ${[...ops]}`);
    }
    assert.deepEqual([...new Set(requests.map((r) => r.reader))], [readerId]);
  });
});
