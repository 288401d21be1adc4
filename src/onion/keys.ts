import { chacha20 } from '@noble/ciphers/chacha.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, utf8 } from '../wire/bytes.js';
import { CodecError } from '../wire/errors.js';

const Fn = secp256k1.Point.Fn;
const ZERO_NONCE = new Uint8Array(12);

/** BOLT 4 key generation: HMAC-SHA256 keyed with the key type's name ("rho", "mu", "um", "ammag", "pad"). */
export function generateKey(keyType: 'rho' | 'mu' | 'um' | 'ammag' | 'pad', secret: Uint8Array): Uint8Array {
  return hmac(sha256, utf8.encode(keyType), secret);
}

/** ChaCha20 keystream of `length` bytes with a zero nonce. */
export function cipherStream(key: Uint8Array, length: number): Uint8Array {
  return chacha20(key, ZERO_NONCE, new Uint8Array(length));
}

export function parsePoint(bytes: Uint8Array, what: string) {
  try {
    return secp256k1.Point.fromBytes(bytes);
  } catch {
    throw new CodecError('invalid-value', `${what} is not a valid secp256k1 point`);
  }
}

function scalar(bytes: Uint8Array, what: string): bigint {
  const k = Fn.fromBytes(bytes, true);
  if (k === 0n || k >= Fn.ORDER) throw new CodecError('invalid-value', `${what} is not a valid secret key`);
  return k;
}

/** SHA256 of the compressed ECDH point: the hop's shared secret. */
export function ecdh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  return sha256(parsePoint(publicKey, 'public key').multiply(scalar(secretKey, 'secret key')).toBytes(true));
}

export function blindingFactor(ephemeralPubkey: Uint8Array, sharedSecret: Uint8Array): bigint {
  return Fn.fromBytes(sha256(concat(ephemeralPubkey, sharedSecret)), true);
}

export interface RouteSecrets {
  sharedSecrets: Uint8Array[];
  ephemeralPubkeys: Uint8Array[];
}

/** The sender's view: one shared secret per hop, derived from the session key and the hop pubkeys. */
export function deriveRouteSecrets(sessionKey: Uint8Array, hopPubkeys: readonly Uint8Array[]): RouteSecrets {
  let e = scalar(sessionKey, 'session key');
  const sharedSecrets: Uint8Array[] = [];
  const ephemeralPubkeys: Uint8Array[] = [];
  for (const [i, pub] of hopPubkeys.entries()) {
    const E = secp256k1.Point.BASE.multiply(e).toBytes(true);
    const ss = sha256(parsePoint(pub, `hop ${i} pubkey`).multiply(e).toBytes(true));
    sharedSecrets.push(ss);
    ephemeralPubkeys.push(E);
    e = Fn.mul(e, blindingFactor(E, ss));
  }
  return { sharedSecrets, ephemeralPubkeys };
}

/** The next hop's ephemeral key, as a forwarding node computes it. */
export function nextEphemeralPubkey(ephemeralPubkey: Uint8Array, sharedSecret: Uint8Array): Uint8Array {
  return parsePoint(ephemeralPubkey, 'ephemeral key')
    .multiply(blindingFactor(ephemeralPubkey, sharedSecret))
    .toBytes(true);
}
