import {
  type errorCodes,
  openApiComponentSchemas,
  restorePointSummarySchema,
  restoreStatusSchema,
  toJsonSchema,
} from '@ec2-restore/contracts';

const withoutDialect = ({ $schema: _ignored, ...rest }: Record<string, unknown>) => rest;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });

function errorResponse(description: string, codes: (keyof typeof errorCodes)[]) {
  return { description: `${description} (error codes: ${codes.join(', ')})`, content: json(ref('Error')) };
}

/** A request that reads an S3 backup repository the worker role may not read. */
const repositoryRefusedText =
  'The backup repository (S3) refused the worker role a read; details.action names what an operator must allow';

const commonErrors = {
  '401': errorResponse('No bearer token, or not a configured one', ['unauthorized']),
  '500': errorResponse('Internal error', ['internal_error']),
};

/** The success answer of an operation: its status, what it is, and its JSON schema. */
const ok = (status: string, description: string, schema: unknown) => ({
  [status]: { description, content: json(schema) },
});

/** The schema of `{ <key>: [<item>, ...] }`. */
const listOf = (key: string, item: string) => ({
  type: 'object',
  required: [key],
  properties: { [key]: { type: 'array', items: ref(item) } },
});

interface OperationDetails {
  description?: string;
  parameters?: unknown[];
  requestBody?: unknown;
  /** The operation's own error answers; the common ones (401, 500) are added. */
  errors?: Record<string, unknown>;
}

/** An operation of the API (behind the bearer token): its answers are `success`, its errors and the common ones. */
function operation(
  operationId: string,
  summary: string,
  success: Record<string, unknown>,
  { errors = {}, ...details }: OperationDetails = {},
) {
  return { operationId, summary, ...details, responses: { ...success, ...errors, ...commonErrors } };
}

/**
 * Example requests, shown by the API reference page (/docs) and any OpenAPI tool: one per kind of
 * restore a user starts with.
 */
