import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fromHex } from '../src/wire/bytes.js';
import { decodeHopPayload, stripLengthPrefix } from '../src/wire/hop-payload.js';
import { FIXTURES } from './support/fake-lightningd.js';
import { Node } from './support/plugin-node.js';
import { ownRecordings, type PipeRecord } from './support/recorded.js';
import { ownRecord, ownReply } from './support/recorded-v26066.js';
import { answerSendsAsRecorded, recordedPayment } from './support/send-path.js';
import { needsShared } from './support/shared.js';

/** The versions block_added was recorded on (test/fixtures/<folder>/block-added.jsonl, see its README). */
const FOLDERS = ['cln-v26.06.6', 'cln-v24.11.2'];
const FILE = 'block-added.jsonl';

describe(
  'the block height a send counts from: getinfo once, then block_added',
  needsShared(...FIXTURES),
  () => {
    for (const folder of FOLDERS) {
      test(`recorded on ${folder}: two blocks announced, the next send's CLTVs two blocks later, no getinfo asked`, async () => {
        const node = await Node.start();
        try {
          await node.startPlugin();
          answerSendsAsRecorded(node.fake);
          // lightningd's height before the two blocks were mined.
          node.fake.handle('getinfo', ownReply(folder, FILE, 'blocks/getinfo-before'));
          const { destination } = recordedPayment();
          const send = () =>
            node.result('sendmessage', { destination, amount_msat: 5000, message: 'x', sign: false });
          const asked = (method: string) => node.fake.requests.filter((r) => r.method === method);
          const payeeCltv = () => {
            const { hops } = asked('createonion').at(-1)?.params as { hops: { payload: string }[] };
            const last = (hops.at(-1) as { payload: string }).payload;
            return decodeHopPayload(stripLengthPrefix(fromHex(last))).outgoingCltvValue as number;
          };

          await send();
          const before = payeeCltv();
          const getinfos = asked('getinfo').length;
          const notes = ownRecordings<PipeRecord>(FILE, folder).filter(
            (r) => r.kind === 'plugin' && r.node === 1,
          );
          assert.equal(notes.length, 2, 'one block_added per block mined');
          for (const n of notes) node.plugin.send(n.raw);
          await send();

          const height = (name: string) =>
            (ownRecord(folder, FILE, name).reply.result as { blockheight: number }).blockheight;
          assert.equal(
            payeeCltv() - before,
            height('blocks/getinfo-after') - height('blocks/getinfo-before'),
            "as far on as lightningd's own height moved",
          );
          assert.equal(asked('getinfo').length, getinfos, 'no getinfo for the second send');
        } finally {
          await node.stop();
        }
      });
    }
  },
);
