import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import { projectRoot } from '../test/support/shared.js';
import {
  needsChromium,
  openPage,
  type RunningWeb,
  startLnmsgWeb,
  textOf,
  waitForMatch,
  waitForText,
} from '../test/support/web.js';
import { everyMessage, networkForSuite, spendable } from './support/network.js';

/** Where the README's picture of the page is written, when LNMSG_SCREENSHOT is set. */
const SCREENSHOT = join(projectRoot, 'docs', 'inbox.png');

const item = (hash: string) => `#inbox li[data-hash="${hash}"]`;

/** `lnmsg web` on nodes 1 (the payer) and 3 (the payee) of 3 real nodes in a line, each page in Chromium. */
describe('lnmsg web on 3 real nodes', needsChromium(), () => {
  const suite = networkForSuite();
  const webs: RunningWeb[] = [];
  // A browser each: a page in a background tab is not drawn, and puppeteer acts only on what is.
  const browsers: Browser[] = [];
  let payer: Page;
  let payee: Page;
  before(async () => {
    const open = async (k: number) => {
      const web = await startLnmsgWeb(['--lightning-dir', suite.net.nodeDir(k), '--network', 'regtest']);
      webs.push(web);
      const { browser, page } = await openPage(web.url);
      browsers.push(browser);
      return page;
    };
    payer = await open(1);
    payee = await open(3);
  });
  after(async () => {
    for (const b of browsers) await b.close();
    for (const w of webs) await w.stop();
  });

  /** A hold=true hash on node 3 and node 1's sendmessage to it, under way. */
  async function heldSend(message: string) {
    const hash = await suite.net.call<string>(3, 'receivemessage_new', { hold: true, label: 'shop order' });
    const sending = suite.net.call<{ status: string }>(1, 'sendmessage', {
      destination: suite.payee,
      payment_hash: hash,
      amount_msat: 5000,
      message,
      sign: true,
      retry_for: 10,
    });
    return { hash, sending };
  }

  test("node 3's page shows a signed message from node 1 as it arrives, sender verified", async () => {
    await payee.waitForSelector('#inbox-empty:not([hidden])');
    const sent = await suite.net.call<{ payment_hash: string }>(1, 'sendmessage', {
      destination: suite.payee,
      amount_msat: 2100,
      message: 'gm from node 1 ⚡',
      sign: true,
    });
    await waitForText(payee, `${item(sent.payment_hash)} pre.text`, 'gm from node 1 ⚡');
    assert.match(
      await textOf(payee, `${item(sent.payment_hash)} .from`),
      new RegExp(`^from ${await suite.net.id(1)} ✓ verified$`),
    );
    assert.match(await textOf(payee, `${item(sent.payment_hash)} .meta`), /2100 msat.*settled.*spontaneous/);
  });

  test("Accept on a held message settles node 1's payment", async () => {
    const { hash, sending } = await heldSend('two coffees, please');
    await payee.waitForSelector(`${item(hash)} button.accept`);
    await payee.click(`${item(hash)} button.accept`);
    assert.equal((await sending).status, 'complete');
    await payee.waitForSelector(`${item(hash)}[data-status="settled"]`);
  });

  test('Reject with a reason refunds node 1: sendmessage fails and its spendable balance is unchanged', async () => {
    const before = await spendable(suite.net, 1);
    const { hash, sending } = await heldSend('a unicorn, please');
    await payee.waitForSelector(`${item(hash)} button.reject`);
    await payee.click(`${item(hash)} button.reject`);
    await payee.type(`${item(hash)} input.reason`, 'out of unicorns');
    await payee.click(`${item(hash)} button.confirm-reject`);
    await assert.rejects(sending, /refused/);
    await waitForText(payee, `${item(hash)} .reason`, 'refused: out of unicorns');
    assert.equal(await spendable(suite.net, 1), before);
  });

  test("the send panel on node 1's page delivers a message to node 3 (a keysend over 2 hops)", async () => {
    await payer.locator('input[name=destination]').fill(suite.payee);
    await payer.locator('input[name=amount_msat]').fill('3000');
    await payer.locator('textarea[name=message]').fill('sent from the page');
    await waitForMatch(payer, '#capacity', /^18 bytes; one HTLC holds \d+ over 2 hops$/);
    await payer.click('#send button[type=submit]');
    await waitForText(payer, '#send-result', 'Sent: 3000 msat');
    assert.match(await textOf(payer, '#send-result'), /18 bytes in 1 part, keysend\.$/);
    const received = await everyMessage(suite.net);
    assert.ok(received.some((m) => m.message === 'sent from the page' && m.spontaneous));
    // And node 1's outbox (the plugin's sendmessage_list) lists it.
    await payer.reload();
    await waitForText(payer, '#outbox li', 'sent from the page');
  });

  test("an invoice pasted on node 1's page: lightningd reads it for the estimate, and the node's answer shows", async () => {
    const { bolt11 } = await suite.net.call<{ bolt11: string }>(3, 'invoice', {
      amount_msat: 4000,
      label: `web-${Date.now()}`,
      description: 'lnmsg web',
    });
    for (const name of ['destination', 'amount_msat']) await payer.locator(`input[name=${name}]`).fill('');
    await payer.locator('input[name=bolt11]').fill(bolt11);
    await payer.locator('textarea[name=message]').fill('for your invoice');
    // decode gave the payee and the amount: the route to it is the real one.
    await waitForMatch(payer, '#capacity', /^16 bytes; one HTLC holds \d+ over 2 hops$/);
    await payer.click('#send button[type=submit]');
    await waitForMatch(payer, '#send-result', /^(Not sent|Sent): /);
  });

  test('a held message waiting for a decision, as the README shows it', async (t) => {
    const { hash, sending } = await heldSend('Table for 4 at 8pm? Paying the deposit now.');
    await payee.waitForSelector(`${item(hash)} button.accept`);
    if (process.env.LNMSG_SCREENSHOT) {
      await payee.screenshot({ path: SCREENSHOT });
      assert.ok(statSync(SCREENSHOT).size <= 150 * 1024, `${statSync(SCREENSHOT).size} bytes`);
    } else t.diagnostic('LNMSG_SCREENSHOT not set: docs/inbox.png left as it is');
    await payee.click(`${item(hash)} button.accept`);
    assert.equal((await sending).status, 'complete');
  });
});
