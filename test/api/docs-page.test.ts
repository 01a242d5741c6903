import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApi, TOKEN } from '../support/index.ts';

/**
 * GET /docs in a real browser: Debian's Chromium, headless, driven by playwright-core. CI installs
 * the `chromium` package (.ci/run); elsewhere the test is skipped when it is missing, and says so.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) {
  throw new Error(`CI must run the /docs browser test: install Debian's chromium (${CHROMIUM} is missing)`);
}

let api: ApiHarness;
let context: BrowserContext | undefined;

beforeAll(async () => {
  api = await startApi();
  if (!haveChromium) return;
  // A fresh profile each run (playwright passes it as --user-data-dir).
  context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'ec2-restore-chromium-')), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    httpCredentials: { username: 'operator', password: TOKEN },
    viewport: { width: 1280, height: 1600 },
  });
}, 120_000);

afterAll(async () => {
  await context?.close();
  await api?.close();
});

describe('the API reference page', () => {
  it('is behind the API tokens: 401 with a Basic challenge without one', async () => {
    const res = await fetch(`${api.baseUrl}/docs/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    const wrong = await fetch(`${api.baseUrl}/docs/openapi.json`, {
      headers: { authorization: `Basic ${Buffer.from('me:wrong').toString('base64')}` },
    });
    expect(wrong.status).toBe(401);
  });

  it.skipIf(!haveChromium)(
    'renders every restore operation and the request examples in headless Chromium, from local assets only',
    async () => {
      const page = await context!.newPage();
      const foreign: string[] = [];
      page.on('request', (request) => {
        if (!request.url().startsWith(api.baseUrl)) foreign.push(request.url());
      });
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(message.text());
      });
      page.on('response', (answer) => {
        if (answer.status() >= 400) errors.push(`${answer.status()} ${answer.url()}`);
      });

      const response = await page.goto(`${api.baseUrl}/docs`);
      expect(response?.ok()).toBe(true);
      expect(page.url()).toBe(`${api.baseUrl}/docs/`);
      await page
        .locator('.opblock')
        .first()
        .waitFor({ timeout: 60_000 })
        .catch((error: Error) => {
          throw new Error(`${error.message}\nbrowser errors: ${errors.join('\n')}`);
        });

      await expect.poll(() => page.locator('.info .title').textContent()).toContain('ec2-restore API');
      const operations = await page.locator('.opblock-summary').allInnerTexts();
      const flat = operations.map((text) => text.replace(/\s+/g, ' '));
      for (const [method, path, summary] of [
        ['POST', '/v1/restores', 'Start a restore'],
        ['POST', '/v1/restores/plan', 'Dry run'],
        ['GET', '/v1/restores', 'List restores'],
        ['GET', '/v1/restores/{id}', 'One restore'],
        ['POST', '/v1/restores/{id}/cancel', 'Stop a restore'],
        ['GET', '/v1/restores/{id}/events', 'Server-sent events'],
        ['GET', '/v1/restore-points', 'The backup catalogue'],
      ] as const) {
        expect(
          flat.some((text) => text.includes(method) && text.includes(path) && text.includes(summary)),
          `${method} ${path} in ${JSON.stringify(flat)}`,
        ).toBe(true);
      }

      // Open "Start a restore": the request body shows the examples.
      await page.locator('.opblock-post .opblock-summary', { hasText: 'Start a restore' }).first().click();
      const body = page.locator('.opblock-post.is-open .opblock-section-request-body').first();
      await body.waitFor({ timeout: 30_000 });
      await expect.poll(() => body.textContent()).toContain('Whole instance into another account');
      await expect.poll(() => body.textContent()).toContain('restorePointId');

      const screenshot = process.env.DOCS_SCREENSHOT ?? join(tmpdir(), 'ec2-restore-docs.png');
      await page
        .locator('.opblock-post.is-open .examples-select, .opblock-post.is-open select')
        .first()
        .scrollIntoViewIfNeeded();
      await page.screenshot({ path: screenshot, fullPage: false });
      console.log(`screenshot of /docs: ${screenshot}`);

      expect(foreign).toEqual([]);
      expect(errors).toEqual([]);
    },
    180_000,
  );
});
