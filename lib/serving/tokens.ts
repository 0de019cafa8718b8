import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Bearer tokens of the serving API. Each comes from an environment variable or a file it names (LUMEN_ADMIN_TOKEN
 * or LUMEN_ADMIN_TOKEN_FILE, and likewise FEEDBACK and PREDICT); tokens are never logged. Without an admin token,
 * one is made at start-up and written, readable by its owner only, to <home>/serve/admin.token — where workers on
 * the same store find it to announce champion moves.
 */
export interface ServingTokens {
  admin: string;
  /** feedback: its own token, else the admin token */
  feedback: string;
  /** predict: open unless a token is set */
  predict: string | null;
}

function fromEnv(name: string): string | null {
  const direct = process.env[`LUMEN_${name}_TOKEN`];
  if (direct?.trim()) return direct.trim();
  const file = process.env[`LUMEN_${name}_TOKEN_FILE`];
  if (file) {
    const text = fs.readFileSync(file, 'utf8').trim();
    if (!text) throw new Error(`LUMEN_${name}_TOKEN_FILE ${file} is empty`);
    return text;
  }
  return null;
}

export function adminTokenFile(home: string): string {
  return path.join(home, 'serve', 'admin.token');
}

/** The admin token as a worker or the CLI can find it: the environment, else the file a server wrote. */
export function findAdminToken(home: string): string | null {
  const env = fromEnv('ADMIN');
  if (env) return env;
  try {
    return fs.readFileSync(adminTokenFile(home), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

export function servingTokens(home: string): { tokens: ServingTokens; generated: string | null } {
  let admin = fromEnv('ADMIN');
  let generated: string | null = null;
  if (!admin) {
    const file = adminTokenFile(home);
    admin = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
    if (!admin) {
      admin = randomBytes(24).toString('base64url');
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, `${admin}\n`, { mode: 0o600 });
    }
    generated = file;
  }
  return { tokens: { admin, feedback: fromEnv('FEEDBACK') ?? admin, predict: fromEnv('PREDICT') }, generated };
}

/** Compare a presented bearer token with the expected one in constant time (over their digests). */
export function tokenMatches(header: string | undefined, expected: string): boolean {
  const presented = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1] ?? '';
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && presented.length > 0;
}
