// The slice of the APIC object model the simulator knows: for each class its
// RN format (prefix + naming properties, as in the APIC Management
// Information Model reference), the classes it may live under, its
// configurable properties with their defaults, and value normalization the
// APIC applies on write. A class missing here is rejected like an APIC
// rejects a class it does not know.

export interface ClassMeta {
  /** RN template, e.g. `tn-{name}`, `subnet-[{ip}]`, `rsctx`. */
  readonly rn: string;
  /** Parent classes; `*` means any class (tags and annotations). */
  readonly parents: readonly string[];
  /** Configurable properties and their defaults (naming props included). */
  readonly props: Readonly<Record<string, string>>;
  readonly normalize?: (attrs: Record<string, string>) => void;
}

/** Properties every configurable MO carries (APIC `naming:NamedObject`, `pol:Obj`, `tag:Annotation` mixins). */
export const commonProps: Readonly<Record<string, string>> = {
  descr: '',
  nameAlias: '',
  annotation: '',
  ownerKey: '',
  ownerTag: '',
  userdom: ':all:',
};

/** Read-only properties the APIC returns; a client may echo them back, they are ignored on write. */
export const readOnlyProps = new Set([
  'dn',
  'rn',
  'status',
  'childAction',
  'modTs',
  'uid',
  'lcOwn',
  'extMngdBy',
  'monPolDn',
  'configIssues',
]);

// APIC stores well-known L4 ports and IP protocols under their names (see the
// vzEntry and hostprotRule property types in the model reference).
const portNames: Record<string, string> = {
  '0': 'unspecified',
  '20': 'ftpData',
  '25': 'smtp',
  '53': 'dns',
  '80': 'http',
  '110': 'pop3',
  '443': 'https',
  '554': 'rtsp',
};
const protoNames: Record<string, string> = {
  '0': 'unspecified',
  '1': 'icmp',
  '2': 'igmp',
  '6': 'tcp',
  '8': 'egp',
  '9': 'igp',
  '17': 'udp',
  '58': 'icmpv6',
  '88': 'eigrp',
  '89': 'ospfigp',
  '103': 'pim',
  '115': 'l2tp',
};
function normalizeKeys(
  attrs: Record<string, string>,
  keys: string[],
  table: Record<string, string>,
) {
  for (const k of keys) {
    const v = attrs[k];
    if (v !== undefined && table[v] !== undefined) attrs[k] = table[v];
  }
}

const named = (extra: Record<string, string> = {}) => ({ name: '', ...extra });

