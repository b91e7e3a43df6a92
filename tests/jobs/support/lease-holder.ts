/**
 * A second process that takes a lease and holds it, for the crash test: it prints
 * `HELD <epoch>` and then waits to be killed (it never renews nor releases).
 */
import mongoose from 'mongoose';
import { LeaseManager } from '../../../src/jobs/lease';
import { registerJobLeaseModels } from '../../../src/models/job-lease.model';

async function main(): Promise<void> {
  const conn = await mongoose.createConnection(process.env.LEASE_MONGODB_URI!).asPromise();
  const { JobLease } = registerJobLeaseModels(conn);
  const leases = new LeaseManager({ leases: JobLease });
  const lease = await leases.acquire(process.env.LEASE_NAME!, `child:${process.pid}`, Number(process.env.LEASE_TTL_MS));
  process.stdout.write(lease ? `HELD ${lease.epoch}\n` : 'BUSY\n');
  setInterval(() => undefined, 60_000);
}

main().catch((err: unknown) => {
  process.stderr.write(String(err) + '\n');
  process.exit(1);
});
