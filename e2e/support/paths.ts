import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where `npm run cluster:up` and the demo keep their cluster (override with ACI_CLUSTER_DIR). */
export const defaultClusterDir = process.env.ACI_CLUSTER_DIR ?? path.join(repoRoot, '.cluster');
