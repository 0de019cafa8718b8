import { randomBytes } from 'node:crypto';

/**
 * Prediction ids: 26 characters of Crockford base32, the first 10 the time in milliseconds and the rest random
 * (the ULID layout). They sort by time as text, so a log segment or a feedback batch is ordered by id, and are
 * unique across serving instances without coordination. Within one millisecond of one process they increase.
 */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastTime = -1;
let lastRandom = new Uint8Array(10);

function encode(bytes: Uint8Array, chars: number): string {
  // big-endian bits of `bytes`, 5 at a time, right-aligned to `chars` characters
  let out = '';
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  for (let i = 0; i < chars; i++) {
    out = ALPHABET[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

export function newPredictionId(now = Date.now()): string {
  if (now === lastTime) {
    // same millisecond: add one to the random part, so ids still increase
    for (let i = lastRandom.length - 1; i >= 0; i--) {
      lastRandom[i] = (lastRandom[i] + 1) & 0xff;
      if (lastRandom[i] !== 0) break;
    }
  } else {
    lastTime = now;
    lastRandom = new Uint8Array(randomBytes(10));
  }
  const time = new Uint8Array(6);
  let t = now;
  for (let i = 5; i >= 0; i--) {
    time[i] = t % 256;
    t = Math.floor(t / 256);
  }
  return encode(time, 10) + encode(lastRandom, 16);
}

export const PREDICTION_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** When a prediction id was made (ms since the epoch). */
export function predictionTime(id: string): number {
  let t = 0;
  for (const ch of id.slice(0, 10)) t = t * 32 + ALPHABET.indexOf(ch);
  return t;
}
