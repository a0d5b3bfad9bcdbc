// Logs in, asks for an image, follows its progress live and shows it. Plain browser JavaScript:
// serve this folder from any origin listed in the API's CORS_ORIGINS.

const form = document.getElementById('generate');
const statusText = document.getElementById('status');
const progress = document.getElementById('progress');
const result = document.getElementById('result');

const ENDED = ['completed', 'failed', 'canceled'];

/** The `data` of the API's answer, or an Error with the envelope's message (and fields at fault). */
async function api(base, path, { method = 'GET', token, body } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body) headers['Content-Type'] = 'application/json';
  const res = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
  const envelope = await res.json().catch(() => null);
  if (!res.ok || !envelope?.success) {
    const fields = (envelope?.errors ?? []).map((e) => ` ${e.field}: ${e.message}.`).join('');
    throw new Error(`${envelope?.message ?? `${method} ${path} answered ${res.status}`}${fields}`);
  }
  return envelope.data;
}

/** Shows a step in the status line and, once, in the progress list. */
function report(step) {
  statusText.textContent = step;
  if (progress.lastElementChild?.textContent === step) return;
  const item = document.createElement('li');
  item.textContent = step;
  progress.append(item);
}

/** Resolves with the final status, from the live events; polls instead if the stream fails. */
async function follow(base, token, id) {
  // EventSource cannot send an Authorization header: its URL carries a token for this stream only.
  const { url } = await api(base, `/api/generations/${id}/events/token`, { method: 'POST', token });
  return new Promise((resolve, reject) => {
    const events = new EventSource(url);
    events.addEventListener('status', (event) => {
      const { status } = JSON.parse(event.data);
      report(status);
      if (ENDED.includes(status)) {
        events.close();
        resolve(status);
      }
    });
    events.addEventListener('notice', (event) => report(JSON.parse(event.data).message));
    // EventSource would keep reconnecting on its own; polling is simpler to reason about.
    events.addEventListener('error', () => {
      events.close();
      report('live updates unavailable; polling');
      poll(base, token, id).then(resolve, reject);
    });
  });
}

async function poll(base, token, id) {
  for (;;) {
    const { status } = await api(base, `/api/generations/${id}`, { token });
    report(status);
    if (ENDED.includes(status)) return status;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const { api: address, email, password, prompt } = Object.fromEntries(new FormData(form));
  const base = address.replace(/\/+$/, '');
  progress.replaceChildren();
  result.hidden = true;
  form.querySelector('button').disabled = true;
  try {
    report('logging in');
    // With a name, the first login creates the account.
    const login = { email, password, name: email.split('@')[0] };
    const { token } = await api(base, '/api/auth/login', { method: 'POST', body: login });
    const { id } = await api(base, '/api/generations/', { method: 'POST', token, body: { prompt } });
    await follow(base, token, id);
    // The events carry the record without its image: the record itself has it, as a data URL.
    const record = await api(base, `/api/generations/${id}`, { token });
    if (record.status !== 'completed') throw new Error(`${record.status}: ${record.error ?? record.cancel_reason}`);
    result.src = record.image_url;
    result.alt = prompt;
    await result.decode();
    result.hidden = false;
  } catch (err) {
    report(`error: ${err.message}`);
  } finally {
    form.querySelector('button').disabled = false;
  }
});
