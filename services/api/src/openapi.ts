import { type errorCodes, openApiComponentSchemas, restoreStatusSchema } from '@ec2-restore/contracts';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });

function errorResponse(description: string, codes: (keyof typeof errorCodes)[]) {
  return { description: `${description} (error codes: ${codes.join(', ')})`, content: json(ref('Error')) };
}

const commonErrors = {
  '401': errorResponse('No bearer token, or not a configured one', ['unauthorized']),
  '500': errorResponse('Internal error', ['internal_error']),
};

const idParameter = (description: string) => ({
  name: 'id',
  in: 'path',
  required: true,
  description,
  schema: { type: 'string' },
});

/**
 * The OpenAPI 3.1 document of the public interface (docs/architecture.md#the-public-interface). Request and response
 * schemas are generated from the zod contracts, so the document and the validation never disagree.
 */
export function buildOpenApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'ec2-restore API',
      version: '1.0.0',
      description:
        'Restore an EC2 instance with KMS-encrypted EBS volumes from an image-level backup, into the same or another AWS account.',
    },
    servers: [{ url: '/' }],
    security: [{ bearerAuth: [] }],
    paths: {
      '/v1/restores': {
        post: {
          operationId: 'createRestore',
          summary: 'Start a restore',
          description:
            'Validates the request, runs the pre-flight checks with the credentials the steps will use, stores the restore and queues it. Nothing is created when a check fails.',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              description:
                'Same key and same body: the first restore is returned. Same key, other body: 409.',
              schema: { type: 'string', maxLength: 255 },
            },
          ],
          requestBody: { required: true, content: json(ref('RestoreRequest')) },
          responses: {
            '202': { description: 'The restore, queued', content: json(ref('Restore')) },
            '400': errorResponse('Invalid request; details.issues names each field', ['invalid_request']),
            '409': errorResponse('Idempotency-Key reused with another body', ['idempotency_conflict']),
            '422': errorResponse('A pre-flight check failed; details.checks lists every check', [
              'preflight_failed',
            ]),
            '503': errorResponse('Redis unreachable; nothing was started', ['service_unavailable']),
            ...commonErrors,
          },
        },
        get: {
          operationId: 'listRestores',
          summary: 'List restores, newest first',
          parameters: [
            {
              name: 'status',
              in: 'query',
              required: false,
              schema: { type: 'string', enum: restoreStatusSchema.options },
            },
            {
              name: 'limit',
              in: 'query',
              required: false,
              schema: { type: 'integer', minimum: 1, maximum: 500 },
            },
          ],
          responses: {
            '200': {
              description: 'The restores',
              content: json({
                type: 'object',
                required: ['restores'],
                properties: { restores: { type: 'array', items: ref('Restore') } },
              }),
            },
            '400': errorResponse('Invalid query', ['invalid_request']),
            ...commonErrors,
          },
        },
      },
      '/v1/restores/plan': {
        post: {
          operationId: 'planRestore',
          summary: 'Dry run: the checks, steps and resources of a restore; creates nothing',
          requestBody: { required: true, content: json(ref('RestoreRequest')) },
          responses: {
            '200': {
              description: 'The plan; ok is false when a check failed',
              content: json(ref('PlanResult')),
            },
            '400': errorResponse('Invalid request; details.issues names each field', ['invalid_request']),
            ...commonErrors,
          },
        },
      },
      '/v1/restores/{id}': {
        get: {
          operationId: 'getRestore',
          summary: 'One restore: status, steps, progress, result, error',
          parameters: [idParameter('Restore id')],
          responses: {
            '200': { description: 'The restore', content: json(ref('Restore')) },
            '404': errorResponse('No such restore', ['not_found']),
            ...commonErrors,
          },
        },
      },
      '/v1/restores/{id}/cancel': {
        post: {
          operationId: 'cancelRestore',
          summary: 'Stop a restore and clean up what it created',
          parameters: [idParameter('Restore id')],
          responses: {
            '202': { description: 'The restore, now cancelling', content: json(ref('Restore')) },
            '404': errorResponse('No such restore', ['not_found']),
            '409': errorResponse('The restore has already ended', ['restore_not_cancellable']),
            ...commonErrors,
          },
        },
      },
      '/v1/restores/{id}/events': {
        get: {
          operationId: 'restoreEvents',
          summary: 'Server-sent events of a restore: step, status, progress, end (closes after end)',
          description:
            'Each event has an id; reconnect with Last-Event-ID to resume. `step` data: {name, status, attempts}; `status`: {status, previous}; `progress`: {deviceName, bytesDone, bytesTotal, totalDone, total}; `end`: {status, result, error}.',
          parameters: [
            idParameter('Restore id'),
            { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } },
          ],
          responses: {
            '200': {
              description: 'An event stream',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            '404': errorResponse('No such restore', ['not_found']),
            ...commonErrors,
          },
        },
      },
      '/v1/restore-points': {
        get: {
          operationId: 'listRestorePoints',
          summary: 'The backup catalogue, newest first',
          responses: {
            '200': {
              description: 'Restore points',
              content: json({
                type: 'object',
                required: ['restorePoints'],
                properties: { restorePoints: { type: 'array', items: ref('RestorePoint') } },
              }),
            },
            ...commonErrors,
          },
        },
      },
      '/v1/restore-points/{id}': {
        get: {
          operationId: 'getRestorePoint',
          summary: 'One restore point: instance and volumes',
          parameters: [idParameter('Restore point id')],
          responses: {
            '200': { description: 'The restore point', content: json(ref('RestorePoint')) },
            '404': errorResponse('No such restore point', ['not_found']),
            ...commonErrors,
          },
        },
      },
      '/healthz': {
        get: {
          operationId: 'healthz',
          summary: 'Liveness',
          security: [],
          responses: { '200': { description: 'Alive' } },
        },
      },
      '/readyz': {
        get: {
          operationId: 'readyz',
          summary: 'Readiness: Redis reachable',
          responses: {
            '200': { description: 'Ready' },
            '503': errorResponse('Not ready', ['service_unavailable']),
          },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: 'Prometheus metrics',
          responses: { '200': { description: 'Text exposition format', content: { 'text/plain': {} } } },
        },
      },
      '/admin/queues': {
        get: {
          operationId: 'bullBoard',
          summary: 'Bull Board (HTML)',
          responses: { '200': { description: 'HTML' } },
        },
      },
    },
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } },
      schemas: { ...openApiComponentSchemas(), RestorePoint: restorePointJsonSchema },
    },
  };
}

/** The restore point summary of the backup catalogue (no block lists). */
const restorePointJsonSchema = {
  type: 'object',
  required: ['id', 'createdAt', 'instance', 'volumes', 'totalBytes', 'dataBytes'],
  properties: {
    id: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    description: { type: 'string' },
    instance: {
      type: 'object',
      description: 'The backed-up instance: type, platform, architecture, root device name, network, tags.',
    },
    volumes: {
      type: 'array',
      items: {
        type: 'object',
        required: ['deviceName', 'sizeGiB', 'volumeType', 'root'],
        properties: {
          deviceName: { type: 'string' },
          sizeGiB: { type: 'integer' },
          volumeType: { type: 'string' },
          iops: { type: 'integer' },
          throughput: { type: 'integer' },
          root: { type: 'boolean' },
        },
      },
    },
    totalBytes: { type: 'integer', description: 'Sum of the volume sizes.' },
    dataBytes: { type: 'integer', description: 'Bytes of non-zero blocks.' },
  },
};
