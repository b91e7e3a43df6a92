import type { Express } from 'express';
import request from 'supertest';
import { bearer } from './users';
import { waitFor } from './wait';

/** Polls a backup, verify or restore job through the admin API until it is no longer running; its last answer. */
export async function pollBackupJob(app: Express, token: string, jobId: string): Promise<request.Response> {
  let res!: request.Response;
  await waitFor(
    async () => {
      res = await request(app)
        .get(`/api/v1/admin/backups/jobs/${jobId}`)
        .set(...bearer(token));
      return res.body.status !== 'running';
    },
    120_000,
    `backup job ${jobId}`,
  );
  return res;
}
