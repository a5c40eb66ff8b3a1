/**
 * Inputs of the controller: the config file the operator renders
 * (ControllerConfig, JSON or YAML) and the APIC credentials from the
 * mounted Secret folder. Both validated with zod; secrets never logged.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { ControllerConfig, paths } from '../../lib/config/components.ts';

export const defaultConfigFile = path.join(paths.configDir, 'controller.conf');

export async function loadConfig(file: string): Promise<ControllerConfig> {
  const text = await readFile(file, 'utf8');
  const parsed = ControllerConfig.safeParse(parse(text));
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid controller config ${file}: ${issues}`);
  }
  return parsed.data;
}

export const ApicCredentials = z.union([
  z.object({ username: z.string().min(1), password: z.string().min(1) }),
  z.object({ username: z.string().min(1), privateKey: z.string().min(1) }),
]);
export type ApicCredentials = z.infer<typeof ApicCredentials>;

async function optionalFile(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Reads `username` and `password` or `privateKey` from the mounted Secret
 * folder. acc-provision's Secret (`user.key`, `user.crt`, no user name)
 * works as it is: `user.key` stands in for `privateKey` and the user name
 * comes from the AciFabric (`fallbackUsername`). Re-read at every APIC
 * login would be nicer; the Deployment restarts on Secret change instead.
 */
export async function loadCredentials(
  dir: string,
  method: ControllerConfig['apic']['method'],
  fallbackUsername?: string,
): Promise<ApicCredentials> {
  const username = (await optionalFile(path.join(dir, 'username')))?.trim() || fallbackUsername;
  if (username === undefined)
    throw new Error(
      `APIC credentials in ${dir} have no username key and the AciFabric names no spec.apic.credentials.username`,
    );
  if (method === 'Password') {
    const password = (await optionalFile(path.join(dir, 'password')))?.replace(/\r?\n$/, '');
    return ApicCredentials.parse({ username, password });
  }
  const privateKey =
    (await optionalFile(path.join(dir, 'privateKey'))) ??
    (await optionalFile(path.join(dir, accProvisionKeyFile)));
  if (privateKey === undefined)
    throw new Error(
      `APIC credentials in ${dir} have neither privateKey nor ${accProvisionKeyFile} (method Certificate)`,
    );
  return ApicCredentials.parse({ username, privateKey });
}

/** Key of the private key in the Secret acc-provision creates (aci-user-cert). */
export const accProvisionKeyFile = 'user.key';
