import { h } from './dom';

export interface ConfirmStepLabels {
  /** The button's label, such as "Delete". */
  action: string;
  /** What is asked once it is pressed. */
  question: string;
  yes: string;
  no: string;
}

/**
 * A button that asks before it acts, in the page itself rather than with window.confirm (which
 * stops the page and cannot be styled): pressed, it gives way to the question with a yes and a no
 * button. Focus goes to "no", so that a second Enter does not do it by mistake.
 */
export class ConfirmStep {
  readonly element: HTMLDivElement;
  private readonly start: HTMLButtonElement;
  private readonly asking: HTMLDivElement;
  private readonly yes: HTMLButtonElement;
  private readonly no: HTMLButtonElement;

  /** `act` runs on "yes"; the buttons wait until it settles. */
  constructor(labels: ConfirmStepLabels, act: () => Promise<void>) {
    this.start = h('button', { type: 'button', className: 'secondary', textContent: labels.action });
    this.yes = h('button', { type: 'button', className: 'danger', textContent: labels.yes });
    this.no = h('button', { type: 'button', className: 'secondary', textContent: labels.no });
    const question = h('span', { id: `confirm-${crypto.randomUUID()}`, textContent: labels.question });
    this.asking = h('div', { className: 'confirm', hidden: true }, question, this.yes, this.no);
    this.asking.setAttribute('role', 'group');
    this.asking.setAttribute('aria-labelledby', question.id);
    this.element = h('div', { className: 'confirm-step' }, this.start, this.asking);

    this.start.addEventListener('click', () => {
      this.start.hidden = true;
      this.asking.hidden = false;
      this.no.focus();
    });
    this.no.addEventListener('click', () => {
      this.reset();
      this.start.focus();
    });
    this.yes.addEventListener('click', () => {
      this.setBusy(true);
      void act().finally(() => this.setBusy(false));
    });
  }

  /** Back to the one button, as before it was pressed. */
  reset(): void {
    this.start.hidden = false;
    this.asking.hidden = true;
    this.setBusy(false);
  }

  private setBusy(busy: boolean): void {
    this.yes.disabled = busy;
    this.no.disabled = busy;
    this.asking.setAttribute('aria-busy', String(busy));
  }
}
