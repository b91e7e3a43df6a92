import { Schema, type Connection, type Model } from 'mongoose';

export type InvoiceStatus = 'draft' | 'approved' | 'paid';

export interface InvoiceDoc {
  _id: string;
  number: string;
  customer: string;
  /** Minor units (cents): no floating point for money. */
  amount: number;
  currency: string;
  status: InvoiceStatus;
  department: string;
  createdBy: string;
  approvedBy: string | null;
  approvedAt: Date | null;
  paidAt: Date | null;
  /** Count of changes; every change goes through VersionedWriter and sets it +1 (the ETag). */
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

const schema = new Schema<InvoiceDoc>(
  {
    _id: { type: String, required: true },
    number: { type: String, required: true, unique: true, maxlength: 40 },
    customer: { type: String, required: true, maxlength: 200 },
    amount: { type: Number, required: true, min: 0 },
    currency: { type: String, required: true, match: /^[A-Z]{3}$/ },
    status: { type: String, enum: ['draft', 'approved', 'paid'], default: 'draft' },
    department: { type: String, required: true, maxlength: 64 },
    createdBy: { type: String, required: true },
    approvedBy: { type: String, default: null },
    approvedAt: { type: Date, default: null },
    paidAt: { type: Date, default: null },
    version: { type: Number, default: 0, min: 0 },
  },
  { collection: 'invoices', timestamps: true, versionKey: false },
);
// The list pages: a department's (manager) or one's own (staff) invoices, newest first, with the
// list's `_id` tie-break, so MongoDB walks the index in order instead of sorting in memory; the
// status filter keeps its own index.
schema.index({ department: 1, createdAt: -1, _id: 1 });
schema.index({ department: 1, status: 1, createdAt: -1 });
schema.index({ createdBy: 1, createdAt: -1, _id: 1 });

export type InvoiceModel = Model<InvoiceDoc>;

export function registerInvoiceModels(conn: Connection): { Invoice: InvoiceModel } {
  return { Invoice: (conn.models.Invoice as InvoiceModel) ?? conn.model<InvoiceDoc>('Invoice', schema) };
}
