// The CEL environment of a CRD's x-kubernetes-validations, offline: the CEL
// standard library (@marcbachmann/cel-js) plus the Kubernetes libraries the
// SecurityBaseline CRD uses, implemented here with the same meaning as the API
// server's: isQuantity/quantity().compareTo/isLessThan/isInteger (k8s.io/apimachinery resource
// quantities, with the operator's own parser) and isCIDR/cidr().containsCIDR
// (Go's netip prefixes). A rule calling anything else fails to evaluate and is
// reported as not checked offline, never as passed.
import { Environment } from '@marcbachmann/cel-js';
import { isIP } from 'node:net';
import { compareQuantities, parseQuantity, type Quantity } from '../resources/quantity.ts';

const NANOS_PER_UNIT = 1_000_000_000n;

class KubernetesQuantity {
  readonly value: Quantity;
  constructor(value: Quantity) {
    this.value = value;
  }
}

/** An address prefix as Go's netip.ParsePrefix reads it: `addr/bits`, IPv4 in dotted decimal without leading zeros. */
class Cidr {
  readonly bits: number;
  readonly width: number;
  readonly address: bigint;
  constructor(address: bigint, width: number, bits: number) {
    this.address = address;
    this.width = width;
    this.bits = bits;
  }

  contains(other: Cidr): boolean {
    if (other.width !== this.width || other.bits < this.bits) return false;
    const shift = BigInt(this.width - this.bits);
    return (other.address >> shift) === (this.address >> shift);
  }
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const host = text.slice(0, slash);
  const bitsText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  const family = isIP(host);
  if (family === 4) {
    const parts = host.split('.');
    if (parts.some((part) => !/^(0|[1-9][0-9]{0,2})$/.test(part))) return undefined;
    if (bits > 32) return undefined;
    return new Cidr(parts.reduce((sum, part) => (sum << 8n) + BigInt(part), 0n), 32, bits);
  }
  if (family === 6 && !host.includes('%') && bits <= 128) return new Cidr(ipv6Value(host), 128, bits);
  return undefined;
}

function ipv6Value(host: string): bigint {
  let text = host;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((sum, group) => (sum << 16n) + BigInt(parseInt(group, 16)), 0n);
}

function quantityOf(text: string): KubernetesQuantity {
  return new KubernetesQuantity(parseQuantity(text));
}

function isQuantity(text: string): boolean {
  try {
    parseQuantity(text);
    return true;
  } catch {
    return false;
  }
}

function cidrOf(text: string): Cidr {
  const cidr = parseCidr(text);
  if (!cidr) throw new Error(`network address parse error during conversion from string: ${text}`);
  return cidr;
}

/** A CEL environment in which `self` is any value, with the Kubernetes functions the CRD uses. */
export function kubernetesCelEnvironment(): Environment {
  return new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false })
    .registerVariable('self', 'dyn')
    .registerType('kubernetes.Quantity', KubernetesQuantity)
    .registerType('net.CIDR', Cidr)
    .registerFunction('isQuantity(string): bool', isQuantity)
    .registerFunction('quantity(string): kubernetes.Quantity', quantityOf)
    .registerFunction('kubernetes.Quantity.compareTo(kubernetes.Quantity): int', (a: KubernetesQuantity, b: KubernetesQuantity) =>
      BigInt(Math.sign(compareQuantities(a.value, b.value))))
    .registerFunction('kubernetes.Quantity.isLessThan(kubernetes.Quantity): bool', (a: KubernetesQuantity, b: KubernetesQuantity) =>
      compareQuantities(a.value, b.value) < 0)
    // Whole, as the API server's AsInt64 reads it: no fraction of one unit.
    .registerFunction('kubernetes.Quantity.isInteger(): bool', (a: KubernetesQuantity) => a.value.nanos % NANOS_PER_UNIT === 0n)
    .registerFunction('isCIDR(string): bool', (text: string) => parseCidr(text) !== undefined)
    .registerFunction('cidr(string): net.CIDR', cidrOf)
    .registerFunction('net.CIDR.containsCIDR(string): bool', (a: Cidr, b: string) => a.contains(cidrOf(b)))
    .registerFunction('net.CIDR.containsCIDR(net.CIDR): bool', (a: Cidr, b: Cidr) => a.contains(b));
}
