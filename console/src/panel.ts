import type { ApiClient } from './api';

/** What every panel gets from the shell. */
export interface PanelContext {
  api: ApiClient;
  /** The signed-in user's session facts. */
  role: string;
  /**
   * Whether this session holds `permission` (e.g. `alert:manage:any`), from GET
   * /auth/permissions: panels hide the actions it lacks, so a read-only role meets no door
   * that would answer 403 (the API still enforces every call).
   */
  can(permission: string): boolean;
}

/**
 * One panel of the console. `permission` is the read the panel needs: the panel is shown
 * when GET /auth/permissions lists it for this session (the API still enforces every call;
 * the console only avoids showing doors that are locked).
 */
export interface Panel {
  id: string;
  title: string;
  /** null: every signed-in user (their own account). */
  permission: string | null;
  mount(el: HTMLElement, ctx: PanelContext): void;
  /** Stops timers and streams when another panel is shown or the operator signs out. */
  unmount(): void;
}
