import { AWS_THROTTLING_CODES } from '@ec2-restore/contracts';
/** The error categories of the public API (docs/architecture.md#the-public-interface) that an AWS failure can fall in. */
export type AwsErrorCategory = 'input' | 'kms' | 'permission' | 'quota' | 'throttling' | 'aws';

export interface ClassifiedAwsError {
  /** AWS's error code (`InvalidSnapshot.NotFound`, `AccessDeniedException`) or the network error code. */
  code: string;
  message: string;
  category: AwsErrorCategory;
  /** Worth another attempt later: throttling, 5xx, timeouts, dropped connections. */
  retryable: boolean;
  /** The x-amzn-RequestId of the failed call, for the user to quote to AWS support. */
  requestId?: string;
  httpStatus?: number;
}

const TRANSIENT_CODES = new Set([
  'InternalError',
  'InternalFailure',
  'InternalServerError',
  'InternalServerException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'Unavailable',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

// KMS's own exceptions (https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html and each
// operation's Errors section) and EC2's KMS-related codes.
const KMS_CODES = new Set([
  'DisabledException',
  'KMSInvalidStateException',
  'KMSInvalidSignatureException',
  'KeyUnavailableException',
  'InvalidKeyUsageException',
  'IncorrectKeyException',
  'InvalidGrantTokenException',
  'InvalidGrantIdException',
  'InvalidCiphertextException',
  'DependencyTimeoutException',
  'KMSInternalException',
  'InvalidKMSKey.InvalidState',
  'KMSKeyNotAccessibleFault',
  'KMS.DisabledException',
  'KMS.NotFoundException',
  'KMS.KMSInvalidStateException',
  'KMS.AccessDeniedException',
]);

const PERMISSION_CODES = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'AuthFailure',
  'OptInRequired',
  'Blocked',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'UnrecognizedClientException',
  'OperationNotPermitted',
]);

const QUOTA_CODES = new Set([
  'VolumeLimitExceeded',
  'SnapshotLimitExceeded',
  'SnapshotCreationPerVolumeRateExceeded',
  'InstanceLimitExceeded',
  'VcpuLimitExceeded',
  'MaxIOPSLimitExceeded',
  'InsufficientInstanceCapacity',
  'InsufficientVolumeCapacity',
  'ServiceQuotaExceededException',
  'LimitExceededException',
  'ResourceLimitExceeded',
]);

/**
 * "Does not exist" for resources the product itself creates. Right after a create, EC2 answers these
 * for a while: its API is eventually consistent and a new id may not be visible yet
 * (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html: back off and try again,
 * "up to a few minutes"). So they are worth another attempt, not a permanent input error; the steps
 * that create resources bound how long they wait. Ids a user gives (subnets, security groups) are
 * checked before the restore starts and stay input errors.
 */
const NEW_RESOURCE_NOT_FOUND_CODES = new Set([
  'InvalidVolume.NotFound',
  'InvalidSnapshot.NotFound',
  'InvalidInstanceID.NotFound',
  'InvalidAttachment.NotFound',
  // The temporary image a restore registers (an Amazon base image comes from SSM and exists long since).
  'InvalidAMIID.NotFound',
]);

/** EC2's answer that a new volume, snapshot, instance, image or attachment is not visible (yet). */
export function isNewResourceNotFound(error: unknown): boolean {
  const e = (typeof error === 'object' && error !== null ? error : {}) as SdkLikeError;
  return NEW_RESOURCE_NOT_FOUND_CODES.has(e.Code ?? e.code ?? e.name ?? '');
}

interface SdkLikeError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string; extendedRequestId?: string };
  $retryable?: unknown;
  $fault?: 'client' | 'server';
}

function mentionsKms(message: string): boolean {
  return /\bkms[:.]|KMS key|key policy|EBS default key|alias\/aws\/ebs/i.test(message);
}

/**
 * Puts an AWS SDK (or network) error in one of the API's categories and says whether it is worth
 * retrying. The one place where AWS errors are classified: errors are classified once, not at every call site.
 */
export function classifyAwsError(error: unknown): ClassifiedAwsError {
  const e = (
    typeof error === 'object' && error !== null ? error : { message: String(error) }
  ) as SdkLikeError;
  const code = e.Code ?? e.code ?? e.name ?? 'UnknownError';
  const message = e.message ?? String(error);
  const httpStatus = e.$metadata?.httpStatusCode;
  const requestId = e.$metadata?.requestId;
  const base = {
    code,
    message,
    ...(requestId ? { requestId } : {}),
    ...(httpStatus !== undefined ? { httpStatus } : {}),
  };

  if (AWS_THROTTLING_CODES.has(code) || httpStatus === 429)
    return { ...base, category: 'throttling', retryable: true };
  if (TRANSIENT_CODES.has(code) || (httpStatus !== undefined && httpStatus >= 500) || e.$fault === 'server') {
    return { ...base, category: 'aws', retryable: true };
  }
  if (NEW_RESOURCE_NOT_FOUND_CODES.has(code)) return { ...base, category: 'aws', retryable: true };
  if (KMS_CODES.has(code) || code.startsWith('InvalidKMSKey') || code.startsWith('KMS')) {
    return { ...base, category: 'kms', retryable: false };
  }
  if (PERMISSION_CODES.has(code)) {
    // A refusal that names a KMS action or key is a key problem: the remedy is the key policy.
    return { ...base, category: mentionsKms(message) ? 'kms' : 'permission', retryable: false };
  }
  if (QUOTA_CODES.has(code) || /LimitExceeded$/.test(code))
    return { ...base, category: 'quota', retryable: false };
  if (
    code.startsWith('Invalid') ||
    code.startsWith('Missing') ||
    code === 'ValidationException' ||
    code === 'NotFoundException' ||
    code === 'ResourceNotFoundException' ||
    code === 'UnsupportedOperation'
  ) {
    return { ...base, category: mentionsKms(message) ? 'kms' : 'input', retryable: false };
  }
  return { ...base, category: 'aws', retryable: false };
}
