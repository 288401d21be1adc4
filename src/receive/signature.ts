import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, utf8 } from '../wire/bytes.js';
import { signedText } from '../wire/message-records.js';

const PREFIX = utf8.encode('Lightning Signed Message:');

/** The digest `signmessage` (Core Lightning and LND alike) signs: SHA256d of the prefix and the bytes. */
export function signedMessageDigest(bytes: Uint8Array): Uint8Array {
  return sha256(sha256(concat(PREFIX, bytes)));
}

/**
 * Checks a 64-byte (or 65 with a recovery byte) signature by `sender` over `signed`: lnmsg's form
 * (`signedText`, what Core Lightning's text-only `signmessage` can sign), or the raw bytes as
 * other tools (LND's signmessage) sign them.
 */
export function verifySenderSignature(
  signature: Uint8Array,
  sender: Uint8Array,
  signed: Uint8Array,
): boolean {
  const sig = signature.length === 65 ? signature.subarray(1) : signature;
  if (sig.length !== 64 || sender.length !== 33) return false;
  try {
    for (const form of [utf8.encode(signedText(signed)), signed]) {
      if (secp256k1.verify(sig, signedMessageDigest(form), sender, { prehash: false, lowS: false }))
        return true;
    }
  } catch {
    return false;
  }
  return false;
}
