import { AuthenticationError, ImagegenClient, ValidationError, type CreateGenerationInput } from '@imagegen/client';
import { byId } from './dom';
import { Gallery } from './gallery';
import { GenerateForm } from './generate-form';
import { ImageCache } from './images';
import { QuotaLine } from './quota-line';
import { clearSession, loadSession, saveSession, type Session } from './session';
import { Viewer } from './viewer';

// The playground is served by the API itself: same origin, so no CORS and no URL to configure.
const client = new ImagegenClient({ baseUrl: location.origin });
const images = new ImageCache(client);
const quota = new QuotaLine(client);
let gallery: Gallery | undefined;

const form = new GenerateForm(create);
const viewer = new Viewer(client, images, {
  reuse: (generation) => form.fill(generation),
  deleted: (id) => gallery?.remove(id),
});

async function create(request: CreateGenerationInput): Promise<void> {
  try {
    gallery?.add(await client.createGeneration(request));
  } catch (err) {
    if (err instanceof AuthenticationError) return signOut('Your session has ended: sign in again.');
    // A spent quota (429) is told here too: its message says which quota and when it resets.
    form.showErrors(err instanceof ValidationError ? err.errors : [], (err as Error).message);
  }
  quota.refresh();
}

function signIn(session: Session): void {
  client.token = session.token;
  byId('account-email').textContent = session.email;
  byId('account').hidden = false;
  byId('auth').hidden = true;
  byId('studio').hidden = false;
  gallery = new Gallery(client, images, {
    open: (generation) => void viewer.open(generation),
    ended: () => quota.refresh(),
  });
  quota.refresh();
  gallery.start().catch((err: unknown) => {
    if (err instanceof AuthenticationError) signOut('Your session has ended: sign in again.');
  });
  // Without the list (an older API, say), the form leaves the model and provider to the API.
  client.models().then(
    (list) => form.offerModels(list),
    () => undefined,
  );
  byId('prompt').focus();
}

function signOut(message = ''): void {
  clearSession();
  client.token = undefined;
  gallery?.stop();
  gallery = undefined;
  images.clear();
  quota.hide();
  byId('gallery').replaceChildren();
  byId('account').hidden = true;
  byId('studio').hidden = true;
  byId('auth').hidden = false;
  byId('auth-error').textContent = message;
}

const authForm = byId<HTMLFormElement>('auth-form');
authForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(authForm);
  const mode = (event.submitter as HTMLButtonElement | null)?.value === 'register' ? 'register' : 'login';
  const email = String(data.get('email') ?? '');
  const password = String(data.get('password') ?? '');
  const name = String(data.get('name') ?? '').trim();
  const answer = mode === 'register' ? client.register({ email, password, name }) : client.login({ email, password });
  answer.then(
    (result) => {
      authForm.reset();
      byId('auth-error').textContent = '';
      signIn(saveSession(result));
    },
    (err: unknown) => {
      const fields = err instanceof ValidationError ? err.errors.map((e) => ` ${e.field}: ${e.message}`) : [];
      byId('auth-error').textContent = (err as Error).message + fields.join(';');
    },
  );
});
byId('sign-out').addEventListener('click', () => signOut());

const saved = loadSession();
if (saved) signIn(saved);
else signOut();
