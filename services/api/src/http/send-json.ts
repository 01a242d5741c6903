import type { Response } from 'express';

/**
 * Sends JSON text as it is. Express's `res.send` copies a body of over 1,000 characters into a Buffer to
 * count its bytes and hash an ETag: one external allocation per answer, which at 100 list requests a
 * second (50 restores, ~70 KB each answer) brought a major GC every few seconds. Here the length is
 * counted without a copy and node writes the string to the socket itself. No ETag: no client of the
 * API sends If-None-Match.
 */
export function sendJsonText(res: Response, body: string): void {
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
