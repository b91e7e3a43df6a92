import type { Database } from '../../../lib/database';
import type { Limits } from '../../../config';
import { responseTime, type HealthCheck, type Measurement } from '../types';

/**
 * MongoDB: ping latency, connections in use and requests waiting for one (from the driver's
 * CMAP events, no I/O), and the topology the driver sees (replica set state, hosts).
 */
export class MongoCheck implements HealthCheck {
  readonly component = 'mongodb';
  readonly primaryMeasurement = 'responseTime';
  readonly componentType = 'datastore' as const;
  readonly onError = 'fail' as const;
  private waiting = 0;
  private topology: { type: string; hosts: string[]; setName?: string } = { type: 'Unknown', hosts: [] };

  constructor(private readonly deps: { database: Database; latencyMs: Limits; maxPoolSize: number }) {
    const client = deps.database.connection.getClient();
    client.on('connectionCheckOutStarted', () => void this.waiting++);
    const done = (): void => void (this.waiting = Math.max(0, this.waiting - 1));
    client.on('connectionCheckedOut', done);
    client.on('connectionCheckOutFailed', done);
    client.on('topologyDescriptionChanged', (ev) => {
      const d = ev.newDescription;
      this.topology = { type: d.type, hosts: [...d.servers.keys()], setName: d.setName ?? undefined };
    });
  }

  /** One ping: what readiness forces at most once per second. */
  async ping(timeoutMs: number): Promise<Measurement> {
    return responseTime(this.component, await this.deps.database.ping(timeoutMs), this.deps.latencyMs);
  }

  async run(timeoutMs: number): Promise<Measurement[]> {
    const ping = await this.ping(timeoutMs);
    const pool = this.deps.database.pool;
    const noPrimary = this.topology.type === 'ReplicaSetNoPrimary';
    return [
      ping,
      {
        component: this.component,
        measurement: 'connections',
        componentType: this.componentType,
        observedValue: pool.checkedOut,
        observedUnit: 'connections',
        status: pool.checkedOut >= this.deps.maxPoolSize ? 'warn' : 'pass',
        details: {
          maxPoolSize: this.deps.maxPoolSize,
          created: pool.connectionsCreated,
          closed: pool.connectionsClosed,
          checkOutFailures: pool.checkOutFailures,
        },
      },
      {
        component: this.component,
        measurement: 'poolWaiting',
        componentType: this.componentType,
        observedValue: this.waiting,
        observedUnit: 'requests',
        status: this.waiting > 0 ? 'warn' : 'pass',
      },
      {
        component: this.component,
        measurement: 'topology',
        componentType: this.componentType,
        observedValue: this.topology.type,
        status: noPrimary ? 'fail' : 'pass',
        output: noPrimary ? 'the replica set has no primary' : undefined,
        details: { hosts: this.topology.hosts, setName: this.topology.setName },
      },
    ];
  }
}