export const restoreRequestExamples = {
  crossAccount: {
    summary: 'Whole instance into another account',
    description:
      'The restore role in the target account trusts the worker role (with this ExternalId); the volumes are encrypted with the target key.',
    value: {
      restorePointId: 'rp-20261127T114134Z-819565fe',
      target: {
        accountId: '222222222222',
        region: 'eu-west-1',
        roleArn: 'arn:aws:iam::222222222222:role/ec2-restore',
        externalId: 'ec2-restore-prod',
        kmsKeyId: 'arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      },
      instance: {
        name: 'web-1-restored',
        subnetId: 'subnet-0123456789abcdef0',
        securityGroupIds: ['sg-0123456789abcdef0'],
        tags: { ticket: 'INC-1234' },
      },
    },
  },
  sameAccount: {
    summary: "Whole instance into the workers' own account",
    value: {
      restorePointId: 'rp-20261127T114134Z-819565fe',
      target: { accountId: '111111111111', region: 'eu-west-1', kmsKeyId: 'alias/restore' },
      instance: { instanceType: 't3.large', powerOn: true },
    },
  },
  volumesIntoInstance: {
    summary: 'Two volumes, attached to an existing instance',
    value: {
      restorePointId: 'rp-20261127T114134Z-819565fe',
      target: { accountId: '111111111111', region: 'eu-west-1', kmsKeyId: 'alias/restore' },
      volumes: ['/dev/xvdf', '/dev/xvdg'],
      instance: { instanceId: 'i-0123456789abcdef0' },
      dataPath: 'worker-volume',
    },
  },
};

const restoreRequestBody = {
  required: true,
  content: {
    'application/json': { schema: ref('RestoreRequest'), examples: restoreRequestExamples },
  },
};

/**
 * The details of an operation on one `thing` (restore, restore point) named by its id: the path
 * parameter, then `parameters`; a 404 when there is no such thing, then `errors`.
 */
function onOne(thing: string, errors: Record<string, unknown> = {}, parameters: unknown[] = []) {
  const description = `${thing.charAt(0).toUpperCase()}${thing.slice(1)} id`;
  return {
    parameters: [
      { name: 'id', in: 'path', required: true, description, schema: { type: 'string' } },
      ...parameters,
    ],
    errors: { '404': errorResponse(`No such ${thing}`, ['not_found']), ...errors },
  };
}

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
        post: operation(
          'createRestore',
          'Start a restore',
          ok('202', 'The restore, queued', ref('Restore')),
          {
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
            requestBody: restoreRequestBody,
            errors: {
              '400': errorResponse('Invalid request; details.issues names each field', ['invalid_request']),
              '403': errorResponse(repositoryRefusedText, ['access_denied']),
              '409': errorResponse('Idempotency-Key reused with another body', ['idempotency_conflict']),
              '422': errorResponse('A pre-flight check failed; details.checks lists every check', [
                'preflight_failed',
              ]),
              '429': errorResponse('The EC2 call budget is spent for now; nothing was started', [
                'throttled',
              ]),
              '503': errorResponse('Redis unreachable; nothing was started', ['service_unavailable']),
              '504': errorResponse('AWS did not answer the pre-flight checks in time; nothing was started', [
                'preflight_timeout',
              ]),
            },
          },
        ),
        get: operation(
          'listRestores',
          'List restores, newest first',
          ok('200', 'The restores', listOf('restores', 'Restore')),
          {
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
            errors: { '400': errorResponse('Invalid query', ['invalid_request']) },
          },
        ),
      },
      '/v1/restores/plan': {
        post: operation(
          'planRestore',
          'Dry run: the checks, steps and resources of a restore; creates nothing',
          ok('200', 'The plan; ok is false when a check failed', ref('PlanResult')),
          {
            requestBody: restoreRequestBody,
            errors: {
              '400': errorResponse('Invalid request; details.issues names each field', ['invalid_request']),
              '403': errorResponse(repositoryRefusedText, ['access_denied']),
              '429': errorResponse('The EC2 call budget is spent for now; try again shortly', ['throttled']),
              '504': errorResponse('AWS did not answer the pre-flight checks in time', ['preflight_timeout']),
            },
          },
        ),
      },
      '/v1/restores/{id}': {
        get: operation(
          'getRestore',
          'One restore: status, steps, progress, result, error',
          ok('200', 'The restore', ref('Restore')),
          onOne('restore'),
        ),
      },
      '/v1/restores/{id}/cancel': {
        post: operation(
          'cancelRestore',
          'Stop a restore and clean up what it created',
          ok('202', 'The restore, now cancelling', ref('Restore')),
          onOne('restore', {
            '409': errorResponse('The restore has already ended', ['restore_not_cancellable']),
          }),
        ),
      },
      '/v1/restores/{id}/events': {
        get: operation(
          'restoreEvents',
          'Server-sent events of a restore: step, status, progress, end (closes after end)',
          {
            '200': {
              description: 'An event stream',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
          },
          {
            description:
              'Each event has an id; reconnect with Last-Event-ID to resume. `step` data: {name, status, attempts}; `status`: {status, previous}; `progress`: {deviceName, bytesDone, bytesTotal, totalDone, total}; `end`: {status, result, error}.',
            ...onOne('restore', {}, [
              { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } },
            ]),
          },
        ),
      },
      '/v1/restore-points': {
        get: operation(
          'listRestorePoints',
          'The backup catalogue, newest first',
          ok('200', 'Restore points', listOf('restorePoints', 'RestorePoint')),
          { errors: { '403': errorResponse(repositoryRefusedText, ['access_denied']) } },
        ),
      },
      '/v1/restore-points/{id}': {
        get: operation(
          'getRestorePoint',
          'One restore point: instance and volumes',
          ok('200', 'The restore point', ref('RestorePoint')),
          onOne('restore point', { '403': errorResponse(repositoryRefusedText, ['access_denied']) }),
        ),
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
      schemas: {
        ...openApiComponentSchemas(),
        RestorePoint: withoutDialect(toJsonSchema(restorePointSummarySchema)),
      },
    },
  };
}
