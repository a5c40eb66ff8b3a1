/**
 * The real-node environment with the leaf's OpFlex server: the pieces of
 * startRealEnvironment (real-nodes.ts) in its order, plus what a user of a
 * fabric with OpFlex adds. The leaf simulator gets `--opflex` with a config
 * naming the APIC simulator (whose password startRealEnvironment's
 * `editFabric` hook never sees) and a server certificate from a fresh CA;
 * the AciFabric names the leaf as `spec.aci.opflex.peer` and the CA by a
 * ConfigMap, which the user creates in the fabric namespace before applying
 * the fabric, so the host pods never wait for their CA volume.
 *
 * The simulated leaf serves OpFlex on the node network's gateway (the host
 * side, where the APIC simulator listens too) instead of the infra VLAN's
 * anycast proxy 10.0.0.30: the nodes reach it the way they reach the API.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ApicClient } from '../../agents/controller/apic/client.ts';
import { AciFabricSpec } from '../../crds/index.ts';
import { aciNames, type AciNames } from '../../lib/config/naming.ts';
import { opflexDomain } from '../../lib/config/opflex-session.ts';
import { KubeClient } from '../../lib/kube/client.ts';
import { generateServerPki } from '../apic-simulator/certs.ts';
import { freePort } from '../cluster/cluster.ts';
import { bridgeDomainsOfFabric } from '../leaf-simulator/fabric.ts';
import type { OpflexLeafFile } from '../leaf-simulator/opflex/config.ts';
import { eventually } from './cluster.ts';
import {
  deployClusterDns,
  installAsReadme,
  startLeaf,
  startRealCluster,
  testFabric,
  type RealEnvironment,
} from './real-nodes.ts';

/** The ConfigMap holding the leaf's CA in the fabric namespace, as a user names it. */
export const LeafCaConfigMap = 'aci-leaf-ca';

export interface OpflexRealEnvironment extends RealEnvironment {
  /** Cluster object names on the APIC (tenant, application profile, pod BD, VMM domain). */
  names: AciNames;
  /** An APIC REST client as a network engineer's tool would be. */
  apicClient: ApicClient;
  leaf: { host: string; port: number; domain: string; logFile: string };
}

export async function startOpflexRealEnvironment(options: {
  dir: string;
  log?: (line: string) => void;
}): Promise<OpflexRealEnvironment> {
  const log = options.log ?? (() => {});
  const { cluster, images, apic } = await startRealCluster(options);
  try {
    const network = cluster.network;
    if (!network) throw new Error('the cluster has no node network');
    const fabric = await testFabric(cluster, apic, 'vlan');
    const leafHost = network.gateway;
    const leafPort = await freePort();
    const aci = fabric.spec.aci as Record<string, unknown>;
    aci.opflex = {
      peer: { host: leafHost, port: leafPort },
      tls: { mode: 'Verify', caConfigMapRef: { name: LeafCaConfigMap } },
    };
    const spec = AciFabricSpec.parse(fabric.spec);
    const names = aciNames(spec);
    const domain = opflexDomain(names.vmmDomain, names.vmmController);

    const pki = generateServerPki('aci-leaf-opflex', [leafHost]);
    const file = (name: string) => path.join(cluster.dir, name);
    await writeFile(file('leaf-opflex.pem'), pki.certPem);
    await writeFile(file('leaf-opflex.key'), pki.keyPem, { mode: 0o600 });
    await writeFile(file('leaf-apic-password'), apic.password, { mode: 0o600 });
    await writeFile(file('leaf-apic-ca.pem'), apic.caPem);
    const leafConfig: OpflexLeafFile = {
      apic: {
        url: `https://${apic.host}:${apic.port}`,
        user: apic.user,
        passwordFile: file('leaf-apic-password'),
        caFile: file('leaf-apic-ca.pem'),
      },
      listen: { host: leafHost, port: leafPort },
      tls: { certFile: file('leaf-opflex.pem'), keyFile: file('leaf-opflex.key') },
      peers: [],
      platform: { domain, encapType: 'vlan' },
      // The BD's encap is the VLAN the nodes' uplinks and the leaf's switch use for it.
      bridgeDomainEncaps: Object.fromEntries(
        bridgeDomainsOfFabric(spec).map((bd) => [bd.name, bd.vlan]),
      ),
    };
    await writeFile(file('leaf-opflex.json'), JSON.stringify(leafConfig, null, 2));
    await startLeaf(cluster, fabric, [`--opflex=${file('leaf-opflex.json')}`]);
    const logFile = path.join(cluster.logDir, 'leaf-simulator.log');
    await eventually(
      async () => (await readFile(logFile, 'utf8').catch(() => '')).includes('OpFlex server on'),
      `the leaf's OpFlex server to listen (log ${logFile})`,
      60_000,
    );
    log(`leaf OpFlex server on ${leafHost}:${leafPort}, domain ${domain}`);

    // What the user does before `kubectl apply -f acifabric.yaml`: the namespace and the leaf's CA.
    await cluster.kubectl(['create', 'namespace', spec.namespace]);
    await cluster.kubectl([
      '-n',
      spec.namespace,
      'create',
      'configmap',
      LeafCaConfigMap,
      `--from-file=ca.crt=${pki.caPath}`,
    ]);
    await installAsReadme(cluster, apic, fabric, log);
    await deployClusterDns(cluster, images);
    const apicClient = new ApicClient({
      hosts: [`${apic.host}:${apic.port}`],
      user: apic.user,
      password: apic.password,
      caPem: apic.caPem,
    });
    return {
      cluster,
      client: KubeClient.fromFile(cluster.kubeconfig),
      images,
      apic,
      fabric,
      names,
      apicClient,
      leaf: { host: leafHost, port: leafPort, domain, logFile },
      kubectl: (args, input) => cluster.kubectl(args, input),
      stop: async () => {
        apicClient.close();
        await cluster.stop();
      },
    };
  } catch (error) {
    log(await cluster.logTails(40));
    throw error;
  }
}
