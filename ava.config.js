// ava's configuration. A file rather than package.json's "ava" key because
// it holds a function: the order in which files start. With two files at a
// time, a long file that starts last runs alone at the end of the pass with
// one core idle, so the files measured longest start first: Cisco's Ansible
// targets (about ten minutes of serial playbooks on this project's 2-core CI
// machine, more than half a warm pass) and the other Ansible file (a minute,
// which `npm test` printed as the pass's last); the rest keep ava's order
// (the sort is stable). The two share one Ansible install (a lock in
// setup-ansible.sh).
const startFirst = [
  'e2e/apic-simulator/ansible/cisco-targets.test.ts',
  'e2e/apic-simulator/ansible/tenant-network.test.ts',
];

const rank = (file) => {
  const i = startFirst.findIndex((suffix) => file.endsWith(suffix));
  return i === -1 ? startFirst.length : i;
};

export default {
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  files: [
    'crds/**/*.test.ts',
    'operator/**/*.test.ts',
    'agents/**/*.test.ts',
    'lib/**/*.test.ts',
    'e2e/**/*.test.ts',
    'bench/**/*.test.ts',
    'deploy/**/*.test.ts',
    'scripts/**/*.test.ts',
  ],
  timeout: '5m',
  concurrency: 2,
  sortTestFiles: (a, b) => rank(a) - rank(b),
};
