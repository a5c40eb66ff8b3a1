/**
 * The typed contract model the data plane renders: what the resolved OpFlex
 * policy (modelgbp managed objects) says about the EPGs of this node's
 * endpoints, in the terms the pipeline matches on (class ids, classifiers).
 * Built by `resolveContracts` (resolve.ts); plain data.
 */
import { epGroupUri } from '../../../lib/opflex/uri.ts';

/** GbpIntraGroupPolicy: how two endpoints of one EPG may talk. */
export type IntraGroupPolicy = 'allow' | 'require-contract' | 'deny';

export interface Epg {
  /** `/PolicyUniverse/PolicySpace/<tenant>/GbpEpGroup/<name>/` */
  uri: string;
  /** GbpeInstContext.classid (the ACI pcTag): what the pipeline matches on. */
  classId: number;
  /** GbpeInstContext.encapId: the EPG's VLAN (or VNID) on the fabric, if the policy names one. */
  encapId?: number;
  bridgeDomain?: string;
  routingDomain?: string;
  /** False when the routing domain's enforcementPreference is `unenforced`: every flow to or from the EPG is allowed. */
  enforced: boolean;
  intraGroup: IntraGroupPolicy;
}

/** A GbpeL24Classifier as matches: each field is a constraint, undefined means any. */
export interface ClassifierMatch {
  /** GbpeL24Classifier.etherT; undefined = any. */
  etherType?: number;
  /** GbpeL24Classifier.prot (IP protocol number). */
  protocol?: number;
  srcPorts?: { from: number; to: number };
  dstPorts?: { from: number; to: number };
  icmpType?: number;
  icmpCode?: number;
  /** GbpeL24Classifier.tcpFlags (non-zero: the classifier matches only packets with those flags). */
  tcpFlags?: number;
  /** `reflexive`: replies of the connections it allows are allowed too. */
  reflexive: boolean;
}

export type RuleAction = 'allow' | 'deny';

/**
 * One rule of the data plane: traffic from `srcClass` to `dstClass` that
 * the classifier matches gets `action`. `priority` follows the reference
 * agent (PolicyManager): 8192 for the first rule of a subject, 128 less for
 * each later rule by `order`, one less for each later classifier of a rule.
 */
export interface ContractRule {
  contract: string;
  rule: string;
  classifier: string;
  srcClass: number;
  dstClass: number;
  /** Which way the rule was applied: `in` consumer → provider, `out` provider → consumer, `intra` an intra-EPG contract. */
  direction: 'in' | 'out' | 'intra';
  action: RuleAction;
  priority: number;
  match: ClassifierMatch;
}

/** A remote endpoint's resolved EPG (EprL3Ep from endpoint_resolve): classifies fabric traffic by address. */
export interface RemoteEndpoint {
  ip: string;
  classId: number;
}

export interface ContractModel {
  /** Resolved EPGs by URI; an EPG missing here is unresolved (its endpoints are isolated). */
  epgs: ReadonlyMap<string, Epg>;
  rules: ContractRule[];
  remoteEndpoints: RemoteEndpoint[];
  /** What could not be resolved or was ignored, for people (logged, never fatal). */
  problems: string[];
}

/** Top of the reference agent's rule priorities (PolicyManager::MAX_POLICY_RULE_PRIORITY). */
export const MaxRulePriority = 8192;

export const emptyContractModel = (): ContractModel => ({
  epgs: new Map(),
  rules: [],
  remoteEndpoints: [],
  problems: [],
});

/**
 * The OpFlex URI of an endpoint file's EPG, as the original host agent names
 * it (`policy-space-name` = tenant, `endpoint-group-name` =
 * `<application profile>|<EPG>`), escaped as libopflex's URIBuilder does.
 */
export function epgUri(ref: { tenant: string; appProfile: string; name: string }): string {
  return epGroupUri(ref.tenant, `${ref.appProfile}|${ref.name}`);
}
