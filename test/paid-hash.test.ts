import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, test } from 'node:test';
import { DEFAULT_MESSAGE_TLV_TYPE } from '../src/index.js';
import { sendMessage } from '../src/send/message.js';
import { LNMSG_ERRORS } from '../src/send/method.js';
import { alreadyPaid, PaymentGroup, SendError, Sender } from '../src/send/sender.js';
import { utf8 } from '../src/wire/bytes.js';
import { FIXTURES } from './support/fake-lightningd.js';
import { PAID_HASH_FOLDERS, paidHashRun } from './support/paid-hash.js';
import { payerNodeForEachTest } from './support/payer.js';
import { needsShared } from './support/shared.js';

/** What a send that must fail threw. */
async function thrown(send: Promise<unknown>): Promise<SendError> {
  const e = await send.then(
    () => assert.fail('the send went through'),
    (err: unknown) => err,
  );
  assert.ok(e instanceof SendError, String(e));
  return e;
}

/**
 * A hash already paid is known from lightningd's own answer to sendonion (no listsendpays before
 * each send): the paid part's success, or error 201 "Already succeeded …" (test/fixtures/<version>/paid-hash.jsonl).
 */
for (const folder of PAID_HASH_FOLDERS) {
  describe(`a payment hash already paid (recorded on ${folder})`, needsShared(...FIXTURES), () => {
    const node = payerNodeForEachTest();
    const run = paidHashRun(folder);
    beforeEach(() => {
      for (const m of ['getinfo', 'getroutes', 'createonion', 'sendonion', 'waitsendpay'])
        node.fake.handle(m, run.reply(`paid/${m}`));
    });
    const send = (message: Uint8Array, keysend = false) =>
      sendMessage(node.rpc, new Sender(node.rpc), {
        destination: run.destination,
        paymentHash: keysend ? undefined : run.hash,
        amountMsat: run.amountMsat,
        message,
        tlvType: DEFAULT_MESSAGE_TLV_TYPE,
        sign: false,
        retryForSeconds: 0,
        maxFeeMsat: 100_000,
        maxParts: 128,
      });
    const asked = () => node.fake.requests.map((r) => r.method);
    const count = (method: string) => asked().filter((m) => m === method).length;

    test('an unpaid hash: sendonion answers pending and the send completes, with nothing asked before', async () => {
      const r = await send(utf8.encode('first time'));
      assert.equal(r.paymentPreimage, run.preimage);
      assert.deepEqual(asked(), ['getinfo', 'getroutes', 'createonion', 'sendonion', 'waitsendpay']);
    });

    for (const answer of [
      'again-same-part',
      'again-other-part',
      'again-other-amount',
      'again-other-destination',
    ]) {
      test(`sendonion answers as to ${answer}: refused as already paid (1601), no waitsendpay`, async () => {
        node.fake.handle('sendonion', run.reply(`${answer}/sendonion`));
        const e = await thrown(send(utf8.encode('once more')));
        assert.equal(e.message, alreadyPaid(run.hash).message);
        assert.equal(LNMSG_ERRORS[e.kind], 1601);
        assert.deepEqual(asked(), ['getinfo', 'getroutes', 'createonion', 'sendonion']);
      });
    }

    test('a keysend answered as paid is refused the same way', async () => {
      node.fake.handle('sendonion', run.reply('again-same-part/sendonion'));
      const e = await thrown(send(utf8.encode('spontaneous'), true));
      const sent = node.fake.requests.find((r) => r.method === 'sendonion')?.params as {
        payment_hash: string;
      };
      assert.notEqual(sent.payment_hash, run.hash, "the keysend's own hash");
      assert.equal(e.message, alreadyPaid(sent.payment_hash).message);
      assert.equal(count('waitsendpay'), 0);
    });

    test('a message in several parts: refused as already paid, no part waited on', async () => {
      node.fake.handle('sendonion', run.reply('again-other-part/sendonion'));
      const e = await thrown(send(randomBytes(3000)));
      assert.equal(e.message, alreadyPaid(run.hash).message);
      assert.ok(count('createonion') > 1, 'pieces');
      assert.equal(count('waitsendpay'), 0);
    });

    test('a part refused as paid stops its group: a later part asks lightningd nothing', async () => {
      node.fake.handle('sendonion', run.reply('again-other-part/sendonion'));
      const sender = new Sender(node.rpc);
      const group = new PaymentGroup();
      const part = () =>
        sender.send({
          destination: run.destination,
          paymentHash: run.hash,
          amountMsat: run.amountMsat / 2,
          totalMsat: run.amountMsat,
          final: { records: [] },
          retryForSeconds: 0,
          maxFeeMsat: 100_000,
          finalCltv: 18,
          group,
        });
      const first = await thrown(part());
      assert.equal(first.message, alreadyPaid(run.hash).message);
      const before = node.fake.requests.length;
      assert.equal(await thrown(part()), first);
      assert.equal(node.fake.requests.length, before);
    });
  });
}
