import type { AlertChannel, AlertDeliveryDoc, AlertDoc } from '../../models/alert.model';
import type { AlertInput, RaisedAlert } from './alert-raiser';

/** Who acts on an alert through the API (a user, or the owner of an API key). */
export interface AlertActor {
  id: string;
  role: string;
}

/**
 * What the alert API asks of the alert engine (AlertService implements it). Every change it
 * makes sets `changedAt` and is announced through the AlertChangePublisher, which is what
 * feeds the live stream.
 *
 * Errors, answered by the routes as problem+json: an unknown id throws `AppError.notFound`;
 * acknowledging an alert that is no longer open, or resolving one already resolved, throws
 * `AppError.conflict` (409).
 */
export interface AlertCommands {
  acknowledge(id: string, actor: AlertActor, comment?: string): Promise<AlertDoc>;
  resolve(id: string, actor: AlertActor, comment?: string): Promise<AlertDoc>;
  /** Raises an info alert of source `custom` delivered only through `channels`; returns it once stored. */
  sendTest(channels: AlertChannel[], actor: AlertActor): Promise<AlertDoc>;
  deliveriesOf(alertId: string): Promise<AlertDeliveryDoc[]>;
  raise(input: AlertInput): Promise<RaisedAlert>;
}
