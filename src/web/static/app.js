// The inbox page of `lnmsg web`. Whatever a sender or the node wrote enters the page only as text
// (textContent, or a property such as dataset): nothing in it can become markup, a link or a script.
// The access token travels in an HttpOnly cookie, so this script never sees it.

const $ = (id) => document.getElementById(id);

/** An element with a class and text, then children: the one way this page makes elements. */
function el(tag, className, text, ...children) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  e.append(...children);
  return e;
}

/** GET `path`, or POST `body` as JSON; resolves with the JSON answer, rejects with its `error` sentence. */
async function api(path, body) {
  const res = await fetch(
    path,
    body === undefined
      ? {}
      : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) },
  );
  const value = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) throw new Error(value.error ?? `${res.status} ${res.statusText}`);
  return value;
}

function showBanner(text) {
  $('banner').textContent = text;
  $('banner').hidden = text === '';
}

/** Seconds to add to this browser's clock to get the node's (deadlines are the node's). */
let clockOffset = 0;
const nowSeconds = () => Date.now() / 1000 + clockOffset;

// ---- inbox ----

/** Messages shown, by payment hash: the answer they were drawn from and their element. */
const shown = new Map();

const KINDS = { invoice: 'on an invoice', keysend: 'spontaneous (keysend)', hash: 'paid to a hash' };

function kindOf(m) {
  const kind = KINDS[m.kind] ?? (m.spontaneous ? KINDS.keysend : KINDS.hash);
  return m.records_only ? `${kind}, records only` : kind;
}

function senderLine(m) {
  if (!m.sender) return el('p', 'from', 'sender not named');
  const mark = m.verified
    ? el('span', 'verified', '✓ verified')
    : el('span', 'unverified', `✗ unverified${m.verify_problem ? `: ${m.verify_problem}` : ''}`);
  return el('p', 'from', `from ${m.sender} `, mark);
}

function content(m) {
  if (m.is_text) return el('pre', 'text', m.message);
  return el(
    'div',
    'binary',
    undefined,
    el('p', 'hint', `binary, ${m.message_bytes} bytes, as hex:`),
    el('pre', 'hex', m.message_hex),
  );
}

/** A boostagram's fields, each key and value as text. */
function boostagram(b) {
  const list = el('dl', 'boostagram');
  for (const [key, value] of Object.entries(b))
    list.append(el('dt', '', key), el('dd', '', typeof value === 'string' ? value : JSON.stringify(value)));
  return list;
}

function decision(m) {
  const box = el('div', 'decide');
  const left = el('span', 'left');
  left.dataset.deadline = String(m.deadline);
  const accept = el('button', 'accept', 'Accept');
  const reject = el('button', 'reject', 'Reject');
  const reason = el('input', 'reason');
  reason.placeholder = 'reason (kept with the message)';
  reason.hidden = true;
  const confirm = el('button', 'confirm-reject', 'Refuse payment');
  confirm.hidden = true;
  const problem = el('span', 'problem');
  const buttons = [accept, reject, confirm];
  const decide = async (verb, body) => {
    for (const b of buttons) b.disabled = true;
    problem.textContent = '';
    try {
      upsert(await api(`/api/${verb}`, body));
    } catch (e) {
      problem.textContent = e.message;
      for (const b of buttons) b.disabled = false;
    }
  };
  for (const b of buttons) b.type = 'button';
  accept.addEventListener('click', () => decide('accept', { payment_hash: m.payment_hash }));
  reject.addEventListener('click', () => {
    reject.hidden = true;
    reason.hidden = confirm.hidden = false;
    reason.focus();
  });
  confirm.addEventListener('click', () =>
    decide('reject', { payment_hash: m.payment_hash, reason: reason.value.trim() || undefined }),
  );
  box.append(left, accept, reject, reason, confirm, problem);
  if (m.decide_by === 'decider') box.prepend(el('span', 'hint', 'a decide command or URL is deciding; '));
  return box;
}

