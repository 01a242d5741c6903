import { z } from 'zod';
import { checkSchema } from './checks.ts';
import { apiErrorSchema } from './errors.ts';
import { planResultSchema } from './plan.ts';
import { restoreRequestSchema } from './request.ts';
import { restoreSchema } from './restore.ts';

/**
 * JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) of a contract schema, generated from the zod
 * schema so the two never disagree. `io: 'input'` describes what a client sends (defaults optional);
 * `'output'` what the API returns. Refinements across fields (e.g. role account = target account)
 * are checked by zod only.
 */
export function toJsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  return z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
}

/** OpenAPI 3.1 `components.schemas` for the public interface (docs/architecture.md#the-public-interface). */
export function openApiComponentSchemas(): Record<string, Record<string, unknown>> {
  const strip = ({ $schema: _ignored, ...rest }: Record<string, unknown>) => rest;
  return {
    RestoreRequest: strip(toJsonSchema(restoreRequestSchema, 'input')),
    Restore: strip(toJsonSchema(restoreSchema)),
    PlanResult: strip(toJsonSchema(planResultSchema)),
    Check: strip(toJsonSchema(checkSchema)),
    Error: strip(toJsonSchema(apiErrorSchema)),
  };
}
