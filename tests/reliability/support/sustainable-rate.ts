/**
 * The mixed workload's sustainable rate on the machine's own database, for the load and soak
 * tests' defaults. On FerretDB 1.24 (SQLite), which sorts and counts every list by reading all
 * of a department's invoices (docs/PERFORMANCE.md "invoice-page"), a department of 1,000
 * invoices sustains about 10-14 req/s of the mixed workload on the 2-core test machine
 * (LOAD_RATE=10: p99 1.8 s, all answered; LOAD_RATE=25: 14 req/s answered, p99 9.7 s).
 * Against MongoDB, set LOAD_RATE / SOAK_RATE (and LOAD_INVOICES / SOAK_INVOICES) to the rate
 * `npm run bench -- mixed` reports.
 */
export const MIXED_INVOICES = 1_000;
export const MIXED_SUSTAINABLE_RATE = 10;
