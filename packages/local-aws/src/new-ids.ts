/**
 * AWS is eventually consistent, and so is the emulator (on by default): for a moment after the call that
 * made it, a new volume, instance, snapshot or image id answers `Invalid*.NotFound`, and a snapshot
 * StartSnapshot just made answers EBS direct's `ResourceNotFoundException`
 * (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html). Test set-up code that
 * uses an id it has just made waits for it here, as the product's own code does.
 */

const NOT_VISIBLE_YET = /^Invalid[A-Za-z]*\.NotFound$|^ResourceNotFoundException$/;

/** True for an answer that a new id does not exist (yet). */
export function isNotVisibleYet(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name ?? '';
  return NOT_VISIBLE_YET.test(name);
}

/**
 * Runs `call` until it no longer answers that an id does not exist, for up to `timeoutMs`; any other
 * error, and the last "does not exist" after the bound, is thrown.
 */
export async function onceVisible<T>(call: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!isNotVisibleYet(error) || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
