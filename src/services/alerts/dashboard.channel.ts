import type { AlertChannelAdapter, ChannelMessage } from './channel';
import type { AlertChange, AlertChangePublisher } from './alert-raiser';

/**
 * The dashboard reads alerts from MongoDB, so storing one is its delivery; the live push is
 * the change published to the stream (Redis pub/sub). A publish failure is not a delivery
 * failure: browsers catch up from the store on reconnect (Last-Event-ID).
 */
export class DashboardChannel implements AlertChannelAdapter {
  readonly channel = 'dashboard' as const;
  readonly available = true;

  constructor(private readonly publish: (change: AlertChange) => Promise<void>) {}

  async send(msg: ChannelMessage): Promise<void> {
    const type: AlertChange['type'] =
      msg.purpose === 'resolved' ? 'resolved' : msg.purpose === 'reminder' ? 'repeated' : 'raised';
    await this.publish({ type, alertId: msg.alert._id }).catch(() => undefined);
  }
}

/** Publishes through whichever publisher is connected now (the lead plugs in the alert stream). */
export class PublisherSlot implements AlertChangePublisher {
  private target: AlertChangePublisher | undefined;

  connect(publisher: AlertChangePublisher | undefined): void {
    this.target = publisher;
  }

  async publish(change: AlertChange): Promise<void> {
    await this.target?.publish(change);
  }
}