function messageItem(m) {
  const li = el('li', 'msg');
  li.dataset.hash = m.payment_hash;
  li.dataset.status = m.status;
  li.dataset.index = String(m.created_index);
  const when = new Date(m.received_at * 1000);
  const time = el('time', '', when.toLocaleString());
  time.dateTime = when.toISOString();
  li.append(
    el(
      'p',
      'meta',
      undefined,
      time,
      el('span', 'amount', `${m.amount_msat ?? m.amount} msat`),
      el('span', 'status', m.status),
      el('span', 'kind', kindOf(m)),
    ),
    senderLine(m),
    content(m),
  );
  if (m.boostagram && typeof m.boostagram === 'object') li.append(boostagram(m.boostagram));
  if (typeof m.tip_note === 'string') li.append(el('p', 'label', `tip note: ${m.tip_note}`));
  if (Array.isArray(m.record_problems) && m.record_problems.length > 0)
    li.append(
      el(
        'p',
        'reason',
        `records not read: ${m.record_problems.map((p) => `${p.type} (${p.why})`).join(', ')}`,
      ),
    );
  if (m.label !== undefined) li.append(el('p', 'label', `label: ${m.label}`));
  if (m.reject_reason !== undefined) li.append(el('p', 'reason', `refused: ${m.reject_reason}`));
  if (m.status === 'held') li.append(decision(m));
  const hash = el('p', 'hash', m.payment_hash);
  li.append(hash);
  return li;
}

/**
 * Shows a message, new or changed, in its place (newest first). One already shown as it is, or in
 * a later state (a list fetched before a live event came in), is left as it is.
 */
function upsert(m) {
  const old = shown.get(m.payment_hash);
  if (old && (old.m.updated_index ?? 0) > (m.updated_index ?? 0)) return;
  if (old && JSON.stringify(old.m) === JSON.stringify(m)) return;
  const li = messageItem(m);
  shown.set(m.payment_hash, { m, li });
  $('inbox-empty').hidden = true;
  if (old) return old.li.replaceWith(li);
  const after = [...$('inbox').children].find((x) => Number(x.dataset.index) < m.created_index);
  $('inbox').insertBefore(li, after ?? null);
  tick();
}

let olderThan = null;

async function loadInbox(before) {
  // Cleared before asking, not after: what the live feed brings meanwhile stays.
  if (!before) {
    shown.clear();
    $('inbox').replaceChildren();
  }
  try {
    const page = await api(`/api/messages${before ? `?before=${before}` : ''}`);
    for (const m of page.messages) upsert(m);
    olderThan = page.older;
    $('older').hidden = olderThan === null;
    $('inbox-empty').hidden = shown.size > 0;
  } catch (e) {
    showBanner(`Could not load the inbox: ${e.message}`);
  }
}

/** Counts down every held message's deadline. */
function tick() {
  for (const left of document.querySelectorAll('.left')) {
    const s = Math.floor(Number(left.dataset.deadline) - nowSeconds());
    left.textContent =
      s > 0 ? `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')} left to decide ` : 'deadline passed ';
  }
}

// ---- outbox ----

let outboxOlderThan = null;

function outboxItem(m) {
  const li = el('li', 'msg');
  li.dataset.status = m.status;
  li.append(
    el(
      'p',
      'meta',
      undefined,
      el('span', 'status', m.status),
      el('span', 'amount', `${m.amount_msat} msat`),
      el('span', '', `fee ${m.fee_msat ?? '?'} msat`),
      el('span', '', `${m.parts ?? '?'} part${m.parts === 1 ? '' : 's'}`),
    ),
    el('p', 'from', `to ${m.destination}`),
  );
  if (typeof m.message === 'string') li.append(el('pre', 'text', m.message));
  if (m.error !== undefined)
    li.append(
      el(
        'p',
        'reason',
        `error: ${typeof m.error === 'string' ? m.error : (m.error.message ?? JSON.stringify(m.error))}`,
      ),
    );
  return li;
}

async function loadOutbox(before) {
  try {
    const page = await api(`/api/outbox${before ? `?before=${before}` : ''}`);
    if (!before) $('outbox').replaceChildren();
    if (page.unsupported) {
      $('outbox-note').textContent = 'this lnmsg version keeps no outbox';
      return;
    }
    for (const m of page.messages) $('outbox').append(outboxItem(m));
    outboxOlderThan = page.older;
    $('outbox-older').hidden = outboxOlderThan === null;
    $('outbox-note').textContent = $('outbox').children.length === 0 ? 'Nothing sent yet.' : '';
  } catch (e) {
    $('outbox-note').textContent = `Could not load what was sent: ${e.message}`;
  }
}

// ---- send ----

const form = $('send');
const field = (name) => form.elements.namedItem(name);
const value = (name) => field(name).value.trim();
/** The server's last estimate of what fits one HTLC to the destination typed. */
let capacity;
let capacityTimer;

