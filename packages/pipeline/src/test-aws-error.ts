/**
 * For the unit tests of this package: an error shaped as the AWS SDK throws one (its `name` is AWS's
 * error code, `$metadata` carries the HTTP status and request id), for EC2 clients answered in the test.
 */
export function awsError(name: string, message: string, httpStatusCode: number, requestId = 'req-1'): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode, requestId } });
}
