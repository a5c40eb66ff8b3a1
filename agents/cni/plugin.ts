/**
 * The CNI plugin logic, separate from process I/O so it can be tested in
 * process: environment + stdin in, stdout text + exit code out. It checks
 * what it can without the server (version, decoding, environment) and
 * forwards the rest.
 */
import {
  Commands,
  DefaultServerSocket,
  ErrorCode,
  NetworkConfig,
  ProtocolVersion,
  SupportedVersions,
  isSupportedVersion,
  parseCniArgs,
  requiredEnv,
  versionAtLeast,
} from '../host/cniserver/protocol.ts';
import type {
  CniCommand,
  CniErrorBody,
  CniRequest,
  CniResponse,
} from '../host/cniserver/protocol.ts';
import { ServerUnreachableError } from './client.ts';

export interface PluginOutcome {
  readonly stdout: string;
  readonly exitCode: number;
}

export type ServerCall = (socketPath: string, request: CniRequest) => Promise<CniResponse>;

/** The newest version we speak; VERSION reports it as the plugin's own. */
export const PluginVersion = '1.1.0';

const fail = (cniVersion: string, code: number, msg: string, details?: string): PluginOutcome => {
  const body: CniErrorBody = {
    cniVersion,
    code,
    msg,
    ...(details !== undefined ? { details } : {}),
  };
  return { stdout: `${JSON.stringify(body)}\n`, exitCode: 1 };
};

const isCommand = (c: string): c is CniCommand => (Commands as readonly string[]).includes(c);

export async function runPlugin(
  env: Readonly<Record<string, string | undefined>>,
  stdin: string,
  call: ServerCall,
): Promise<PluginOutcome> {
  const command = env.CNI_COMMAND ?? '';
  if (command === 'VERSION') {
    return {
      stdout: `${JSON.stringify({ cniVersion: PluginVersion, supportedVersions: SupportedVersions })}\n`,
      exitCode: 0,
    };
  }
  if (!isCommand(command)) {
    return fail(
      '1.0.0',
      ErrorCode.InvalidEnvironment,
      `unknown CNI_COMMAND ${JSON.stringify(command)}`,
    );
  }

  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (err) {
    return fail(
      '1.0.0',
      ErrorCode.DecodeFailure,
      'failed to decode the network configuration',
      (err as Error).message,
    );
  }
  const parsed = NetworkConfig.safeParse(raw);
  if (!parsed.success) {
    const rawVersion = (raw as { cniVersion?: unknown } | null)?.cniVersion;
    const issues = parsed.error.issues
      .map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`)
      .join('; ');
    return fail(
      typeof rawVersion === 'string' ? rawVersion : '1.0.0',
      ErrorCode.InvalidNetworkConfig,
      `invalid network configuration: ${issues}`,
    );
  }
  const config = parsed.data;
  const v = config.cniVersion;
  if (!isSupportedVersion(v)) {
    return fail(
      v,
      ErrorCode.IncompatibleVersion,
      `CNI version ${v} is not supported`,
      `supported versions: ${SupportedVersions.join(', ')}`,
    );
  }
  if ((command === 'STATUS' || command === 'GC') && !versionAtLeast(v, '1.1.0')) {
    return fail(
      v,
      ErrorCode.IncompatibleVersion,
      `CNI version ${v} has no ${command} (needs 1.1.0)`,
    );
  }

  const fields = {
    containerId: env.CNI_CONTAINERID ?? '',
    netns: env.CNI_NETNS ?? '',
    ifName: env.CNI_IFNAME ?? '',
  };
  const envNames = {
    containerId: 'CNI_CONTAINERID',
    netns: 'CNI_NETNS',
    ifName: 'CNI_IFNAME',
  } as const;
  const missing = requiredEnv(command).filter((k) => fields[k] === '');
  if (missing.length > 0) {
    return fail(
      v,
      ErrorCode.InvalidEnvironment,
      `missing environment variable ${missing.map((k) => envNames[k]).join(', ')}`,
    );
  }
  const args = parseCniArgs(env.CNI_ARGS ?? '');
  if (!args)
    return fail(
      v,
      ErrorCode.InvalidEnvironment,
      `CNI_ARGS ${JSON.stringify(env.CNI_ARGS)} is not K=V;K=V`,
    );

  const socketPath = config.serverSocket ?? DefaultServerSocket;
  const request: CniRequest = { protocol: ProtocolVersion, command, ...fields, args, config };
  let response: CniResponse;
  try {
    response = await call(socketPath, request);
  } catch (err) {
    if (err instanceof ServerUnreachableError) {
      if (command === 'STATUS')
        return fail(
          v,
          ErrorCode.PluginNotAvailable,
          'the host agent CNI server is not running',
          err.message,
        );
      return fail(
        v,
        ErrorCode.TryAgainLater,
        'the host agent CNI server is not running',
        err.message,
      );
    }
    return fail(
      v,
      ErrorCode.IoFailure,
      'failed to talk to the host agent CNI server',
      (err as Error).message,
    );
  }
  if ('error' in response) return { stdout: `${JSON.stringify(response.error)}\n`, exitCode: 1 };
  // Only ADD prints a result; DEL, CHECK, STATUS and GC succeed silently.
  if (command === 'ADD') return { stdout: `${JSON.stringify(response.result)}\n`, exitCode: 0 };
  return { stdout: '', exitCode: 0 };
}
