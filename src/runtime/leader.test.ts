// The pure parts of leader election: the decision whether a record may be
// taken, the records written, and the MicroTime format. The protocol itself
// (conditional updates racing at a real API server) is tested end to end in
// test/e2e/leader-election.test.ts.
import { describe, expect, test } from '@jest/globals';
import fc from 'fast-check';
import {
  formatMicroTime, judgeLease, leaseRecord, nextRecord, releasedRecord, sameRecord, validateTimings, type LeaseRecord,
} from './leader.ts';

const held = (holderIdentity: string, leaseDurationSeconds = 15): LeaseRecord => ({
  holderIdentity, leaseDurationSeconds, acquireTime: '2026-01-01T00:00:00.000000Z', renewTime: '2026-01-01T00:00:05.000000Z', leaseTransitions: 3,
});

describe('formatMicroTime', () => {
  test('writes six fractional digits in UTC', () => {
    expect(formatMicroTime(Date.UTC(2026, 0, 1))).toBe('2026-01-01T00:00:00.000000Z');
    expect(formatMicroTime(Date.UTC(2026, 0, 1, 12, 34, 56, 789))).toBe('2026-01-01T12:34:56.789000Z');
    expect(formatMicroTime(Date.UTC(2026, 0, 1) + 1.234567)).toBe('2026-01-01T00:00:00.001234Z');
  });

  test('round-trips through Date at millisecond precision and keeps the MicroTime shape', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.double({ min: 0, max: 0.999_999, noNaN: true }), (ms, fraction) => {
      const epochMs = ms + fraction;
      const text = formatMicroTime(epochMs);
      expect(text).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
      expect(Date.parse(text)).toBe(Math.floor(epochMs));
    }));
  });
});

describe('judgeLease (the observer\'s clock, never the record\'s timestamps)', () => {
  test('a free lease may be taken at once, whatever its duration says', () => {
    expect(judgeLease({ ...held(''), leaseDurationSeconds: 1 }, 1_000, 1_000, 'b')).toEqual({ may: true, why: 'free' });
    expect(judgeLease(leaseRecord(undefined), 0, 0, 'b')).toEqual({ may: true, why: 'free' });
  });

  test('the holder may always renew its own lease', () => {
    expect(judgeLease(held('a'), 0, 1_000_000, 'a')).toEqual({ may: true, why: 'ours' });
  });

  test('another holder\'s lease expires leaseDurationSeconds after the observer saw it change', () => {
    const observedAt = 50_000;
    expect(judgeLease(held('a', 15), observedAt, observedAt, 'b')).toEqual({ may: false, holder: 'a', expiresInMs: 15_000 });
    expect(judgeLease(held('a', 15), observedAt, observedAt + 14_999, 'b')).toEqual({ may: false, holder: 'a', expiresInMs: 1 });
    expect(judgeLease(held('a', 15), observedAt, observedAt + 15_000, 'b')).toEqual({ may: true, why: 'expired' });
  });

  test('a record whose renewTime lies far in the past still waits a full duration from its observation', () => {
    // renewTime says 2026-01-01 (long ago by any clock): a candidate that trusted it would take over at once.
    expect(judgeLease(held('a', 15), 1_000, 1_001, 'b').may).toBe(false);
  });

  test('never lets anyone else take a held lease before observedAt + duration', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 3_600 }), fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: -1e6, max: 1e7 }),
      (seconds, observedAt, elapsed) => {
        const judgment = judgeLease(held('a', seconds), observedAt, observedAt + elapsed, 'b');
        expect(judgment.may).toBe(elapsed >= seconds * 1000);
      }));
  });
});

describe('the records written', () => {
  const wall = Date.UTC(2026, 5, 1, 8, 0, 0, 250);

  test('creating starts at transition 0', () => {
    expect(nextRecord(undefined, 'a', 15, wall)).toEqual({
      holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: '2026-06-01T08:00:00.250000Z',
      renewTime: '2026-06-01T08:00:00.250000Z', leaseTransitions: 0,
    });
  });

  test('renewing keeps acquireTime and the transition count, and moves renewTime', () => {
    const next = nextRecord(held('a'), 'a', 15, wall);
    expect(next).toEqual({ ...held('a'), renewTime: '2026-06-01T08:00:00.250000Z' });
  });

  test('taking over from someone else, or a released lease, starts a new term', () => {
    for (const previous of [held('a'), releasedRecord(held('a'), wall - 1_000)]) {
      expect(nextRecord(previous, 'b', 15, wall)).toEqual({
        holderIdentity: 'b', leaseDurationSeconds: 15, acquireTime: '2026-06-01T08:00:00.250000Z',
        renewTime: '2026-06-01T08:00:00.250000Z', leaseTransitions: 4,
      });
    }
  });

  test('releasing empties the holder, shortens the duration to one second and keeps the count', () => {
    expect(releasedRecord(held('a'), wall)).toEqual({
      holderIdentity: '', leaseDurationSeconds: 1, acquireTime: '2026-06-01T08:00:00.250000Z',
      renewTime: '2026-06-01T08:00:00.250000Z', leaseTransitions: 3,
    });
  });

  test('a record read back from a spec compares equal to the one written', () => {
    const record = nextRecord(held('a'), 'b', 15, wall);
    expect(sameRecord(leaseRecord({ ...record }), record)).toBe(true);
    expect(sameRecord(leaseRecord({ ...record, renewTime: formatMicroTime(wall + 1) }), record)).toBe(false);
    expect(sameRecord(undefined, record)).toBe(false);
    expect(leaseRecord({ holderIdentity: null, leaseDurationSeconds: null })).toEqual({
      holderIdentity: '', leaseDurationSeconds: 0, acquireTime: '', renewTime: '', leaseTransitions: 0,
    });
  });
});

describe('validateTimings', () => {
  test('accepts client-go\'s defaults and the short timings of the tests', () => {
    expect(() => validateTimings({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 })).not.toThrow();
    expect(() => validateTimings({ leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 })).not.toThrow();
  });

  test('rejects a renew deadline that does not leave the leader time to stop before its lease expires', () => {
    expect(() => validateTimings({ leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 })).toThrow(/leaseDurationMs/);
    expect(() => validateTimings({ leaseDurationMs: 15_000, renewDeadlineMs: 2_400, retryPeriodMs: 2_000 })).toThrow(/renewDeadlineMs/);
    expect(() => validateTimings({ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 0 })).toThrow(/retryPeriodMs/);
  });
});
