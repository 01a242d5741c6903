import type { ContextValue, PolicyStatement } from './policy-types.ts';
import { matchesArnPattern, matchesWildcard } from './wildcard.ts';

/*
 * The Condition element of a policy statement, as IAM evaluates it (the operators KMS key policies use):
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
 */

/** A policy element that may be one value or a list, as a list. */
export function asArray<T>(value: T | readonly T[] | undefined): readonly T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

type Comparator = (policyValue: string, requestValue: string) => boolean;

const comparators: Record<string, Comparator> = {
  stringequals: (p, r) => p === r,
  stringequalsignorecase: (p, r) => p.toLowerCase() === r.toLowerCase(),
  stringlike: (p, r) => matchesWildcard(p, r),
  bool: (p, r) => p.toLowerCase() === r.toLowerCase(),
  arnequals: (p, r) => matchesArnPattern(p, r),
  arnlike: (p, r) => matchesArnPattern(p, r),
};

const negated: Record<string, string> = {
  stringnotequals: 'stringequals',
  stringnotequalsignorecase: 'stringequalsignorecase',
  stringnotlike: 'stringlike',
  arnnotequals: 'arnequals',
  arnnotlike: 'arnlike',
};

/** Operators this evaluator does not know (Numeric*, Date*, IpAddress…): treated conservatively. */
export class UnsupportedConditionError extends Error {}

/**
 * Evaluates one `"Operator": {"key": values}` entry. Missing keys: positive operators are false
 * (true with IfExists), negated operators are true; ForAnyValue is false on a missing or empty key,
 * ForAllValues true.
 */
function conditionEntryMatches(
  operatorName: string,
  key: string,
  policyValues: readonly string[],
  context: Map<string, ContextValue>,
): boolean {
  let operator = operatorName.toLowerCase();
  let setQualifier: 'any' | 'all' | undefined;
  if (operator.startsWith('foranyvalue:')) {
    setQualifier = 'any';
    operator = operator.slice('foranyvalue:'.length);
  } else if (operator.startsWith('forallvalues:')) {
    setQualifier = 'all';
    operator = operator.slice('forallvalues:'.length);
  }
  const ifExists = operator.endsWith('ifexists');
  if (ifExists) operator = operator.slice(0, -'ifexists'.length);

  const raw = context.get(key.toLowerCase());
  const requestValues = raw === undefined ? undefined : asArray(raw).map((v) => String(v));

  if (operator === 'null') {
    const wantAbsent = policyValues.some((v) => v.toLowerCase() === 'true');
    const absent = requestValues === undefined || requestValues.length === 0;
    return wantAbsent === absent;
  }

  const positiveName = negated[operator] ?? operator;
  const compare = comparators[positiveName];
  if (!compare) throw new UnsupportedConditionError(`condition operator ${operatorName} is not supported`);
  const isNegated = positiveName !== operator;
  const matchesAnyPolicyValue = (requestValue: string) => policyValues.some((p) => compare(p, requestValue));

  if (setQualifier === 'any') {
    if (!requestValues || requestValues.length === 0) return false;
    return requestValues.some((r) => (isNegated ? !matchesAnyPolicyValue(r) : matchesAnyPolicyValue(r)));
  }
  if (setQualifier === 'all') {
    if (!requestValues || requestValues.length === 0) return true;
    return requestValues.every((r) => (isNegated ? !matchesAnyPolicyValue(r) : matchesAnyPolicyValue(r)));
  }
  if (!requestValues || requestValues.length === 0) return isNegated || ifExists;
  const anyMatch = requestValues.some(matchesAnyPolicyValue);
  return isNegated ? !anyMatch : anyMatch;
}

/** All operators, all keys of a Condition block must match (AND); values of one key are OR. */
export function conditionsMatch(statement: PolicyStatement, context: Map<string, ContextValue>): boolean {
  for (const [operator, entries] of Object.entries(statement.Condition ?? {})) {
    for (const [key, values] of Object.entries(entries)) {
      const policyValues = asArray(values).map((v) => String(v));
      if (!conditionEntryMatches(operator, key, policyValues, context)) return false;
    }
  }
  return true;
}