export const classes: Readonly<Record<string, ClassMeta>> = {
  polUni: { rn: 'uni', parents: ['topRoot'], props: {} },
  compUni: { rn: 'comp', parents: ['topRoot'], props: {} },
  compProv: { rn: 'prov-{name}', parents: ['compUni'], props: named() },
  compCtrlr: {
    rn: 'ctrlr-[{domName}]-{name}',
    parents: ['compProv'],
    props: named({ domName: '' }),
  },
  aaaUserEp: { rn: 'userext', parents: ['polUni'], props: {} },
  aaaUser: {
    rn: 'user-{name}',
    parents: ['aaaUserEp'],
    props: named({ pwd: '', accountStatus: 'active', email: '', firstName: '', lastName: '' }),
  },
  aaaUserCert: { rn: 'usercert-{name}', parents: ['aaaUser'], props: named({ data: '' }) },
  fvTenant: { rn: 'tn-{name}', parents: ['polUni'], props: named() },
  fvAp: { rn: 'ap-{name}', parents: ['fvTenant'], props: named({ prio: 'unspecified' }) },
  fvAEPg: {
    rn: 'epg-{name}',
    parents: ['fvAp'],
    props: named({
      pcEnfPref: 'unenforced',
      prefGrMemb: 'exclude',
      floodOnEncap: 'disabled',
      isAttrBasedEPg: 'no',
    }),
  },
  fvBD: {
    rn: 'BD-{name}',
    parents: ['fvTenant'],
    props: named({
      arpFlood: 'no',
      ipLearning: 'yes',
      unicastRoute: 'yes',
      unkMacUcastAct: 'proxy',
      unkMcastAct: 'flood',
      limitIpLearnToSubnets: 'yes',
      multiDstPktAct: 'bd-flood',
      epMoveDetectMode: '',
      hostBasedRouting: 'no',
      mcastAllow: 'no',
      ipv6McastAllow: 'no',
      type: 'regular',
      vmac: 'not-applicable',
      mac: '00:22:BD:F8:19:FF',
    }),
  },
  fvSubnet: {
    rn: 'subnet-[{ip}]',
    parents: ['fvBD', 'fvAEPg'],
    props: { ip: '', virtual: 'no', preferred: 'no', scope: 'private', ctrl: 'nd', name: '' },
  },
  fvCtx: {
    rn: 'ctx-{name}',
    parents: ['fvTenant'],
    props: named({ pcEnfPref: 'enforced', pcEnfDir: 'ingress' }),
  },
  fvRsCtx: { rn: 'rsctx', parents: ['fvBD'], props: { tnFvCtxName: '' } },
  fvRsBd: { rn: 'rsbd', parents: ['fvAEPg'], props: { tnFvBDName: '' } },
  fvRsBDToOut: {
    rn: 'rsBDToOut-{tnL3extOutName}',
    parents: ['fvBD'],
    props: { tnL3extOutName: '' },
  },
  fvRsDomAtt: {
    rn: 'rsdomAtt-[{tDn}]',
    parents: ['fvAEPg'],
    props: {
      tDn: '',
      instrImedcy: 'lazy',
      resImedcy: 'lazy',
      encap: 'unknown',
      classPref: 'encap',
    },
  },
  fvRsCons: {
    rn: 'rscons-{tnVzBrCPName}',
    parents: ['fvAEPg', 'l3extInstP'],
    props: { tnVzBrCPName: '', prio: 'unspecified' },
  },
  fvRsProv: {
    rn: 'rsprov-{tnVzBrCPName}',
    parents: ['fvAEPg', 'l3extInstP'],
    props: { tnVzBrCPName: '', prio: 'unspecified', matchT: 'AtleastOne' },
  },
  vzBrCP: {
    rn: 'brc-{name}',
    parents: ['fvTenant'],
    props: named({ scope: 'context', prio: 'unspecified' }),
  },
  vzSubj: {
    rn: 'subj-{name}',
    parents: ['vzBrCP'],
    props: named({
      revFltPorts: 'yes',
      consMatchT: 'AtleastOne',
      provMatchT: 'AtleastOne',
      prio: 'unspecified',
    }),
  },
  vzRsSubjFiltAtt: {
    rn: 'rssubjFiltAtt-{tnVzFilterName}',
    parents: ['vzSubj'],
    props: { tnVzFilterName: '', action: 'permit' },
  },
  vzRsSubjGraphAtt: { rn: 'rsSubjGraphAtt', parents: ['vzSubj'], props: { tnVnsAbsGraphName: '' } },
  vzFilter: { rn: 'flt-{name}', parents: ['fvTenant'], props: named() },
  vzEntry: {
    rn: 'e-{name}',
    parents: ['vzFilter'],
    props: named({
      applyToFrag: 'no',
      arpOpc: 'unspecified',
      dFromPort: 'unspecified',
      dToPort: 'unspecified',
      etherT: 'unspecified',
      prot: 'unspecified',
      sFromPort: 'unspecified',
      sToPort: 'unspecified',
      tcpRules: '',
      stateful: 'no',
      icmpv4T: 'unspecified',
      icmpv6T: 'unspecified',
    }),
    normalize: (a) => {
      normalizeKeys(a, ['dFromPort', 'dToPort', 'sFromPort', 'sToPort'], portNames);
      normalizeKeys(a, ['prot'], protoNames);
    },
  },
  hostprotPol: { rn: 'pol-{name}', parents: ['fvTenant'], props: named() },
  hostprotSubj: { rn: 'subj-{name}', parents: ['hostprotPol'], props: named() },
  hostprotRule: {
    rn: 'rule-{name}',
    parents: ['hostprotSubj'],
    props: named({
      connTrack: 'reflexive',
      direction: 'ingress',
      ethertype: 'undefined',
      protocol: 'unspecified',
      fromPort: 'unspecified',
      toPort: 'unspecified',
      icmpType: 'unspecified',
      icmpCode: 'unspecified',
    }),
    normalize: (a) => {
      normalizeKeys(a, ['fromPort', 'toPort'], portNames);
      normalizeKeys(a, ['protocol'], protoNames);
    },
  },
  hostprotRemoteIp: { rn: 'ip-[{addr}]', parents: ['hostprotRule'], props: { addr: '' } },
  l3extOut: {
    rn: 'out-{name}',
    parents: ['fvTenant'],
    props: named({ enforceRtctrl: 'export', targetDscp: 'unspecified' }),
  },
  l3extInstP: {
    rn: 'instP-{name}',
    parents: ['l3extOut'],
    props: named({ prefGrMemb: 'exclude', prio: 'unspecified' }),
  },
  l3extSubnet: {
    rn: 'extsubnet-[{ip}]',
    parents: ['l3extInstP'],
    props: { ip: '', scope: 'import-security', aggregate: '', name: '' },
  },
  vnsLDevVip: {
    rn: 'lDevVip-{name}',
    parents: ['fvTenant'],
    props: named({
      devtype: 'PHYSICAL',
      svcType: 'OTHERS',
      contextAware: 'single-Context',
      managed: 'yes',
      funcType: 'GoTo',
      isCopy: 'no',
      mode: 'legacy-Mode',
      trunking: 'no',
    }),
  },
  vnsRsALDevToPhysDomP: { rn: 'rsALDevToPhysDomP', parents: ['vnsLDevVip'], props: { tDn: '' } },
  vnsCDev: { rn: 'cDev-{name}', parents: ['vnsLDevVip'], props: named({ devCtxLbl: '' }) },
  vnsCIf: { rn: 'cIf-[{name}]', parents: ['vnsCDev'], props: named() },
  vnsRsCIfPathAtt: { rn: 'rsCIfPathAtt', parents: ['vnsCIf'], props: { tDn: '' } },
  vnsLIf: { rn: 'lIf-{name}', parents: ['vnsLDevVip'], props: named({ encap: '' }) },
  vnsRsCIfAttN: { rn: 'rscIfAttN-[{tDn}]', parents: ['vnsLIf'], props: { tDn: '' } },
  vnsAbsGraph: {
    rn: 'AbsGraph-{name}',
    parents: ['fvTenant'],
    props: named({ uiTemplateType: 'UNSPECIFIED', type: 'legacy' }),
  },
  vnsAbsNode: {
    rn: 'AbsNode-{name}',
    parents: ['vnsAbsGraph'],
    props: named({
      funcTemplateType: 'OTHER',
      funcType: 'GoTo',
      isCopy: 'no',
      managed: 'yes',
      routingMode: 'unspecified',
      shareEncap: 'no',
    }),
  },
  vnsAbsFuncConn: {
    rn: 'AbsFConn-{name}',
    parents: ['vnsAbsNode'],
    props: named({ attNotify: 'no' }),
  },
  vnsRsNodeToLDev: { rn: 'rsNodeToLDev', parents: ['vnsAbsNode'], props: { tDn: '' } },
  vnsAbsTermNodeCon: { rn: 'AbsTermNodeCon-{name}', parents: ['vnsAbsGraph'], props: named() },
  vnsAbsTermNodeProv: { rn: 'AbsTermNodeProv-{name}', parents: ['vnsAbsGraph'], props: named() },
  vnsAbsTermConn: {
    rn: 'AbsTConn',
    parents: ['vnsAbsTermNodeCon', 'vnsAbsTermNodeProv'],
    props: named({ attNotify: 'no' }),
  },
  vnsInTerm: { rn: 'intmnl', parents: ['vnsAbsTermNodeCon', 'vnsAbsTermNodeProv'], props: named() },
  vnsOutTerm: {
    rn: 'outtmnl',
    parents: ['vnsAbsTermNodeCon', 'vnsAbsTermNodeProv'],
    props: named(),
  },
  vnsAbsConnection: {
    rn: 'AbsConnection-{name}',
    parents: ['vnsAbsGraph'],
    props: named({
      adjType: 'L2',
      connDir: 'unknown',
      connType: 'external',
      directConnect: 'no',
      unicastRoute: 'yes',
    }),
  },
  vnsRsAbsConnectionConns: {
    rn: 'rsabsConnectionConns-[{tDn}]',
    parents: ['vnsAbsConnection'],
    props: { tDn: '' },
  },
  vnsSvcCont: { rn: 'svcCont', parents: ['fvTenant'], props: {} },
  vnsSvcRedirectPol: {
    rn: 'svcRedirectPol-{name}',
    parents: ['vnsSvcCont'],
    props: named({
      thresholdDownAction: 'permit',
      hashingAlgorithm: 'sip-dip-prototype',
      resilientHashEnabled: 'no',
    }),
  },
  vnsRedirectDest: {
    rn: 'RedirectDest_ip-[{ip}]',
    parents: ['vnsSvcRedirectPol'],
    props: { ip: '', mac: '', ip2: '0.0.0.0', podId: '1', destName: '' },
    normalize: (a) => {
      if (a.mac !== undefined) a.mac = a.mac.toUpperCase();
    },
  },
  vnsRsRedirectHealthGroup: {
    rn: 'rsRedirectHealthGroup',
    parents: ['vnsRedirectDest'],
    props: { tDn: '' },
  },
  vnsRedirectHealthGroup: {
    rn: 'redirectHealthGroup-{name}',
    parents: ['vnsSvcCont'],
    props: named(),
  },
  vnsRsIPSLAMonitoringPol: {
    rn: 'rsIPSLAMonitoringPol',
    parents: ['vnsSvcRedirectPol'],
    props: { tDn: '' },
  },
  vnsLDevCtx: {
    rn: 'ldevCtx-c-{ctrctNameOrLbl}-g-{graphNameOrLbl}-n-{nodeNameOrLbl}',
    parents: ['fvTenant'],
    props: { ctrctNameOrLbl: '', graphNameOrLbl: '', nodeNameOrLbl: '', context: '' },
  },
  vnsRsLDevCtxToLDev: { rn: 'rsLDevCtxToLDev', parents: ['vnsLDevCtx'], props: { tDn: '' } },
  vnsLIfCtx: {
    rn: 'lIfCtx-c-{connNameOrLbl}',
    parents: ['vnsLDevCtx'],
    props: { connNameOrLbl: '', l3Dest: 'yes', permitLog: 'no' },
  },
  vnsRsLIfCtxToSvcRedirectPol: {
    rn: 'rsLIfCtxToSvcRedirectPol',
    parents: ['vnsLIfCtx'],
    props: { tDn: '' },
  },
  vnsRsLIfCtxToBD: { rn: 'rsLIfCtxToBD', parents: ['vnsLIfCtx'], props: { tDn: '' } },
  vnsRsLIfCtxToLIf: { rn: 'rsLIfCtxToLIf', parents: ['vnsLIfCtx'], props: { tDn: '' } },
  vmmProvP: { rn: 'vmmp-{vendor}', parents: ['polUni'], props: { vendor: '' } },
  vmmDomP: {
    rn: 'dom-{name}',
    parents: ['vmmProvP'],
    props: named({ encapMode: 'unknown', mode: 'default', enfPref: 'hw' }),
  },
  vmmCtrlrP: {
    rn: 'ctrlr-{name}',
    parents: ['vmmDomP'],
    props: named({ hostOrIp: '', rootContName: '', mode: 'default' }),
  },
  vmmInjectedCont: { rn: 'injcont', parents: ['compCtrlr'], props: {} },
  vmmInjectedHost: {
    rn: 'host-[{name}]',
    parents: ['vmmInjectedCont'],
    props: named({ hostName: '', kernelVer: '', os: '' }),
  },
  vmmInjectedNs: { rn: 'ns-[{name}]', parents: ['vmmInjectedCont'], props: named() },
  vmmInjectedContGrp: {
    rn: 'grp-[{name}]',
    parents: ['vmmInjectedNs'],
    props: named({ guid: '', replicaSetName: '', hostName: '', computeNodeName: '' }),
  },
  vmmInjectedDepl: {
    rn: 'depl-[{name}]',
    parents: ['vmmInjectedNs'],
    props: named({ guid: '', replicas: '' }),
  },
  vmmInjectedReplSet: {
    rn: 'rs-[{name}]',
    parents: ['vmmInjectedNs'],
    props: named({ guid: '', deploymentName: '' }),
  },
  vmmInjectedSvc: {
    rn: 'svc-[{name}]',
    parents: ['vmmInjectedNs'],
    props: named({ guid: '', clusterIp: '0.0.0.0', lbIp: '0.0.0.0', type: 'clusterIp' }),
  },
  vmmInjectedSvcEp: {
    rn: 'ep-{contGrpName}',
    parents: ['vmmInjectedSvc'],
    props: { contGrpName: '', name: '' },
  },
  vmmInjectedSvcPort: {
    rn: 'p-{port}-prot-{protocol}-t-{targetPort}',
    parents: ['vmmInjectedSvc'],
    props: { port: '', protocol: '', targetPort: '', nodePort: 'unspecified' },
    normalize: (a) => {
      normalizeKeys(a, ['port', 'nodePort'], portNames);
      normalizeKeys(a, ['protocol'], protoNames);
    },
  },
  tagInst: { rn: 'tag-{name}', parents: ['*'], props: { name: '' } },
  tagAnnotation: { rn: 'annotationKey-[{key}]', parents: ['*'], props: { key: '', value: '' } },
};

