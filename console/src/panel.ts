import type { ApiClient } from './api';

/** What every panel gets from the shell. */
export interface PanelContext {
  api: ApiClient;
  /** The signed-in user's session facts. */
  role: string;
}

/**
 * One panel of the console. `probe` is a read the panel needs: a 403 there hides the panel
 * (the API decides who sees what; the console only avoids showing doors that are locked).
 */
export interface Panel {
  id: string;
  title: string;
  probe: string;
  mount(el: HTMLElement, ctx: PanelContext): void;
  /** Stops timers and streams when another panel is shown or the operator signs out. */
  unmount(): void;
}
