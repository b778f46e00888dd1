// Kubernetes resource quantities ("500m", "1Gi", "1e3"), parsed and written back
// the way k8s.io/apimachinery's resource.Quantity does. The API server stores a
// quota or limit in that form (`1024Mi` comes back as `1Gi`, `0.5` as `500m`),
// so desired objects use it too and compare equal to what the server returns.
//
// A value is held exactly as an integer number of nano-units (10^-9), which is
// the finest precision Kubernetes keeps: finer input is rounded away from zero.

type Format = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

export interface Quantity {
  /** The value times 10^9, exact. */
  nanos: bigint;
  /** The string the API server stores and returns for this input. */
  text: string;
}

const DECIMAL_SUFFIXES = new Map<string, number>([
  ['n', -9], ['u', -6], ['m', -3], ['', 0], ['k', 3], ['M', 6], ['G', 9], ['T', 12], ['P', 15], ['E', 18],
]);
const BINARY_SUFFIXES = new Map<string, number>([
  ['Ki', 10], ['Mi', 20], ['Gi', 30], ['Ti', 40], ['Pi', 50], ['Ei', 60],
]);
const DECIMAL_SUFFIX_BY_EXPONENT = new Map([...DECIMAL_SUFFIXES].map(([suffix, exponent]) => [exponent, suffix]));
const BINARY_SUFFIX_BY_POWER = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

const NANO = 10n ** 9n;
/** Binary quantities are capped at 2^63-1, as apimachinery does. */
const MAX_BINARY_NANOS = (2n ** 63n - 1n) * NANO;
/** Decimal exponents beyond this are refused rather than expanded into huge integers. */
const MAX_EXPONENT = 1000;

export class QuantityError extends Error {
  constructor(text: string, reason: string) {
    super(`"${text}" is not a quantity: ${reason}`);
    this.name = 'QuantityError';
  }
}

interface Scanned {
  positive: boolean;
  /** Integer digits, leading zeros removed ("0" when none are left). */
  num: string;
  /** Fraction digits as written. */
  denom: string;
  /** Whether any digit was written at all (".", "+" and "Ki" parse as zero in Kubernetes, but only on its fast path). */
  hasDigits: boolean;
  suffix: string;
}

const SUFFIX_CHARS = 'eEinumkKMGTP';
const isDigit = (char: string | undefined): boolean => char !== undefined && char >= '0' && char <= '9';

/** The scanner of apimachinery's parseQuantityString: sign, digits, fraction, suffix. */
function scan(text: string): Scanned {
  let pos = 0;
  let positive = true;
  if (text[0] === '-' || text[0] === '+') {
    positive = text[0] === '+';
    pos++;
  }
  const digitsStart = pos;
  while (text[pos] === '0') pos++;
  const numStart = pos;
  while (isDigit(text[pos])) pos++;
  const num = text.slice(numStart, pos) || '0';
  let denom = '';
  if (text[pos] === '.') {
    pos++;
    const denomStart = pos;
    while (isDigit(text[pos])) pos++;
    denom = text.slice(denomStart, pos);
  }
  const hasDigits = /[0-9]/.test(text.slice(digitsStart, pos));
  const suffixStart = pos;
  while (pos < text.length && SUFFIX_CHARS.includes(text[pos] as string)) pos++;
  if (text[pos] === '-' || text[pos] === '+') pos++;
  while (isDigit(text[pos])) pos++;
  if (pos !== text.length) throw new QuantityError(text, 'expected a number followed by a suffix such as m, Mi, G or e3');
  return { positive, num, denom, hasDigits, suffix: text.slice(suffixStart) };
}

function interpretSuffix(text: string, suffix: string): { base: 10 | 2; exponent: number; format: Format } {
  const decimal = DECIMAL_SUFFIXES.get(suffix);
  if (decimal !== undefined) return { base: 10, exponent: decimal, format: 'DecimalSI' };
  const binary = BINARY_SUFFIXES.get(suffix);
  if (binary !== undefined) return { base: 2, exponent: binary, format: 'BinarySI' };
  if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E') && /^[-+]?[0-9]+$/.test(suffix.slice(1))) {
    const exponent = Number.parseInt(suffix.slice(1), 10);
    if (Math.abs(exponent) > MAX_EXPONENT) throw new QuantityError(text, 'exponent out of range');
    return { base: 10, exponent, format: 'DecimalExponent' };
  }
  throw new QuantityError(text, `unknown suffix "${suffix}"`);
}

