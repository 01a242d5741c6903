import { restoreRequestSchema } from '@ec2-restore/contracts';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument, restoreRequestExamples } from './openapi.ts';

describe('the OpenAPI document', () => {
  it.each(Object.entries(restoreRequestExamples))(
    'example %s is a valid restore request',
    (_name, example) => {
      const parsed = restoreRequestSchema.safeParse(example.value);
      expect(parsed.error?.issues ?? []).toEqual([]);
    },
  );

  it('shows the examples on both operations that take a restore request', () => {
    const paths = buildOpenApiDocument().paths as Record<
      string,
      Record<string, { requestBody?: { content: Record<string, { examples?: object }> } }>
    >;
    for (const path of ['/v1/restores', '/v1/restores/plan']) {
      const examples = paths[path]!.post!.requestBody!.content['application/json']!.examples;
      expect(Object.keys(examples ?? {})).toEqual(Object.keys(restoreRequestExamples));
    }
  });
});
