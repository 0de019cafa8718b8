import { randomFillSync } from 'node:crypto';

/**
 * Prediction ids: 26 characters of Crockford base32, the first 10 the time in milliseconds and the rest random
 * (the ULID layout). They sort by time as text, so a log segment or a feedback batch is ordered by id, and are
 * unique across serving instances without coordination. Within one millisecond of one process they increase.
 * Made on every request, so without BigInt and with random bytes drawn a few thousand at a time.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const FORTY_BITS = 2 ** 40;

let lastTime = -1;
/** the 80 random bits of the last id, as two 40-bit halves */
let hi = 0;
let lo = 0;

const pool = new Uint8Array(4096);
let poolAt = pool.length;

function random40(): number {
  if (poolAt + 5 > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  let v = 0;
  for (let i = 0; i < 5; i++) v = v * 256 + pool[poolAt++];
  return v;
}

/** `value` (< 32^chars, exact in a double) as `chars` base32 characters. */
function encode(value: number, chars: number): string {
  let out = '';
  for (let i = 0; i < chars; i++) {
    out = ALPHABET[value % 32] + out;
    value = Math.floor(value / 32);
  }
  return out;
}

export function newPredictionId(now = Date.now()): string {
  if (now === lastTime) {
    // same millisecond: one more than the last id's random part, so ids still increase
    lo++;
    if (lo === FORTY_BITS) {
      lo = 0;
      hi = (hi + 1) % FORTY_BITS;
    }
  } else {
    lastTime = now;
    hi = random40();
    lo = random40();
  }
  return encode(now, 10) + encode(hi, 8) + encode(lo, 8);
}

export const PREDICTION_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** When a prediction id was made (ms since the epoch). */
export function predictionTime(id: string): number {
  let t = 0;
  for (const ch of id.slice(0, 10)) t = t * 32 + ALPHABET.indexOf(ch);
  return t;
}
