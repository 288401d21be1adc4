import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Rpc } from '../src/cln/rpc.js';
import { NodeInvoices } from '../src/receive/node-invoices.js';
import { toHex } from '../src/wire/bytes.js';
import { v26066Params, v26066Result } from './support/recorded-v26066.js';

/** lightningd answering each method with one recorded result (v26.06.6), remembering what was asked. */
function recordedRpc(answers: Record<string, [file: string, name: string]>) {
  const asked: { method: string; params: unknown }[] = [];
  const rpc: Rpc = {
    async call<T>(method: string, params?: unknown): Promise<T> {
      asked.push({ method, params });
      const a = answers[method];
      if (!a) throw new Error(`not recorded: ${method}`);
      return v26066Result(...a) as T;
    },
  };
  return { rpc, asked };
}

describe("lightningd's invoices (recorded replies of v26.06.6)", () => {
  test('find: listinvoices gives the bolt11, decode its payment secret (the one `invoice` returned)', async () => {
    const { rpc, asked } = recordedRpc({
      listinvoices: ['node3-lists.jsonl', 'listinvoices-n3'],
      decode: ['invoice-decode.jsonl', 'decode-5000'],
    });
    const made = v26066Result<{ payment_hash: string; payment_secret: string }>(
      'invoice-decode.jsonl',
      'invoice-5000',
    );
    const book = new NodeInvoices(rpc);
    const found = await book.find(made.payment_hash);
    assert.equal(toHex(found?.paymentSecret ?? new Uint8Array()), made.payment_secret);
    assert.equal(found?.label, 'fx-5000');
    assert.equal(found?.status, 'paid');
    // Found once, its secret is remembered: only listinvoices (for its status) is asked again.
    await book.find(made.payment_hash);
    assert.deepEqual(
      asked.map((a) => a.method),
      ['listinvoices', 'decode', 'listinvoices'],
    );
  });

  test('find: a hash lightningd has no invoice for is unknown, even if the reply lists others', async () => {
    const { rpc } = recordedRpc({ listinvoices: ['node3-lists.jsonl', 'listinvoices-n3'] });
    assert.equal(await new NodeInvoices(rpc).find('00'.repeat(32)), undefined);
  });

  test('create: asks `invoice` with the preimage given; passes on what lightningd warns', async () => {
    for (const [name, warned] of [
      ['payee-invoice/preimage', false],
      ['plain-payee-invoice-early/5000', true],
    ] as const) {
      const { rpc, asked } = recordedRpc({ invoice: ['payee-invoices.jsonl', name] });
      const made = await new NodeInvoices(rpc).create({
        amountMsat: 6000,
        label: 'l',
        description: 'd',
        expirySeconds: 60,
        preimage: 'ab'.repeat(32),
      });
      assert.deepEqual(asked[0]?.params, {
        amount_msat: 6000,
        label: 'l',
        description: 'd',
        expiry: 60,
        preimage: 'ab'.repeat(32),
      });
      const recorded = v26066Result<{ payment_hash: string }>('payee-invoices.jsonl', name);
      assert.equal(made.payment_hash, recorded.payment_hash);
      assert.equal(made.warnings !== undefined, warned, `${name}: ${JSON.stringify(made.warnings)}`);
      if (warned) assert.match(Object.keys(made.warnings ?? {})[0] ?? '', /^warning_/);
      // The recorded request shows lightningd took the same parameter names.
      assert.ok('amount_msat' in v26066Params('payee-invoices.jsonl', name));
    }
  });

  test('settlement: paid, pending while an HTLC of the hash is in a channel, released once none is', async () => {
    const hash = '3c40535c0324a209a889eb83a2ae249164021f608eb6fc2b93ddc47ea7073ec4';
    const decode: [string, string] = ['invoice-decode.jsonl', 'decode-5000'];
    for (const [step, expected] of [
      ['held', 'pending'],
      ['released', 'released'],
    ] as const) {
      const { rpc, asked } = recordedRpc({
        listinvoices: ['held-htlc.jsonl', `${step}/listinvoices`],
        listpeerchannels: ['held-htlc.jsonl', `${step}/listpeerchannels`],
        decode,
      });
      assert.equal(await new NodeInvoices(rpc).settlement(hash), expected, step);
      assert.ok(asked.some((a) => a.method === 'listpeerchannels'));
      // Another hash's HTLC is not this one's.
      assert.equal(await new NodeInvoices(rpc).settlement('00'.repeat(32)), 'released');
    }
    const made = v26066Result<{ payment_hash: string }>('invoice-decode.jsonl', 'invoice-5000');
    const { rpc, asked } = recordedRpc({ listinvoices: ['node3-lists.jsonl', 'listinvoices-n3'], decode });
    assert.equal(await new NodeInvoices(rpc).settlement(made.payment_hash), 'paid');
    assert.ok(!asked.some((a) => a.method === 'listpeerchannels'), 'a paid invoice needs no channel list');
  });
});
