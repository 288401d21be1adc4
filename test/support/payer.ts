import { afterEach, beforeEach } from 'node:test';
import { LightningRpc } from '../../src/cln/rpc.js';
import { FakeLightningd } from './fake-lightningd.js';

/**
 * For each test of a suite: a fake lightningd that answers `getinfo` as the recorded payer (node 1
 * at block 108, as in every recorded payment), and an RPC client to it. Read the fields in tests.
 */
export function payerNodeForEachTest(): { fake: FakeLightningd; rpc: LightningRpc } {
  const node = {} as { fake: FakeLightningd; rpc: LightningRpc };
  beforeEach(async () => {
    node.fake = await FakeLightningd.start();
    node.rpc = new LightningRpc(node.fake.socketPath);
    node.fake.replyWith('getinfo', 'getinfo');
  });
  afterEach(async () => {
    node.rpc.close();
    await node.fake.close();
  });
  return node;
}
