/**
 * Polls `check` until it holds, for conditions the test cannot be told about (a process's
 * output, a background job, a server coming back). The deadline is a generous upper bound
 * for a loaded machine, never the expected duration: a test never waits longer than needed.
 */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
