import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import {
  countProblem,
  messageProblem,
  msatProblem,
  msatValue,
  nodeIdProblem,
  param,
  paymentHashProblem,
} from '../src/cln/params.js';
import { MethodError } from '../src/cln/plugin.js';
import { toHex } from '../src/index.js';

/** The error a guard throws for `p`: code and message. */
function refusal(guard: () => unknown): { code: number; message: string } {
  try {
    guard();
  } catch (e) {
    assert.ok(e instanceof MethodError, String(e));
    return { code: e.code, message: e.message };
  }
  assert.fail('no error');
}

describe('the checks shared by CLI flags, prompts and RPC parameters', () => {
  test('a node id is a compressed secp256k1 point, in either case', () => {
    const id = toHex(secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));
    assert.equal(nodeIdProblem(id), undefined);
    assert.equal(nodeIdProblem(id.toUpperCase()), undefined);
    for (const bad of ['', 'nope', `04${id.slice(2)}`, id.slice(0, 64), `${id}00`, 42])
      assert.match(nodeIdProblem(bad) ?? '', /66 hex characters starting 02 or 03/, String(bad));
    // The x of no point: 02 or 03 in front cannot make it one.
    assert.match(nodeIdProblem(`02${'11'.repeat(32)}`) ?? '', /not a point on the secp256k1 curve/);
    assert.match(nodeIdProblem(`03${'11'.repeat(32)}`) ?? '', /not a point on the secp256k1 curve/);
  });

  test('payment hashes, msat and counts', () => {
    assert.equal(paymentHashProblem('AB'.repeat(32)), undefined);
    assert.match(paymentHashProblem('ab'.repeat(31)) ?? '', /64 hex characters/);
    assert.deepEqual(
      ['1000', 1000, '1000msat', '1sat'].map((v) => msatValue(v)),
      [1000, 1000, 1000, 1000],
    );
    assert.equal(msatProblem('0'), undefined);
    assert.equal(msatProblem('0', { min: 1 }), 'must be at least 1');
    assert.equal(msatProblem('-5'), 'must be a whole number of msat');
    assert.equal(msatProblem('1.5'), 'must be a whole number of msat');
    assert.equal(countProblem('1sat'), 'must be a whole number');
    assert.equal(countProblem('5', { max: 4 }), 'must be at most 4');
  });

  test('an empty message is refused, as text or as hex, and the error names the parameter', () => {
    assert.equal(messageProblem(new Uint8Array(0)), 'the message is empty');
    assert.equal(messageProblem(new Uint8Array(1)), undefined);
    assert.deepEqual(
      refusal(() => param.message({ message: '' })),
      { code: -32602, message: 'message: the message is empty, got ""' },
    );
    assert.deepEqual(
      refusal(() => param.message({ message_hex: '' })),
      { code: -32602, message: 'message_hex: the message is empty, got ""' },
    );
    assert.match(
      refusal(() => param.message({ message_hex: 'abc' })).message,
      /^message_hex: must be an even/,
    );
    assert.match(refusal(() => param.message({})).message, /^message: must be a string/);
    assert.deepEqual(param.message({ message_hex: '00ff' }), new Uint8Array([0, 255]));
    assert.deepEqual(param.message({ message: 'hé' }), new TextEncoder().encode('hé'));
  });

  test('RPC guards name the parameter and quote the value', () => {
    assert.equal(
      refusal(() => param.pubkey({ destination: `02${'11'.repeat(32)}` }, 'destination')).message,
      `destination: is not a node id: not a point on the secp256k1 curve, got "02${'11'.repeat(32)}"`,
    );
    assert.equal(
      refusal(() => param.msat({ amount_msat: 0 }, 'amount_msat', { min: 1 })).message,
      'amount_msat: must be at least 1, got 0',
    );
    assert.equal(param.msat({}, 'amount_msat', { fallback: 7 }), 7);
    assert.equal(param.count({ limit: '5' }, 'limit'), 5);
  });
});
