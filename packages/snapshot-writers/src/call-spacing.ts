/**
 * EBS takes at most 1,000 PutSnapshotBlock requests per second for one snapshot ("PutSnapshotBlock requests
 * per snapshot", Amazon EBS endpoints and quotas, https://docs.aws.amazon.com/general/latest/gr/ebs-service.html);
 * past it a request answers RequestThrottledException. The writer spaces its requests below that rate
 * instead of meeting the quota and backing off: a throttled block waits a random backoff (up to hundreds of
 * milliseconds), and near the end of a volume, when few blocks are left, nothing is in flight meanwhile.
 * 5% under the quota, so that requests bunched on their way (a busy host, the network) stay under it too.
 */
export const DEFAULT_PUTS_PER_SECOND = 950;

/**
 * Hands out evenly spaced start times, `perSecond` of them a second, in the order they are asked for.
 * No burst: a caller that falls behind (nothing asked for a while) starts at once, and the ones after it
 * are spaced from there, so no one-second window holds more than `perSecond` + 1 starts.
 */
export class CallSpacing {
  private readonly intervalMs: number;
  private next = Number.NEGATIVE_INFINITY;

  /** `perSecond` 0: no spacing. */
  constructor(
    perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!Number.isFinite(perSecond) || perSecond < 0) {
      throw new RangeError(`perSecond must be 0 or a positive number, got ${perSecond}`);
    }
    this.intervalMs = perSecond === 0 ? 0 : 1000 / perSecond;
  }

  /** Books the next start; answers how many milliseconds from now it is (0: go now). */
  reserve(): number {
    if (this.intervalMs === 0) return 0;
    const now = this.now();
    const at = Math.max(now, this.next);
    this.next = at + this.intervalMs;
    return at - now;
  }
}
