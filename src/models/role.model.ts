import { Schema, type Connection, type Model } from 'mongoose';

/** A custom role: inherits every grant of its parent (a base role or another custom role) and adds its own. */
export interface RoleDoc {
  _id: string;
  parent: string;
  grants: string[];
  description: string;
  createdAt: Date;
  updatedAt: Date;
}

const schema = new Schema<RoleDoc>(
  {
    _id: { type: String, required: true },
    parent: { type: String, required: true },
    grants: { type: [String], default: [] },
    description: { type: String, default: '', maxlength: 200 },
  },
  { collection: 'roles', timestamps: true, versionKey: false },
);

export type RoleModel = Model<RoleDoc>;

export function registerRoleModels(conn: Connection): { Role: RoleModel } {
  return { Role: (conn.models.Role as RoleModel) ?? conn.model<RoleDoc>('Role', schema) };
}
