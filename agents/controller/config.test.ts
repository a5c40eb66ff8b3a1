/**
 * The credentials Secret as mounted: this project's keys, and the Secret
 * acc-provision created (user.key, user.crt, no user name) without renaming
 * anything; what is missing is named in the error.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { loadCredentials } from './config.ts';

async function secretDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'aci-cred-'));
  for (const [name, content] of Object.entries(files))
    await writeFile(path.join(dir, name), content);
  return dir;
}

const key = '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n';

test("acc-provision's Secret: user.key is the private key, the user name comes from the AciFabric", async (t) => {
  const dir = await secretDir({ 'user.key': key, 'user.crt': '-----BEGIN CERTIFICATE-----\n' });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.deepEqual(await loadCredentials(dir, 'Certificate', 'kube'), {
    username: 'kube',
    privateKey: key,
  });
});

test("this project's keys win over the fallbacks", async (t) => {
  const dir = await secretDir({ username: 'ctl\n', privateKey: key, 'user.key': 'other' });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.deepEqual(await loadCredentials(dir, 'Certificate', 'kube'), {
    username: 'ctl',
    privateKey: key,
  });
});

test('a Secret without a user name, and none in the AciFabric, is refused naming both', async (t) => {
  const dir = await secretDir({ 'user.key': key });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.throwsAsync(() => loadCredentials(dir, 'Certificate'), {
    message: /no username key .* spec\.apic\.credentials\.username/,
  });
});

test('a certificate Secret without a key is refused naming both keys', async (t) => {
  const dir = await secretDir({ username: 'kube' });
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.throwsAsync(() => loadCredentials(dir, 'Certificate'), {
    message: /privateKey nor user\.key/,
  });
});
