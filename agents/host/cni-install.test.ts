import test from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildNativePlugin } from '../cni/native/build.ts';
import { ConflistName, hostPathOf, installCni, PluginName } from './cni-install.ts';

const run = promisify(execFile);
const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cni-install-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('the socket path in the conflist is the node path behind the DaemonSet mounts', (t) => {
  t.is(
    hostPathOf('/usr/local/var/run/aci-containers/cni.sock'),
    '/var/run/aci-containers/cni.sock',
  );
  t.is(hostPathOf('/run/aci-containers/cni.sock'), '/run/aci-containers/cni.sock');
});

test('install writes an executable plugin wrapper and the conflist once, then nothing', async (t) => {
  const dir = await tempDir(t);
  const opts = {
    binDir: join(dir, 'bin'),
    confDir: join(dir, 'conf'),
    serverSocket: '/run/aci/cni.sock',
    mtu: 1400,
  };
  const first = await installCni(opts);
  t.deepEqual(first.written, [join(dir, 'bin', PluginName), join(dir, 'conf', ConflistName)]);
  t.deepEqual(JSON.parse(await readFile(join(dir, 'conf', ConflistName), 'utf8')), {
    cniVersion: '1.0.0',
    name: 'aci-containers',
    plugins: [{ type: PluginName, serverSocket: '/run/aci/cni.sock', mtu: 1400 }],
  });
  t.is((await stat(join(dir, 'bin', PluginName))).mode & 0o777, 0o755);
  t.deepEqual((await installCni(opts)).written, []);
  t.deepEqual((await installCni({ ...opts, mtu: 9000 })).written, [
    join(dir, 'conf', ConflistName),
  ]);
});

test('the installed wrapper runs the plugin from any folder (CNI VERSION)', async (t) => {
  const dir = await tempDir(t);
  await installCni({ binDir: dir, confDir: dir, serverSocket: '/nonexistent.sock' });
  const call = run(join(dir, PluginName), [], {
    env: { PATH: process.env.PATH, CNI_COMMAND: 'VERSION' },
    // A hung plugin would hang the kubelet: fail the test instead of waiting for ava's timeout.
    timeout: 60_000,
  });
  call.child.stdin?.end(); // as a runtime does: VERSION comes with an empty stdin
  const { stdout } = await call;
  const version = JSON.parse(stdout) as { supportedVersions: string[] };
  t.true(version.supportedVersions.includes('1.0.0'));
});

test('the image entry point dispatches `cni-install` and rejects unknown components', async (t) => {
  const dir = await tempDir(t);
  const config = {
    logLevel: 'warn',
    systemId: 'kube',
    stateDir: join(dir, 'state'),
    cniSocket: '/usr/local/var/run/aci-containers/cni.sock',
    cniBinDir: join(dir, 'bin'),
    cniConfDir: join(dir, 'conf'),
    mtu: 1450,
    accessBridge: 'br-access',
    integrationBridge: 'br-int',
    encapType: 'vxlan',
    serviceVlan: 4003,
    infraVlan: 4093,
    aci: {
      tenant: 'kube',
      defaultEndpointGroup: { tenant: 'kube', applicationProfile: 'ap', name: 'default' },
      systemEndpointGroup: { tenant: 'kube', applicationProfile: 'ap', name: 'system' },
      systemNamespaces: ['kube-system'],
      podBridgeDomain: 'bd',
    },
    healthPort: 8090,
  };
  await writeFile(join(dir, 'host-agent.conf'), JSON.stringify(config));
  const entry = [
    process.execPath,
    ['--import', 'tsx', join(repoRoot, 'agents/entrypoint.ts')],
  ] as const;
  await run(entry[0], [...entry[1], 'cni-install', `--config=${join(dir, 'host-agent.conf')}`], {
    cwd: repoRoot,
  });
  const conflist = JSON.parse(await readFile(join(dir, 'conf', ConflistName), 'utf8')) as {
    plugins: { serverSocket: string }[];
  };
  t.is(conflist.plugins[0]?.serverSocket, '/var/run/aci-containers/cni.sock');

  const error = await t.throwsAsync(
    run(entry[0], [...entry[1], 'no-such-component'], { cwd: repoRoot }),
  );
  t.is((error as Error & { code?: number }).code, 2);
});

test('in the image, the bundled plugin and node are copied next to a wrapper that runs them on the node', async (t) => {
  const dir = await tempDir(t);
  const bundle = join(dir, 'bundle.mjs');
  await writeFile(
    bundle,
    "process.stdout.write(JSON.stringify({ cniVersion: '1.0.0', supportedVersions: ['1.0.0'] }));\n",
  );
  const binDir = join(dir, 'opt-cni-bin');
  const report = await installCni({
    binDir,
    confDir: dir,
    serverSocket: '/x.sock',
    bundled: { bundle, node: process.execPath },
  });
  t.is(report.written.length, 4);
  // As a runtime on the node would: only the CNI bin folder, no repository, no tsx.
  const { stdout } = await run(join(binDir, PluginName), [], {
    env: { PATH: '/usr/bin:/bin', CNI_COMMAND: 'VERSION' },
    timeout: 60_000,
  });
  t.deepEqual(JSON.parse(stdout).supportedVersions, ['1.0.0']);
  t.deepEqual(
    (
      await installCni({
        binDir,
        confDir: dir,
        serverSocket: '/x.sock',
        bundled: { bundle, node: process.execPath },
      })
    ).written,
    [],
  );
});

test('with the native plugin in the image, it is the plugin, and node and the bundle lie beside it for its fallback', async (t) => {
  const dir = await tempDir(t);
  const native = join(dir, 'aci-containers-cni');
  await buildNativePlugin(native);
  const bundle = join(dir, 'bundle.mjs');
  await writeFile(bundle, "process.stdout.write('from the node plugin');\n");
  const binDir = join(dir, 'opt-cni-bin');
  const install = () =>
    installCni({
      binDir,
      confDir: dir,
      serverSocket: join(dir, 'absent.sock'),
      bundled: { bundle, node: process.execPath, native },
    });
  t.is((await install()).written.length, 4);
  t.deepEqual(await readFile(join(binDir, PluginName)), await readFile(native));
  // No server: the native plugin hands the call to the node plugin beside it.
  const answer = spawnSync(join(binDir, PluginName), {
    env: { PATH: '/usr/bin:/bin', CNI_COMMAND: 'ADD' },
    input: JSON.stringify({ serverSocket: join(dir, 'absent.sock') }),
    encoding: 'utf8',
    timeout: 60_000,
  });
  t.is(answer.stdout, 'from the node plugin');
  t.deepEqual((await install()).written, []);
});
