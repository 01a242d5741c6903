import { describe, expect, it } from 'vitest';
import { BufferPool } from './buffer-pool.ts';

describe('BufferPool', () => {
  it('lends at most its buffers at once; a borrower waits for one given back, early or at the end', async () => {
    const pool = new BufferPool(2, 8);
    let out = 0;
    let most = 0;
    const work = Array.from({ length: 10 }, (_, i) =>
      pool.with(async (buffer, release) => {
        out += 1;
        most = Math.max(most, out);
        buffer.fill(i);
        await new Promise((resolve) => setTimeout(resolve, 2));
        out -= 1;
        if (i % 2 === 0) release(); // given back early; the end gives it back no second time
        await new Promise((resolve) => setTimeout(resolve, 2));
      }),
    );
    await Promise.all(work);
    expect(most).toBe(2);
    const a = await pool.acquire();
    const b = await pool.acquire();
    expect(a).not.toBe(b);
    let third = false;
    void pool.acquire().then(() => {
      third = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(third).toBe(false);
  });
});
