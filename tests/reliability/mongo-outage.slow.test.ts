import { runMongoOutage } from './support/mongo-outage';
import { expectMongoOutageHandled } from './mongo-outage.assertions';

describe('MongoDB stopped under load (30 s)', () => {
  it('when MongoDB stops for 30 s under load, then requests get 503 problem+json quickly, readiness fails, an alert is sent, and all recovers within 10 s of the restart', async () => {
    const r = await runMongoOutage(__filename, 30_000);
    expectMongoOutageHandled('mongodb-outage-30s', r);
  }, 300_000);
});
