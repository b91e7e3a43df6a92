export default async function globalTeardown(): Promise<void> {
  const g = globalThis as { __erpTestServices?: Array<() => Promise<void>> };
  for (const stop of g.__erpTestServices ?? []) await stop();
}
