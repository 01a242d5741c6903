import type { RequestHandler } from 'express';
import { buildOpenApiDocument } from '../openapi.ts';

/** GET /openapi.json: the OpenAPI 3.1 document, generated once from the contracts. */
export function openApi(): RequestHandler {
  const document = buildOpenApiDocument();
  return (_req, res) => {
    res.json(document);
  };
}