/** Objects every APIC has out of the box (the simulator's empty state). */
export const builtinObjects: ReadonlyArray<{
  cls: string;
  dn: string;
  attrs: Record<string, string>;
}> = [
  { cls: 'polUni', dn: 'uni', attrs: {} },
  { cls: 'compUni', dn: 'comp', attrs: {} },
  { cls: 'aaaUserEp', dn: 'uni/userext', attrs: {} },
  { cls: 'aaaUser', dn: 'uni/userext/user-admin', attrs: { name: 'admin' } },
  { cls: 'fvTenant', dn: 'uni/tn-common', attrs: { name: 'common' } },
  { cls: 'fvTenant', dn: 'uni/tn-infra', attrs: { name: 'infra' } },
  { cls: 'fvTenant', dn: 'uni/tn-mgmt', attrs: { name: 'mgmt' } },
  { cls: 'vmmProvP', dn: 'uni/vmmp-Kubernetes', attrs: { vendor: 'Kubernetes' } },
  { cls: 'compProv', dn: 'comp/prov-Kubernetes', attrs: { name: 'Kubernetes' } },
];

interface RnToken {
  readonly literal?: string;
  readonly prop?: string;
}

function tokenize(template: string): RnToken[] {
  const out: RnToken[] = [];
  const re = /\{([A-Za-z0-9]+)\}/g;
  let last = 0;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    if (m.index > last) out.push({ literal: template.slice(last, m.index) });
    out.push({ prop: m[1] });
    last = m.index + m[0].length;
  }
  if (last < template.length) out.push({ literal: template.slice(last) });
  return out;
}

