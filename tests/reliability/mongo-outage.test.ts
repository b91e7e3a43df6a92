import { runMongoOutage } from './support/mongo-outage';
import { expectMongoOutageHandled } from './mongo-outage.assertions';

// CI variant of mongo-outage.slow.test.ts: the same properties over a 5 s outage.
describe('MongoDB stopped under load (5 s, CI variant)', () => {
  it('when MongoDB stops under load, then requests get 503 problem+json quickly, readiness fails, an alert is sent, and all recovers within 10 s of the restart', async () => {
    const r = await runMongoOutage(__filename, 5_000);
    expectMongoOutageHandled('mongodb-outage-5s', r);
  }, 180_000);
});
