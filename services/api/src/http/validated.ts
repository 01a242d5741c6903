import { invalidRequestError } from '@ec2-restore/contracts';
import type { Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';

/**
 * Wraps a route handler so it only runs with input that passed the schema; otherwise the answer is
 * 400 `invalid_request` with one `{path, message}` per invalid field in details.issues.
 * `from` picks what is validated: the JSON body, the query string or the path parameters.
 */
export function validated<S extends z.ZodType>(
  from: 'body' | 'query' | 'params',
  schema: S,
  handler: (input: z.infer<S>, req: Request, res: Response) => Promise<void> | void,
): RequestHandler {
  return async (req, res) => {
    const raw = from === 'body' ? (req.body ?? undefined) : from === 'query' ? req.query : req.params;
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      const body = invalidRequestError(parsed.error);
      if (from !== 'body') {
        // Name where the field came from, so "status" in the query is not mistaken for a body field.
        const issues = body.error.details.issues as { path: string; message: string }[];
        for (const issue of issues) issue.path = `${from}.${issue.path}`;
      }
      res.status(400).json(body);
      return;
    }
    await handler(parsed.data, req, res);
  };
}
