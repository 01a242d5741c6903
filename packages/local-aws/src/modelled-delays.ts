/** A delay the emulator modelled on AWS's behalf (ec2restore_emulator/test_only.py, `record_delays`). */
export interface ModelledDelay {
  /**
   * `new-id`: a new instance, volume, snapshot or image id answers NotFound (EC2 eventual consistency);
   * `share`: a snapshot just shared is not yet visible to the grantee; `seal`: a snapshot stays
   * `pending` after CompleteSnapshot; `pending`: a snapshot EC2 makes (CreateSnapshot, CopySnapshot)
   * stays `pending` before it is `completed`.
   */
  kind: 'new-id' | 'share' | 'seal' | 'pending';
  /** The id the delay is about (the shared snapshot for `share`). */
  id: string;
  /** The account (or `all`) a share is for; empty for the other kinds. */
  grantee: string;
  /** When the delay began and ended, epoch milliseconds (the emulator's clock: this machine's). */
  fromMs: number;
  untilMs: number;
  /** Whether some request was answered as if it still ran: someone waited for it. */
  waited: boolean;
}

/**
 * Test harness only (no AWS operation): the delays the emulator at `endpoint` modelled that began at
 * `sinceMs` or later (the emulator keeps the last few thousand).
 */
export async function modelledDelaysSince(endpoint: string, sinceMs: number): Promise<ModelledDelay[]> {
  const res = await fetch(`${endpoint}/ec2restore-test-only/delays?sinceMs=${sinceMs}`, {
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) {
    throw new Error(
      `the emulator at ${endpoint} did not list its delays (HTTP ${res.status}: ${await res.text()}); ` +
        'is it the local AWS emulator of this checkout?',
    );
  }
  return ((await res.json()) as { delays: ModelledDelay[] }).delays;
}
