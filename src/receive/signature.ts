import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, toHex, utf8 } from '../wire/bytes.js';

const PREFIX = utf8.encode('Lightning Signed Message:');

/** The digest `signmessage` (Core Lightning and LND alike) signs: SHA256d of the prefix and the bytes. */
export function signedMessageDigest(bytes: Uint8Array): Uint8Array {
  return sha256(sha256(concat(PREFIX, bytes)));
}

/**
 * Checks a 64-byte (or 65 with a recovery byte) signature by `sender` over `signed`. Core
 * Lightning's `signmessage` only signs text, so lnmsg signs the hex of the bytes; tools that sign
 * the raw bytes (as LND's signmessage can) verify too.
 */
export function verifySenderSignature(
  signature: Uint8Array,
  sender: Uint8Array,
  signed: Uint8Array,
): boolean {
  const sig = signature.length === 65 ? signature.subarray(1) : signature;
  if (sig.length !== 64 || sender.length !== 33) return false;
  try {
    for (const form of [utf8.encode(toHex(signed)), signed]) {
      if (secp256k1.verify(sig, signedMessageDigest(form), sender, { prehash: false, lowS: false }))
        return true;
    }
  } catch {
    return false;
  }
  return false;
}
