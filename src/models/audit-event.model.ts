import { Schema, type Connection, type Model } from 'mongoose';

export type AuditOutcome = 'allowed' | 'denied' | 'failed' | 'succeeded';

/** One entry of the append-only, HMAC-chained audit trail. */
export interface AuditEventDoc {
  /** The same number as `seq`: the primary key makes "entry n" a point lookup on any server. */
  _id?: number;
  seq: number;
  at: Date;
  actorId: string | null;
  actorRole: string | null;
  action: string;
  resource: string | null;
  resourceId: string | null;
  outcome: AuditOutcome;
  /** Names of fields changed or involved; never their values. */
  fields: string[];
  /** Small, non-secret context (e.g. counts, key ids, reasons). Never passwords, codes, tokens or PII values. */
  details: Record<string, unknown>;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  prevHash: string;
  /** Id of the AUDIT_HMAC_KEYS key whose HMAC-SHA256 is `hash`, so the key can rotate. */
  keyId: string;
  /** HMAC-SHA256 (hex) over every other field, this entry's key id and prevHash included. */
  hash: string;
}

export interface AuditCounterDoc {
  _id: string;
  seq: number;
}

const auditEventSchema = new Schema<AuditEventDoc>(
  {
    _id: { type: Number },
    seq: { type: Number, required: true, unique: true },
    at: { type: Date, required: true },
    actorId: { type: String, default: null, index: true },
    actorRole: { type: String, default: null },
    action: { type: String, required: true, index: true },
    resource: { type: String, default: null },
    resourceId: { type: String, default: null },
    outcome: { type: String, required: true, enum: ['allowed', 'denied', 'failed', 'succeeded'] },
    fields: { type: [String], default: [] },
    details: { type: Schema.Types.Mixed, default: {} },
    ip: { type: String, default: null },
    userAgent: { type: String, default: null },
    requestId: { type: String, default: null },
    prevHash: { type: String, required: true, unique: true },
    keyId: { type: String, required: true },
    hash: { type: String, required: true },
  },
  { collection: 'audit_events', versionKey: false, minimize: false },
);
auditEventSchema.index({ resource: 1, resourceId: 1, seq: -1 });
auditEventSchema.index({ at: -1 });

const auditCounterSchema = new Schema<AuditCounterDoc>(
  { _id: { type: String, required: true }, seq: { type: Number, required: true } },
  { collection: 'audit_counters', versionKey: false },
);

export type AuditEventModel = Model<AuditEventDoc>;
export type AuditCounterModel = Model<AuditCounterDoc>;

export function registerAuditModels(conn: Connection): {
  AuditEvent: AuditEventModel;
  AuditCounter: AuditCounterModel;
} {
  return {
    AuditEvent: conn.models.AuditEvent ?? conn.model<AuditEventDoc>('AuditEvent', auditEventSchema),
    AuditCounter: conn.models.AuditCounter ?? conn.model<AuditCounterDoc>('AuditCounter', auditCounterSchema),
  };
}
