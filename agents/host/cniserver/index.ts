/** The host agent's CNI server: public API. */
export { CniServer } from './server.ts';
export type { CniServerOptions, ReconcileReport } from './server.ts';
export { CniError } from './errors.ts';
export {
  CniRequest,
  CniResponse,
  NetworkConfig,
  ErrorCode,
  SupportedVersions,
  DefaultServerSocket,
  ProtocolVersion,
} from './protocol.ts';
export { CniResult, buildResult } from './result.ts';
export { planPodInterface, DefaultMtu } from './plan.ts';
