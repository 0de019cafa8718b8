import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AccessDenied } from '../errors';
import { identityProblem } from './identity';
import { statementText, type DecisionClaim, type DecisionProof } from './statement';

/**
 * Ed25519 keys for signing decisions (node:crypto, nothing else). A person's signing key lives in one file only
 * they can read — JSON with their name, the key's id and the private key — and its public half is registered
 * with `lumen keys add`. The id is derived from the public key, so it cannot be claimed for another key.
 */

export interface SigningKey {
  person: string;
  keyId: string;
  privateKey: crypto.KeyObject;
  publicKeyPem: string;
}

/** The first 32 hex digits of the sha-256 of the raw 32-byte public key. */
export function keyIdOf(publicKey: crypto.KeyObject | string): string {
  const key = typeof publicKey === 'string' ? crypto.createPublicKey(publicKey) : publicKey;
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new AccessDenied(`a Lumen key must be Ed25519; this one is ${key.asymmetricKeyType ?? 'not a key'}`);
  }
  const raw = Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
  return crypto.createHash('sha256').update(raw).digest('hex').slice(0, 32);
}

/** A public key as PEM, checked to be Ed25519; any other text gets an error that says what was wrong. */
export function parsePublicKey(text: string, where: string): { pem: string; keyId: string } {
  // node derives a public key from a private one without a word: a private key sent here must not be accepted
  if (/PRIVATE KEY/.test(text)) throw new AccessDenied(`${where} holds a private key: register only the public half`);
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey(text);
  } catch (err) {
    throw new AccessDenied(`${where} is not a public key in PEM form: ${(err as Error).message}`);
  }
  const keyId = keyIdOf(key);
  return { pem: key.export({ format: 'pem', type: 'spki' }).toString(), keyId };
}

/** Where the CLI finds the caller's signing key: LUMEN_KEY_FILE, else ~/.config/lumen/signing-key.json. */
export function signingKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LUMEN_KEY_FILE) return path.resolve(env.LUMEN_KEY_FILE);
  const config = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(config, 'lumen', 'signing-key.json');
}

/** Make a key pair for a person and write the signing key (mode 0600); refuses to overwrite one. */
export function generateSigningKey(person: string, file: string): SigningKey {
  const problem = identityProblem(person.trim());
  if (problem) throw new AccessDenied(`a key needs the name of the person it is for: ${problem}`);
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const key: SigningKey = {
    person: person.trim(),
    keyId: keyIdOf(publicKey),
    privateKey,
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const body = JSON.stringify(
    { person: key.person, keyId: key.keyId, privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }) },
    null,
    2,
  );
  try {
    fs.writeFileSync(file, body + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new AccessDenied(`${file} already exists; it is not overwritten (move it away first)`);
    }
    throw err;
  }
  return key;
}

/** Read a signing key file; one that others can read is refused, as ssh refuses such a key. */
export function loadSigningKey(file: string): SigningKey {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new AccessDenied(`no signing key at ${file} (make one with: lumen keys generate <your name>)`);
  }
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
    throw new AccessDenied(
      `${file} can be read by others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it before it signs anything`,
    );
  }
  let parsed: { person?: unknown; keyId?: unknown; privateKey?: unknown };
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof parsed;
  } catch (err) {
    throw new AccessDenied(`${file} is not a Lumen signing key (JSON): ${(err as Error).message}`);
  }
  if (typeof parsed.person !== 'string' || typeof parsed.privateKey !== 'string' || identityProblem(parsed.person)) {
    throw new AccessDenied(`${file} is not a Lumen signing key: it needs "person" and "privateKey"`);
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(parsed.privateKey);
  } catch (err) {
    throw new AccessDenied(`${file}: the private key does not load: ${(err as Error).message}`);
  }
  const publicKey = crypto.createPublicKey(privateKey);
  const keyId = keyIdOf(publicKey);
  if (parsed.keyId !== undefined && parsed.keyId !== keyId) {
    throw new AccessDenied(
      `${file}: its keyId ${JSON.stringify(parsed.keyId)} does not belong to its private key (${keyId})`,
    );
  }
  return {
    person: parsed.person,
    keyId,
    privateKey,
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

/** Sign a decision: a fresh nonce, the time now, Ed25519 over the statement. */
export function signClaim(key: SigningKey, claim: Omit<DecisionClaim, 'proof'>, at = new Date()): DecisionProof {
  const unsigned = { keyId: key.keyId, at: at.toISOString(), nonce: crypto.randomBytes(16).toString('hex') };
  const signature = crypto.sign(null, Buffer.from(statementText(claim, unsigned)), key.privateKey).toString('base64');
  return { ...unsigned, signature };
}

export function signatureHolds(publicKeyPem: string, claim: DecisionClaim, proof: DecisionProof): boolean {
  try {
    return crypto.verify(
      null,
      Buffer.from(statementText(claim, proof)),
      crypto.createPublicKey(publicKeyPem),
      Buffer.from(proof.signature, 'base64'),
    );
  } catch {
    return false;
  }
}