/** Divides `value` by `factor` as often as it divides evenly. */
function removeFactors(value: bigint, factor: bigint): { rest: bigint; times: number } {
  let rest = value;
  let times = 0;
  while (rest !== 0n && rest % factor === 0n) {
    rest /= factor;
    times++;
  }
  return { rest, times };
}

/** apimachinery's CanonicalizeBytes: largest suffix that keeps the number an integer. */
function canonicalText(nanos: bigint, format: Format): string {
  if (nanos === 0n) return '0';
  const magnitude = nanos < 0n ? -nanos : nanos;
  if (format === 'BinarySI' && magnitude >= 1024n * NANO && magnitude % NANO === 0n) {
    const { rest, times } = removeFactors(nanos / NANO, 1024n);
    return `${rest}${BINARY_SUFFIX_BY_POWER[times] ?? ''}`;
  }
  // Below 1Ki or with a fraction, a binary quantity is written as a decimal one.
  const decimalFormat = format === 'BinarySI' ? 'DecimalSI' : format;
  let { rest: mantissa, times: exponent } = removeFactors(nanos, 10n);
  exponent -= 9;
  while (exponent % 3 !== 0) {
    mantissa *= 10n;
    exponent--;
  }
  const siSuffix = decimalFormat === 'DecimalSI' ? DECIMAL_SUFFIX_BY_EXPONENT.get(exponent) : undefined;
  if (siSuffix !== undefined) return `${mantissa}${siSuffix}`;
  return exponent === 0 ? `${mantissa}` : `${mantissa}e${exponent}`;
}

function ceilDiv(numerator: bigint, denominator: bigint): bigint {
  return (numerator + denominator - 1n) / denominator;
}

/**
 * Parses a quantity as the API server does. Throws QuantityError for text the
 * API server refuses.
 */
export function parseQuantity(text: string): Quantity {
  if (text.length === 0) throw new QuantityError(text, 'empty');
  if (text === '0') return { nanos: 0n, text };
  const { positive, num, denom, hasDigits, suffix } = scan(text);
  const { base, exponent, format } = interpretSuffix(text, suffix);

  // The exact magnitude is digits / 10^denom.length * base^exponent; in nanos, rounded up.
  const digits = BigInt(num + denom);
  let numerator = digits * NANO;
  let denominator = 10n ** BigInt(denom.length);
  const scale = BigInt(base) ** BigInt(Math.abs(exponent));
  if (exponent >= 0) numerator *= scale;
  else denominator *= scale;
  let magnitude = ceilDiv(numerator, denominator);
  if (format === 'BinarySI' && magnitude > MAX_BINARY_NANOS) magnitude = MAX_BINARY_NANOS;
  const nanos = positive ? magnitude : -magnitude;

  // apimachinery parses short inputs on an int64 fast path and keeps the text as
  // written when it already looks canonical ("+1", "01", "1.500", "1E3" stay as
  // they are). Longer inputs go through a decimal path that always canonicalises.
  const fastPath = fastPathKeepsText(num, denom, exponent, format);
  if (fastPath === 'keep') return { nanos, text };
  if (fastPath === 'slow' && !hasDigits) throw new QuantityError(text, 'no digits');
  return { nanos, text: canonicalText(nanos, format) };
}

/**
 * Replays ParseQuantity's int64 fast path: 'slow' when the input does not take
 * it, otherwise whether the original text is kept ('keep') or canonicalised.
 */
function fastPathKeepsText(num: string, denom: string, exponent: number, format: Format): 'keep' | 'canonicalise' | 'slow' {
  const shifted = num + denom;
  if (format === 'BinarySI') {
    if (denom.length > 0) return 'slow';
    const precision = 15 - num.length - Math.trunc((exponent * 3) / 10) - 1;
    if (precision < 0) return 'slow';
    // Kept when the number is not divisible by 8 (so not by 1024 either).
    return (BigInt(shifted) & 7n) !== 0n ? 'keep' : 'canonicalise';
  }
  if (18 - shifted.length < 0) return 'slow';
  const scale = exponent - denom.length;
  if (scale < -9) return 'slow';
  const keep = scale % 3 === 0 && !shifted.endsWith('000') && shifted[0] !== '0';
  return keep ? 'keep' : 'canonicalise';
}

/** The form the API server stores `text` in. */
export function canonicalQuantity(text: string): string {
  return parseQuantity(text).text;
}

/** Negative, zero or positive as `a` is less than, equal to or greater than `b`. */
export function compareQuantities(a: Quantity, b: Quantity): number {
  return a.nanos < b.nanos ? -1 : a.nanos > b.nanos ? 1 : 0;
}