/** Builds the RN from naming properties; undefined when one is missing. */
export function buildRn(meta: ClassMeta, attrs: Record<string, string>): string | undefined {
  let rn = '';
  for (const t of tokenize(meta.rn)) {
    if (t.literal !== undefined) rn += t.literal;
    else if (t.prop !== undefined) {
      const v = attrs[t.prop];
      if (v === undefined || v === '') return undefined;
      rn += v;
    }
  }
  return rn;
}

/** Recovers naming properties from an RN; undefined when it does not fit the template. */
export function parseRn(meta: ClassMeta, rn: string): Record<string, string> | undefined {
  let pattern = '^';
  const props: string[] = [];
  for (const t of tokenize(meta.rn)) {
    if (t.literal !== undefined) pattern += t.literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (t.prop !== undefined) {
      props.push(t.prop);
      pattern += '(.+?)';
    }
  }
  const m = new RegExp(pattern + '$').exec(rn);
  if (m === null) return undefined;
  const out: Record<string, string> = {};
  props.forEach((p, i) => {
    out[p] = m[i + 1] ?? '';
  });
  return out;
}

export function namingProps(meta: ClassMeta): string[] {
  return tokenize(meta.rn).flatMap((t) => (t.prop !== undefined ? [t.prop] : []));
}
