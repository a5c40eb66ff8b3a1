// Interop beyond Cisco's targets: a tenant's networking written with the
// cisco.aci modules against a fresh simulator, first with a password, then
// again with a certificate signature. Every object is queried back, the
// second run changes nothing, aci_rest writes report changed, and bad input
// gets the APIC's own error. TLS is verified against the simulator's CA.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateUserCert } from '../certs.ts';
import { ANSIBLE_USER, runPlaybook, setupAnsible, startSimulatorFor } from './run.ts';

const playbook = fileURLToPath(new URL('./tenant-network.yml', import.meta.url));

/** Tasks that create or set an object (the playbook's first part). */
const OBJECT_TASKS = [
  'Tenant',
  'VRF',
  'Bridge domain',
  'Bridge domain subnet',
  'Application profile',
  'EPG',
  'Filter',
  'Filter entry',
  'Contract',
  'Contract subject',
  'Contract subject to filter',
  'EPG to contract',
  'L3Out',
  'External EPG',
  'External subnet',
];

test('cisco.aci modules build a tenant, query it back, and a second run changes nothing', async (t) => {
  t.timeout(1_800_000, 'installing ansible on first use, then two playbook runs');
  const setup = await setupAnsible();
  const user = generateUserCert(ANSIBLE_USER);
  const sim = await startSimulatorFor(user.certPem);
  const workDir = mkdtempSync(join(tmpdir(), 'aci-ansible-tenant-'));
  try {
    const common = {
      aci_private_key: user.keyPath,
      aci_certificate_name: 'admin',
    };
    // Python's ssl trusts the simulator's CA through SSL_CERT_FILE, so validate_certs stays on.
    const env = { SSL_CERT_FILE: sim.started.caPath };
    const first = await runPlaybook(setup, playbook, sim.host, {
      workDir,
      env,
      extraVars: { ...common, aci_login: 'password' },
    });
    t.is(first.failures, 0, `${first.failedTask?.name}: ${first.failedTask?.reason}`);
    for (const task of OBJECT_TASKS) t.true(first.changedByTask.get(task), `${task} created`);

    const tenant = sim.sim.tree.get('uni/tn-kube-net');
    t.is(tenant?.attrs.descr, 'Kubernetes networking');
    t.is(sim.sim.tree.get('uni/tn-kube-net/BD-kube-pod-bd/rsctx')?.attrs.tnFvCtxName, 'kube-vrf');
    t.is(
      sim.sim.tree.get('uni/tn-kube-net/BD-kube-pod-bd/subnet-[10.2.0.1/16]')?.attrs.scope,
      'public',
    );
    t.is(
      sim.sim.tree.get('uni/tn-kube-net/brc-dns/subj-dns/rssubjFiltAtt-dns')?.attrs.tnVzFilterName,
      'dns',
    );
    t.is(
      sim.sim.tree.get('uni/tn-kube-net/out-kube-l3out/instP-default/extsubnet-[0.0.0.0/0]')?.attrs
        .scope,
      'import-security',
    );

    const postsBefore = sim.sim.stats.posts;
    const second = await runPlaybook(setup, playbook, sim.host, {
      workDir,
      env,
      extraVars: { ...common, aci_login: 'certificate' },
    });
    t.is(second.failures, 0, `${second.failedTask?.name}: ${second.failedTask?.reason}`);
    for (const task of OBJECT_TASKS) t.false(second.changedByTask.get(task), `${task} unchanged`);
    t.true(second.changedByTask.get('aci_rest write'), 'a new description is a change');
    t.true(sim.sim.stats.posts > postsBefore, 'the signed run reached the simulator');
    t.is(
      sim.sim.tree.get('uni/tn-kube-net/ap-kubernetes')?.attrs.descr,
      'written with certificate',
    );
  } finally {
    await sim.started.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
});
