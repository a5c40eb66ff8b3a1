/**
 * The CNI wire formats: the network configuration and errors of the CNI
 * spec, and the request/response protocol between the plugin executable
 * (agents/cni) and the CNI server on its unix socket (docs/cni.md).
 *
 * The plugin imports this file at every pod start, so it must stay light:
 * zod and nothing else.
 */
import { z } from 'zod';

/** Versions whose configuration we accept; results are produced in the requested version's format. */
export const SupportedVersions = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SupportedVersions)[number];

export const DefaultServerSocket = '/run/aci-containers/cni.sock';

/** Version of the plugin ↔ server protocol, bumped on an incompatible change. */
export const ProtocolVersion = 1;

/** Well-known CNI error codes (spec section "Error"), and ours from 100 on. */
export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  ContainerUnknown: 3,
  InvalidEnvironment: 4,
  IoFailure: 5,
  DecodeFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  /** STATUS (CNI 1.1): the plugin cannot serve ADD. */
  PluginNotAvailable: 50,
  /** Plugin specific: the node's pod IP chunks are used up (or none assigned yet). */
  IpamExhausted: 100,
  /** Plugin specific: creating or configuring the pod interface failed. */
  InterfaceSetupFailed: 101,
  /** Plugin specific: CHECK found the pod interface differs from what ADD set up. */
  InterfaceMismatch: 102,
  /** Plugin specific: attaching the interface to the OVS bridge failed. */
  OvsFailure: 103,
  /** Plugin specific: an unexpected server error. */
  Internal: 199,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const CniErrorBody = z.object({
  cniVersion: z.string(),
  code: z.number().int().nonnegative(),
  msg: z.string(),
  details: z.string().optional(),
});
export type CniErrorBody = z.infer<typeof CniErrorBody>;

export const Attachment = z.object({ containerID: z.string(), ifname: z.string() });

/**
 * The network configuration the runtime passes on stdin (one plugin entry of
 * the conflist, with name and cniVersion filled in). Unknown keys are kept:
 * the spec lets runtimes add `args`, `runtimeConfig`, `capabilities`.
 */
export const NetworkConfig = z.looseObject({
  cniVersion: z.string().min(1),
  name: z.string().min(1),
  type: z.string().min(1),
  /** Our field: the CNI server socket of the host agent. */
  serverSocket: z.string().min(1).optional(),
  /** Our field: pod interface MTU; default the host agent's. */
  mtu: z.number().int().min(68).max(65535).optional(),
  dns: z
    .object({
      nameservers: z.array(z.string()).optional(),
      domain: z.string().optional(),
      search: z.array(z.string()).optional(),
      options: z.array(z.string()).optional(),
    })
    .optional(),
  prevResult: z.unknown().optional(),
  /** CNI 1.1 GC: the attachments that are still valid. */
  'cni.dev/valid-attachments': z.array(Attachment).optional(),
});
export type NetworkConfig = z.infer<typeof NetworkConfig>;

export const Commands = ['ADD', 'DEL', 'CHECK', 'STATUS', 'GC'] as const;
export const CniCommand = z.enum(Commands);
export type CniCommand = z.infer<typeof CniCommand>;

/** What the plugin sends over the socket: the CNI environment and the config, already decoded. */
export const CniRequest = z.object({
  protocol: z.literal(ProtocolVersion),
  command: CniCommand,
  /** CNI_CONTAINERID; empty for STATUS and GC. */
  containerId: z.string(),
  /** CNI_NETNS; empty where the spec makes it optional (DEL, STATUS, GC). */
  netns: z.string(),
  /** CNI_IFNAME; empty for STATUS and GC. */
  ifName: z.string(),
  /** CNI_ARGS as key/value pairs (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID, ...). */
  args: z.record(z.string(), z.string()),
  config: NetworkConfig,
});
export type CniRequest = z.infer<typeof CniRequest>;

/** The server's answer: the CNI result (ADD) or null, or a CNI error object. */
export const CniResponse = z.union([
  z.object({ result: z.unknown() }),
  z.object({ error: CniErrorBody }),
]);
export type CniResponse = z.infer<typeof CniResponse>;

/**
 * What the native plugin (agents/cni/native/forward.c) sends instead of a
 * CniRequest: the CNI environment and stdin as the runtime gave them. The
 * server runs the plugin logic (agents/cni/plugin.ts) on them and answers
 * `<exit code>\n<stdout>` rather than JSON, so the forwarder parses nothing.
 */
export const PluginForward = z.object({
  protocol: z.literal(ProtocolVersion),
  plugin: z.object({
    env: z.record(z.string().regex(/^CNI_[A-Z]+$/), z.string()),
    stdin: z.string(),
  }),
});
export type PluginForward = z.infer<typeof PluginForward>;

/** Largest request the server reads; a network config is a few KiB. */
export const MaxMessageBytes = 1 << 20;

export function isSupportedVersion(v: string): v is CniVersion {
  return (SupportedVersions as readonly string[]).includes(v);
}

/** Compares dotted versions numerically ("0.4.0" < "1.0.0"). */
export function versionAtLeast(v: string, min: string): boolean {
  const a = v.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/**
 * Parses CNI_ARGS (`K1=V1;K2=V2`). Returns undefined when a pair has no `=`,
 * which the spec treats as invalid environment.
 */
export function parseCniArgs(text: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) return undefined;
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** Which commands need which CNI_* variables (spec section "Parameters"). */
export function requiredEnv(command: CniCommand): readonly ('containerId' | 'netns' | 'ifName')[] {
  switch (command) {
    case 'ADD':
    case 'CHECK':
      return ['containerId', 'netns', 'ifName'];
    case 'DEL':
      return ['containerId', 'ifName'];
    case 'STATUS':
    case 'GC':
      return [];
  }
}
