/**
 * Named builders for every error the CNI server returns, so each failure has
 * one code and one wording (as Antrea's ipamFailureResponse & co.).
 */
import { ErrorCode, SupportedVersions } from './protocol.ts';
import type { CniErrorBody } from './protocol.ts';

export class CniError extends Error {
  constructor(
    readonly code: ErrorCode,
    msg: string,
    readonly details?: string,
  ) {
    super(msg);
    this.name = 'CniError';
  }

  toBody(cniVersion: string): CniErrorBody {
    return {
      cniVersion,
      code: this.code,
      msg: this.message,
      ...(this.details !== undefined ? { details: this.details } : {}),
    };
  }
}

const detailOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export const incompatibleVersion = (version: string, why = 'is not supported'): CniError =>
  new CniError(
    ErrorCode.IncompatibleVersion,
    `CNI version ${version} ${why}`,
    `supported versions: ${SupportedVersions.join(', ')}`,
  );

export const unsupportedField = (field: string, why: string): CniError =>
  new CniError(ErrorCode.UnsupportedField, `field ${field} is not supported: ${why}`);

export const containerUnknown = (containerId: string, ifName: string): CniError =>
  new CniError(
    ErrorCode.ContainerUnknown,
    `container ${containerId} interface ${ifName} is unknown to this node`,
  );

export const invalidEnvironment = (msg: string): CniError =>
  new CniError(ErrorCode.InvalidEnvironment, msg);

export const ioFailure = (msg: string, err?: unknown): CniError =>
  new CniError(ErrorCode.IoFailure, msg, err === undefined ? undefined : detailOf(err));

export const decodeFailure = (what: string, err: unknown): CniError =>
  new CniError(ErrorCode.DecodeFailure, `failed to decode ${what}`, detailOf(err));

export const invalidNetworkConfig = (msg: string): CniError =>
  new CniError(ErrorCode.InvalidNetworkConfig, msg);

export const tryAgainLater = (msg: string, err?: unknown): CniError =>
  new CniError(ErrorCode.TryAgainLater, msg, err === undefined ? undefined : detailOf(err));

export const pluginNotAvailable = (msg: string): CniError =>
  new CniError(ErrorCode.PluginNotAvailable, msg);

export const ipamFailure = (err: unknown): CniError =>
  new CniError(ErrorCode.IpamExhausted, 'failed to allocate a pod IP address', detailOf(err));

export const interfaceSetupFailure = (err: unknown): CniError =>
  new CniError(
    ErrorCode.InterfaceSetupFailed,
    'failed to configure the pod interface',
    detailOf(err),
  );

export const interfaceMismatch = (problems: readonly string[]): CniError =>
  new CniError(
    ErrorCode.InterfaceMismatch,
    'pod interface differs from its configuration',
    problems.join('; '),
  );

export const ovsFailure = (err: unknown): CniError =>
  new CniError(
    ErrorCode.OvsFailure,
    'failed to attach the pod interface to the OVS bridge',
    detailOf(err),
  );

export const internalError = (err: unknown): CniError =>
  new CniError(ErrorCode.Internal, 'CNI server failed unexpectedly', detailOf(err));
