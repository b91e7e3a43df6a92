import request from 'supertest';
import { buildTestApp, type TestApp } from '../support/app';
import { createUser, mfaSession, bearer } from '../support/users';
import { expectGeneric500 } from '../support/problems';
import type { UndecryptableValue } from '../../src/services/encryption/field-encryption.plugin';

/** A list over records of which one holds a corrupted ciphertext, as an operator would meet it. */
describe('employees list with one undecryptable record', () => {
  let t: TestApp;
  let admin: string;
  let manager: string;
  const reports: UndecryptableValue[] = [];
  const emp: Record<string, string> = {};

  beforeAll(async () => {
    t = await buildTestApp(
      __filename,
      { BCRYPT_COST: '10', RATE_LIMIT_GENERAL: '10000/60' },
      { onUndecryptable: (v) => reports.push(v) },
    );
    admin = await mfaSession(t, await createUser(t, 'admin@unreadable.example', 'admin', 'it'));
    manager = await mfaSession(t, await createUser(t, 'mgr@unreadable.example', 'manager', 'ops'));
    for (const [name, nationalId] of [
      ['Ann', 'NID-ANN-1111'],
      ['Ben', 'NID-BEN-2222'],
      ['Cat', 'NID-CAT-3333'],
    ]) {
      const res = await request(t.app)
        .post('/api/v1/employees')
        .set(...bearer(admin))
        .send({ name, workEmail: `${name.toLowerCase()}@unreadable.example`, department: 'ops', nationalId });
      expect(res.status).toBe(201);
      emp[name] = res.body.id as string;
    }
  });
  afterAll(() => t.close());

  it("when one stored national ID is corrupted, then the list answers the readable records and marks that item's field; the single read is a generic 500", async () => {
    const raw = t.container.database.db().collection<{ _id: string; nationalId: string }>('employees');
    const stored = (await raw.findOne({ _id: emp.Ben }))!.nationalId;
    // One character of the ciphertext part changed: the tag no longer matches.
    const last = stored.at(-2) === 'A' ? 'B' : 'A';
    const corrupted = stored.slice(0, -2) + last + stored.slice(-1);
    await raw.updateOne({ _id: emp.Ben }, { $set: { nationalId: corrupted } });

    const list = await request(t.app)
      .get('/api/v1/employees?limit=100&sort=name&order=asc')
      .set(...bearer(admin));
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(3);
    const byId = new Map<string, Record<string, unknown>>(
      (list.body.items as Array<Record<string, unknown>>).map((i) => [i.id as string, i]),
    );
    expect(byId.get(emp.Ann)).toMatchObject({ name: 'Ann', nationalId: 'NID-ANN-1111' });
    expect(byId.get(emp.Ann)).not.toHaveProperty('_unreadable');
    expect(byId.get(emp.Cat)).toMatchObject({ name: 'Cat', nationalId: 'NID-CAT-3333' });
    expect(byId.get(emp.Ben)).toMatchObject({ name: 'Ben', nationalId: null, _unreadable: ['nationalId'] });

    // A department manager sees the field masked: null and marked all the same.
    const scoped = await request(t.app)
      .get('/api/v1/employees?limit=100')
      .set(...bearer(manager));
    expect(scoped.status).toBe(200);
    const benForManager = (scoped.body.items as Array<Record<string, unknown>>).find((i) => i.id === emp.Ben);
    expect(benForManager).toBeDefined();
    expect(benForManager).toMatchObject({ nationalId: null, _unreadable: ['nationalId'] });

    const single = await request(t.app)
      .get(`/api/v1/employees/${emp.Ben}`)
      .set(...bearer(admin));
    expectGeneric500(single, `/api/v1/employees/${emp.Ben}`, /decrypt|v1\./i);

    // Reported once, with the record id and never the ciphertext, however many reads met it.
    expect(reports).toEqual([{ collection: 'employees', id: emp.Ben, path: 'nationalId' }]);
    const logged = t.logs.records().filter((r) => r.msg === 'stored value could not be decrypted');
    expect(logged).toEqual([
      expect.objectContaining({ level: 'error', collection: 'employees', recordId: emp.Ben, path: 'nationalId' }),
    ]);
    expect(t.logs.text).not.toContain(corrupted.split('.')[4]);
  });
});
