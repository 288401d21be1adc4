import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  buildOnion,
  createFailureReply,
  decryptFailureReply,
  deriveRouteSecrets,
  fromHex,
  generateKey,
  peelOnion,
  toHex,
  wrapFailureReply,
} from '../src/index.js';
import { needsShared, readShared } from './support/shared.js';

const ONION = ['reference', 'bolts', 'bolt04', 'onion-test.json'];
const ERROR = ['reference', 'bolts', 'bolt04', 'onion-error-test.json'];

interface OnionTest {
  generate: { session_key: string; associated_data: string; hops: { pubkey: string; payload: string }[] };
  onion: string;
  decode: string[];
}

interface ErrorTest {
  generate: {
    session_key: string;
    failure_message: string;
    hops: {
      pubkey: string;
      hop_shared_secret: string;
      ammag_key: string;
      um_key?: string;
      payload?: string;
    }[];
  };
  errorpacket: string;
}

describe('BOLT 4 onion-test.json', needsShared(...ONION), () => {
  const v = JSON.parse(readShared(...ONION)) as OnionTest;
  const hops = v.generate.hops.map((h) => ({ pubkey: fromHex(h.pubkey), payload: fromHex(h.payload) }));
  const assoc = fromHex(v.generate.associated_data);

  test('builds the expected packet byte for byte', () => {
    const { packet } = buildOnion(hops, fromHex(v.generate.session_key), assoc);
    assert.equal(toHex(packet), v.onion);
  });

  test('each hop peels exactly its own payload; only the last is final', () => {
    let packet = fromHex(v.onion);
    for (const [i, key] of v.decode.entries()) {
      const hop = peelOnion(packet, fromHex(key), assoc);
      assert.equal(toHex(hop.framedPayload), v.generate.hops[i]?.payload);
      assert.equal(hop.isFinal, i === v.decode.length - 1);
      packet = hop.nextOnion;
    }
  });

  test('a flipped bit anywhere fails the HMAC check', () => {
    const packet = fromHex(v.onion);
    packet[100] = (packet[100] as number) ^ 1;
    assert.throws(() => peelOnion(packet, fromHex(v.decode[0] as string), assoc), /bad-hmac/);
  });
});

describe('BOLT 4 onion-error-test.json', needsShared(...ERROR), () => {
  const v = JSON.parse(readShared(...ERROR)) as ErrorTest;
  const { sharedSecrets } = deriveRouteSecrets(
    fromHex(v.generate.session_key),
    v.generate.hops.map((h) => fromHex(h.pubkey)),
  );

  test('shared secrets and ammag/um keys match every hop', () => {
    for (const [i, h] of v.generate.hops.entries()) {
      const ss = sharedSecrets[i] as Uint8Array;
      assert.equal(toHex(ss), h.hop_shared_secret);
      assert.equal(toHex(generateKey('ammag', ss)), h.ammag_key);
      if (h.um_key) assert.equal(toHex(generateKey('um', ss)), h.um_key);
    }
  });

  test('the erring hop builds the reply and each hop wraps it into the expected packet', () => {
    const last = sharedSecrets.length - 1;
    let reply = createFailureReply(sharedSecrets[last] as Uint8Array, fromHex(v.generate.failure_message));
    for (let i = last - 1; i >= 0; i--) reply = wrapFailureReply(sharedSecrets[i] as Uint8Array, reply);
    assert.equal(toHex(reply), v.errorpacket);
  });

  test('the origin decrypts the packet to the failing hop and its message', () => {
    const failure = decryptFailureReply(sharedSecrets, fromHex(v.errorpacket));
    assert.equal(failure.hopIndex, 4);
    assert.equal(toHex(failure.failureMessage), v.generate.failure_message);
    assert.equal(failure.code, 0x2002);
    assert.equal(failure.codeName, 'temporary_node_failure');
  });

  test('with the wrong route the reply authenticates to nobody', () => {
    assert.throws(() => decryptFailureReply(sharedSecrets.slice(0, 3), fromHex(v.errorpacket)), /bad-hmac/);
  });
});
