import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express, { type Router } from 'express';
import { buildOpenApiDocument } from '../openapi.ts';

export const API_DOCS_PATH = '/docs';

/**
 * The folder of the swagger-ui-dist package: its files are served from here, never from a CDN (an
 * operator's network may have no way out, and the page must not depend on a third party).
 */
function swaggerUiFolder(): string {
  return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
}

const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>ec2-restore API reference</title>
  <link rel="icon" type="image/png" href="favicon-32x32.png">
  <link rel="stylesheet" href="swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="swagger-ui-bundle.js"></script>
  <script src="init.js"></script>
</body>
</html>
`;

// Relative URLs: the page is /docs/, so the spec is /docs/openapi.json, inside the path the browser
// already sent Basic credentials for. validatorUrl null: no call to the public validator service.
const init = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: 'openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    docExpansion: 'list',
    defaultModelsExpandDepth: 1,
    displayRequestDuration: true,
    validatorUrl: null,
  });
});
`;

/**
 * GET /docs: the API reference, rendered in the browser by Swagger UI from the same OpenAPI document
 * as GET /openapi.json, with the request examples. Mounted behind the API's token check; a browser
 * logs in with Basic auth (any user name, a token as the password), as for Bull Board.
 */
export function apiDocsRouter(): Router {
  const router = express.Router({ strict: true });
  const folder = swaggerUiFolder();
  const document = buildOpenApiDocument();
  router.use((_req, res, next) => {
    // Everything the page loads comes from here; Swagger UI styles some elements inline.
    res.set(
      'Content-Security-Policy',
      "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'",
    );
    next();
  });
  router.get('/', (req, res) => {
    // `/docs` without the slash: redirect, so the page's relative URLs resolve under /docs/.
    if (!req.originalUrl.split('?')[0]!.endsWith('/')) {
      res.redirect(301, `${req.baseUrl}/`);
      return;
    }
    res.type('html').send(page);
  });
  router.get('/init.js', (_req, res) => {
    res.type('application/javascript').send(init);
  });
  router.get('/openapi.json', (_req, res) => {
    res.json(document);
  });
  for (const file of ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png']) {
    router.get(`/${file}`, (_req, res) => {
      // root: the package folder may lie under a dot folder (node_modules/.pnpm), which `send` would
      // refuse as a dotfile when given as part of an absolute path.
      res.sendFile(file, { root: folder, maxAge: '1h' });
    });
  }
  return router;
}
