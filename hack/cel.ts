// CEL the generated admission policies share.
import { GROUP, PLURAL } from '../src/api/types.ts';

/**
 * CEL: whether the label map `labels` satisfies the label selector `selector`
 * (both CEL expressions), exactly as matchesSelector in src/api/labelselector.ts:
 * matchLabels and matchExpressions ANDed, NotIn and DoesNotExist holding for a
 * missing key. test/cluster/namespace-label-policy.test.ts proves them equal.
 */
export function selectsCel(selector: string, labels: string): string {
  const valueIn = `(r.key in ${labels} && ${labels}[r.key] in r.?values.orValue([]))`;
  return `(${selector}.?matchLabels.orValue({}).all(k, k in ${labels} && ${labels}[k] == ${selector}.matchLabels[k])`
    + ` && ${selector}.?matchExpressions.orValue([]).all(r,`
    + ` r.operator == 'In' ? ${valueIn} : r.operator == 'NotIn' ? !${valueIn}`
    + ` : r.operator == 'Exists' ? r.key in ${labels} : r.operator == 'DoesNotExist' ? !(r.key in ${labels}) : false))`;
}

/**
 * CEL: whether the request's author may write baselines' status: the operator,
 * and cluster administrators. Policies that give them a free hand test it in a
 * matchCondition, so the operator's own writes cost one authorization check
 * and no evaluation per baseline.
 */
export const MAY_WRITE_BASELINE_STATUS = `authorizer.group('${GROUP}').resource('${PLURAL}').subresource('status').check('patch').allowed()`;
