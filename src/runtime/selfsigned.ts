// A self-signed TLS certificate made at start-up, for serving /metrics over
// HTTPS when no certificate is mounted — what controller-runtime's secure
// metrics server does. Node's crypto signs but cannot build certificates, so
// this encodes the few DER structures of an X.509 v3 certificate itself.
import { createSign, generateKeyPairSync, randomBytes } from 'node:crypto';

export interface KeyAndCertificate {
  readonly keyPem: string;
  readonly certPem: string;
}

// DER: tag, length, contents.
function der(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const length = body.length;
  let header: Buffer;
  if (length < 0x80) header = Buffer.from([tag, length]);
  else if (length < 0x100) header = Buffer.from([tag, 0x81, length]);
  else if (length < 0x10000) header = Buffer.from([tag, 0x82, length >> 8, length & 0xff]);
  else header = Buffer.from([tag, 0x83, length >> 16, (length >> 8) & 0xff, length & 0xff]);
  return Buffer.concat([header, body]);
}

const sequence = (...contents: Buffer[]) => der(0x30, ...contents);
const set = (...contents: Buffer[]) => der(0x31, ...contents);
const utf8 = (text: string) => der(0x0c, Buffer.from(text, 'utf8'));
const octetString = (bytes: Buffer) => der(0x04, bytes);
const bitString = (bytes: Buffer) => der(0x03, Buffer.from([0]), bytes);

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const part of parts.slice(2)) {
    const encoded = [part & 0x7f];
    for (let rest = part >> 7; rest > 0; rest >>= 7) encoded.unshift((rest & 0x7f) | 0x80);
    bytes.push(...encoded);
  }
  return der(0x06, Buffer.from(bytes));
}

/**
 * A DER INTEGER of the unsigned big-endian `bytes`, in its one valid form:
 * minimal (no leading zero byte unless the next has its top bit set, which
 * would otherwise make it negative). OpenSSL refuses any other form ("illegal
 * padding"), so a random serial starting with 0x00 must lose that byte.
 */
export function derPositiveInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const minimal = bytes.length === 0 ? Buffer.from([0]) : bytes.subarray(start);
  return der(0x02, (minimal[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), minimal]) : minimal);
}

function utcTime(date: Date): Buffer {
  const text = date.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z';
  return der(0x17, Buffer.from(text, 'ascii'));
}

function name(commonName: string): Buffer {
  return sequence(set(sequence(oid('2.5.4.3'), utf8(commonName))));
}

/** Subject alternative names: DNS names, and IPv4 addresses given in dotted form. */
function subjectAltName(hosts: readonly string[]): Buffer {
  const entries = hosts.map((host) => (/^\d+\.\d+\.\d+\.\d+$/.test(host)
    ? der(0x87, Buffer.from(host.split('.').map(Number)))
    : der(0x82, Buffer.from(host, 'ascii'))));
  return sequence(oid('2.5.29.17'), octetString(sequence(...entries)));
}

/** 16 random bytes, never all zero: RFC 5280 serials are positive. */
function randomSerial(): Buffer {
  const serial = randomBytes(16);
  serial.writeUInt8((serial.readUInt8(15) | 1), 15);
  return serial;
}

/**
 * An ECDSA P-256 key and a self-signed server certificate for `hosts`, valid
 * from an hour ago (clock skew) for `days` days.
 */
export function selfSignedCertificate(commonName: string, hosts: readonly string[], days = 365, now = new Date(), serial = randomSerial()): KeyAndCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecdsaWithSha256 = sequence(oid('1.2.840.10045.4.3.2'));
  const notBefore = new Date(now.getTime() - 3_600_000);
  const notAfter = new Date(now.getTime() + days * 86_400_000);
  const extensions = der(0xa3, sequence(
    subjectAltName(hosts),
    sequence(oid('2.5.29.37'), octetString(sequence(oid('1.3.6.1.5.5.7.3.1')))), // extended key usage: server auth
    sequence(oid('2.5.29.19'), der(0x01, Buffer.from([0xff])), octetString(sequence())), // basic constraints: critical, not a CA
  ));
  const tbs = sequence(
    der(0xa0, der(0x02, Buffer.from([2]))), // v3
    derPositiveInteger(serial),
    ecdsaWithSha256,
    name(commonName),
    sequence(utcTime(notBefore), utcTime(notAfter)),
    name(commonName),
    publicKey.export({ type: 'spki', format: 'der' }),
    extensions,
  );
  const signature = createSign('sha256').update(tbs).sign(privateKey);
  const certificate = sequence(tbs, ecdsaWithSha256, bitString(signature));
  const base64 = certificate.toString('base64').match(/.{1,64}/g)?.join('\n') ?? '';
  return {
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    certPem: `-----BEGIN CERTIFICATE-----\n${base64}\n-----END CERTIFICATE-----\n`,
  };
}