async function refreshCapacity() {
  const q = new URLSearchParams({ sign: field('sign').checked ? '1' : '0' });
  if (value('bolt11')) q.set('bolt11', value('bolt11'));
  else {
    q.set('destination', value('destination'));
    q.set('keysend', value('payment_hash') ? '0' : '1');
  }
  if (/^\d+$/.test(value('amount_msat'))) q.set('amount_msat', value('amount_msat'));
  try {
    capacity = await api(`/api/capacity?${q}`);
  } catch (e) {
    capacity = { error: e.message };
  }
  showBytes();
}

function showBytes() {
  const bytes = new TextEncoder().encode(field('message').value).length;
  const line = $('capacity');
  line.classList.remove('over');
  if (!capacity) line.textContent = `${bytes} bytes`;
  else if (capacity.error) line.textContent = `${bytes} bytes (${capacity.error})`;
  else {
    const over = bytes > capacity.single;
    const parts = capacity.per_part
      ? `: about ${Math.ceil(bytes / capacity.per_part)} parts of one payment`
      : ': too long for a keysend, which is one HTLC';
    line.textContent =
      `${bytes} bytes; one HTLC holds ${capacity.single} over ${capacity.hops} hops` +
      (capacity.assumed ? ` (hops assumed: ${capacity.assumed})` : '') +
      (over ? parts : '');
    line.classList.toggle('over', over && !capacity.per_part);
  }
}

form.addEventListener('input', (e) => {
  if (e.target.name === 'message') return showBytes();
  clearTimeout(capacityTimer);
  capacityTimer = setTimeout(refreshCapacity, 400);
});

/** Polls sendmessage_status while a send to `hash` runs; a multi-part message fills the bar. */
function followProgress(hash) {
  const bar = $('progress');
  let running = true;
  (async () => {
    while (running) {
      const s = await api(`/api/send-status?payment_hash=${hash}`).catch(() => null);
      if (running && s && s.parts > 1) {
        bar.max = s.parts;
        bar.value = Math.min(s.sent, s.parts);
        bar.hidden = false;
        bar.title = `${bar.value} of ${s.parts} parts sent`;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  return () => {
    running = false;
    bar.hidden = true;
  };
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const result = $('send-result');
  const amount = value('amount_msat');
  if (amount !== '' && !/^\d+$/.test(amount)) {
    result.textContent = 'The amount is a whole number of msat.';
    return;
  }
  const body = { message: field('message').value, sign: field('sign').checked };
  if (amount !== '') body.amount_msat = Number(amount);
  if (value('bolt11')) body.bolt11 = value('bolt11');
  else {
    body.destination = value('destination');
    if (value('payment_hash')) body.payment_hash = value('payment_hash');
  }
  const hash = body.bolt11 ? capacity?.payment_hash : body.payment_hash;
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  result.textContent = 'Sending…';
  const stop = hash ? followProgress(hash) : () => {};
  try {
    const r = await api('/api/send', body);
    result.textContent =
      `Sent: ${r.amount_msat} msat (fee ${r.fee_msat} msat), ${r.message_bytes} bytes in ${r.parts} part` +
      `${r.parts === 1 ? '' : 's'}${r.spontaneous ? ', keysend' : ''}.`;
  } catch (err) {
    result.textContent = `Not sent: ${err.message}`;
  } finally {
    stop();
    button.disabled = false;
    loadOutbox();
  }
});

// ---- live feed ----

let nodeUp = false;
const events = new EventSource('/api/events');
events.addEventListener('node', (e) => {
  const s = JSON.parse(e.data);
  if (s.up) {
    clockOffset = s.now - Date.now() / 1000;
    $('node').textContent = s.alias ? `${s.alias} ${s.id}` : s.id;
    showBanner('');
    // Whatever happened while the node (or this page's feed) was away: load the lists afresh.
    if (!nodeUp) {
      loadInbox();
      loadOutbox();
      refreshCapacity();
    }
  } else showBanner(`Node unreachable: ${s.problem}. Retrying…`);
  nodeUp = s.up;
});
events.addEventListener('inbox', (e) => upsert(JSON.parse(e.data)));
events.addEventListener('error', () => {
  nodeUp = false;
  showBanner(
    events.readyState === EventSource.CLOSED
      ? 'lnmsg web has stopped or restarted: open the URL it printed.'
      : 'Lost the connection to lnmsg web; retrying…',
  );
});

$('older').addEventListener('click', () => loadInbox(olderThan));
$('outbox-older').addEventListener('click', () => loadOutbox(outboxOlderThan));
setInterval(tick, 1000);
showBytes();
