import { describe, expect, test } from '@jest/globals';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:https';
import { connect } from 'node:tls';
import fc from 'fast-check';
import { derPositiveInteger, selfSignedCertificate } from './selfsigned.ts';

describe('selfSignedCertificate', () => {
  test('is a valid X.509 certificate, self-signed, for the given names, with a matching key', () => {
    const now = new Date('2026-06-01T12:00:00Z');
    const { certPem, keyPem } = selfSignedCertificate('security-baseline-operator', ['localhost', 'operator.svc', '127.0.0.1'], 30, now);
    const cert = new X509Certificate(certPem);
    expect(cert.subject).toBe('CN=security-baseline-operator');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.subjectAltName).toBe('DNS:localhost, DNS:operator.svc, IP Address:127.0.0.1');
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(new Date(cert.validFrom).getTime()).toBeLessThan(now.getTime());
    expect(new Date(cert.validTo).getTime()).toBe(now.getTime() + 30 * 86_400_000 - (now.getTime() % 1000));
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  test('a TLS client that trusts it verifies it for its host name', async () => {
    const { certPem, keyPem } = selfSignedCertificate('test', ['localhost']);
    const server = createServer({ cert: certPem, key: keyPem }, (_req, res) => res.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certPem });
      await once(socket, 'secureConnect');
      expect(socket.authorized).toBe(true);
      socket.end();
    } finally {
      server.close();
    }
  });

  test('a serial that starts with zero bytes is encoded minimally, and the certificate loads (once in 256 starts it did not)', () => {
    for (const serial of ['00112233445566778899aabbccddeeff', '0000000000000000000000000000f0e1', '80112233445566778899aabbccddeeff']) {
      const { certPem, keyPem } = selfSignedCertificate('test', ['localhost'], 1, new Date(), Buffer.from(serial, 'hex'));
      expect(new X509Certificate(certPem).serialNumber).toBe(serial.replace(/^(00)+/, '').toUpperCase());
      // What the metrics server does with it: OpenSSL refused the padded form here.
      expect(() => createServer({ cert: certPem, key: keyPem }).close()).not.toThrow();
    }
  });
});

describe('derPositiveInteger', () => {
  test('is the minimal two\'s-complement form of any unsigned value', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 20 }), (bytes) => {
      const encoded = derPositiveInteger(Buffer.from(bytes));
      const content = encoded.subarray(2);
      expect(encoded[0]).toBe(0x02);
      expect(encoded[1]).toBe(content.length);
      // Minimal: a leading 0x00 only before a byte with its top bit set; never negative.
      if (content.length > 1 && content[0] === 0) expect(content[1]! & 0x80).toBe(0x80);
      expect(content[0]! & 0x80).toBe(0);
      expect(BigInt(`0x${content.toString('hex')}`)).toBe(BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`));
    }), { examples: [[Uint8Array.from([0, 1])], [Uint8Array.from([0, 0, 0x80])], [Uint8Array.from([0])]] });
  });
});
