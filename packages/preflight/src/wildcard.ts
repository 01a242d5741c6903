/**
 * IAM wildcard matching: `*` matches any run of characters (also none), `?` exactly one; every
 * other character is literal. Used for Action (case-insensitive, as IAM compares action names),
 * StringLike / ArnLike values and Resource ARNs (case-sensitive).
 * See https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
 */
export function matchesWildcard(
  pattern: string,
  value: string,
  options: { ignoreCase?: boolean } = {},
): boolean {
  const p = options.ignoreCase ? pattern.toLowerCase() : pattern;
  const v = options.ignoreCase ? value.toLowerCase() : value;
  // Iterative glob match with backtracking to the last `*`: linear in practice, no regex building.
  let pi = 0;
  let vi = 0;
  let starAt = -1;
  let starMatchedUpTo = 0;
  while (vi < v.length) {
    const pc = p[pi];
    if (pc === '*') {
      starAt = pi++;
      starMatchedUpTo = vi;
    } else if (pc !== undefined && (pc === '?' || pc === v[vi])) {
      pi++;
      vi++;
    } else if (starAt !== -1) {
      pi = starAt + 1;
      vi = ++starMatchedUpTo;
    } else {
      return false;
    }
  }
  while (p[pi] === '*') pi++;
  return pi === p.length;
}

/**
 * ARN matching of ArnLike / ArnEquals and Resource: the six colon-separated parts are compared part
 * by part, each with wildcards, so a `*` never spans a colon into another part (the resource part,
 * the last, may contain colons itself).
 * See https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN
 */
export function matchesArnPattern(pattern: string, arn: string): boolean {
  if (pattern === '*') return true;
  const patternParts = splitArn(pattern);
  const arnParts = splitArn(arn);
  if (!arnParts) return matchesWildcard(pattern, arn);
  if (!patternParts) return false; // a pattern of fewer than six parts matches no ARN
  return patternParts.every((part, index) => matchesWildcard(part, arnParts[index] ?? ''));
}

function splitArn(value: string): string[] | undefined {
  const parts = value.split(':');
  if (parts.length < 6) return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}
