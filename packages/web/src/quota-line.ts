import type { ImagegenClient, QuotaPeriodState } from '@imagegen/client';
import { byId } from './dom';

/**
 * "n of m images left today", under the form, from the day's quota of `GET /api/usage`. Hidden
 * when there is no daily quota, or when the API cannot say (an older one, or a failure): the
 * create's own answer still tells when the quota is spent.
 */
export class QuotaLine {
  private readonly line = byId('quota');
  private loading: Promise<void> | undefined;
  /** Asked again while an answer was coming: it may predate what changed. */
  private stale = false;
  /** Bumped on sign-out, so that an answer for the last user is dropped. */
  private session = 0;

  constructor(private readonly client: ImagegenClient) {}

  /** Asks the API again; a refresh asked while one is under way runs once that one has ended. */
  refresh(): void {
    if (this.loading) {
      this.stale = true;
      return;
    }
    const session = this.session;
    // Today's totals only: the line needs none, and the default range is the whole month.
    const today = new Date().toISOString().slice(0, 10);
    const loading = this.client
      .usage({ from: today, to: today })
      .then(
        (usage) => {
          if (session === this.session) this.show(usage.quota.day);
        },
        () => {
          if (session === this.session) this.line.hidden = true;
        },
      )
      .finally(() => {
        if (this.loading !== loading) return;
        this.loading = undefined;
        if (this.stale) {
          this.stale = false;
          this.refresh();
        }
      });
    this.loading = loading;
  }

  /** Signed out: nothing shown, and answers still coming for that user are dropped. */
  hide(): void {
    this.session++;
    this.loading = undefined;
    this.stale = false;
    this.line.hidden = true;
    this.line.textContent = '';
  }

  private show(day: QuotaPeriodState): void {
    if (day.limit === null || day.remaining === null) {
      this.line.hidden = true;
      return;
    }
    const resets = new Date(day.resets_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    this.line.textContent =
      `${day.remaining} of ${day.limit} images left today` + (day.remaining === 0 ? ` · more at ${resets}` : '');
    this.line.hidden = false;
  }
}
