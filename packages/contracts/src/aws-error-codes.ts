/**
 * AWS's "slow down and try again" error codes
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/throttling.html and the SDK's own list). One
 * list for the error classification (`@ec2-restore/aws-clients`) and the throttle metrics
 * (`@ec2-restore/restore-state`), which does not depend on the AWS SDK.
 */
export const AWS_THROTTLING_CODES: ReadonlySet<string> = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ProvisionedThroughputExceededException',
  'BandwidthLimitExceeded',
  'PriorRequestNotComplete',
  'EC2ThrottledException',
  // EBS direct: "You have reached the limit for concurrent API requests"; it passes as the requests in
  // flight finish, so it is a "slow down", not a quota to raise
  // (https://docs.aws.amazon.com/ebs/latest/APIReference/API_PutSnapshotBlock.html#API_PutSnapshotBlock_Errors).
  'ConcurrentLimitExceededException',
]);
