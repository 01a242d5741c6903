import type { Redis } from 'ioredis';

/**
 * The members of a sorted set with a score at most `upTo`, lowest score first, `pageSize` at a time:
 * one ZRANGEBYSCORE per page, so a walk over any number of members holds one page. The cursor is the
 * last score read plus the members seen at that score (several may share a millisecond). A member
 * added or removed during the walk may or may not be seen; none is seen twice.
 */
export async function* scorePages(
  redis: Redis,
  key: string,
  upTo: number,
  pageSize: number,
): AsyncGenerator<string[]> {
  let from = Number.NEGATIVE_INFINITY;
  let seenAtFrom = new Set<string>();
  for (;;) {
    const asked = pageSize + seenAtFrom.size;
    const min = from === Number.NEGATIVE_INFINITY ? '-inf' : String(from);
    const reply = await redis.zrangebyscore(key, min, String(upTo), 'WITHSCORES', 'LIMIT', 0, asked);
    const page: string[] = [];
    let last = from;
    let atLast = new Set<string>();
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const member = reply[i]!;
      const score = Number(reply[i + 1]);
      if (score === from && seenAtFrom.has(member)) {
        atLast.add(member);
        continue;
      }
      page.push(member);
      if (score !== last) atLast = new Set();
      last = score;
      atLast.add(member);
    }
    if (page.length > 0) yield page;
    if (reply.length / 2 < asked || page.length === 0) return;
    from = last;
    seenAtFrom = atLast;
  }
}
