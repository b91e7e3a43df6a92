import type { Filter, Document } from 'mongodb';
import type { TestApp } from './app';

/** The raw audit_events collection of a test app. */
export const auditEvents = (t: TestApp) => t.container.database.db().collection('audit_events');

/** How many audit entries match `filter` (scope it to the test's own actor or resource). */
export const auditCount = (t: TestApp, filter: Filter<Document>): Promise<number> =>
  auditEvents(t).countDocuments(filter);
