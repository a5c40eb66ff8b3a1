/**
 * Test plumbing: pods as network namespaces with a veth into OVS, and the
 * pod agent process inside each. Every name is prefixed by the caller so
 * test files run concurrently; everything created is registered for
 * teardown.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const execFileP = promisify(execFile);

export async function run(cmd: string, args: string[], input?: string): Promise<string> {
  if (input === undefined)
    return (await execFileP(cmd, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
    child.stdin?.end(input);
  });
}

export interface PodNet {
  /** netns name */
  netns: string;
  /** host side of the veth (the OVS port), <= 15 chars */
  hostIf: string;
  ip: string;
  prefixLen: number;
  mac: string;
  gateway: string;
}

/** The pod's netns with eth0; the host side of its veth goes into `nodeNetns` (the node running OVS). */
export async function createPodNetns(p: PodNet, nodeNetns: string): Promise<void> {
  await run('ip', ['netns', 'add', p.netns]);
  const tmp = `${p.hostIf}p`.slice(0, 15);
  await run(
    'ip',
    ['-n', nodeNetns, '-batch', '-'],
    [
      `link add ${p.hostIf} type veth peer name ${tmp} netns ${p.netns}`,
      `link set ${p.hostIf} up`,
    ].join('\n') + '\n',
  );
  await run(
    'ip',
    ['-n', p.netns, '-batch', '-'],
    [
      `link set ${tmp} name eth0`,
      `link set eth0 address ${p.mac}`,
      `addr add ${p.ip}/${p.prefixLen} dev eth0`,
      'link set eth0 up',
      'link set lo up',
      `route add default via ${p.gateway}`,
    ].join('\n') + '\n',
  );
}

/** The pod's IPv6 address and default route, `nodad` as the CNI server sets it (agents/host/netconf/check.ts). */
export async function addPodIPv6(
  netns: string,
  v6: { ip: string; prefixLen: number; gateway: string },
): Promise<void> {
  await run(
    'ip',
    ['-n', netns, '-batch', '-'],
    [
      `addr add ${v6.ip}/${v6.prefixLen} dev eth0 nodad`,
      `route add ::/0 via ${v6.gateway} dev eth0`,
    ].join('\n') + '\n',
  );
}

export async function deleteNetns(netns: string): Promise<void> {
  await run('ip', ['netns', 'del', netns]).catch(() => undefined);
}

export async function deleteLink(name: string): Promise<void> {
  await run('ip', ['link', 'del', name]).catch(() => undefined);
}

export async function inNetns(netns: string, cmd: string, args: string[]): Promise<string> {
  return run('ip', ['netns', 'exec', netns, cmd, ...args]);
}

export interface ProbeSpec {
  ip: string;
  port: number;
  proto: 'tcp' | 'udp';
}

const podAgentScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pod-agent.ts');

/** Client of the pod agent running inside a netns. */
export class PodAgent {
  private conn?: net.Socket;
  private nextId = 1;
  private readonly pending = new Map<number, (v: Record<string, unknown>) => void>();
  private buf = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly socketPath: string,
  ) {}

  static async start(
    netns: string,
    socketPath: string,
    ip: string,
    tcp: number[],
    udp: number[],
  ): Promise<PodAgent> {
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        netns,
        process.execPath,
        '--import',
        'tsx',
        podAgentScript,
        socketPath,
        ip,
        tcp.join(','),
        udp.join(','),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        cwd: path.resolve(path.dirname(podAgentScript), '../../..'),
      },
    );
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`pod agent in ${netns} did not start`)),
        30_000,
      );
      child.stdout?.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`pod agent in ${netns} exited ${code}`)));
    });
    const agent = new PodAgent(child, socketPath);
    await agent.connect();
    return agent;
  }

  private connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      const conn = net.connect(this.socketPath, () => resolve());
      conn.once('error', reject);
      conn.on('data', (d) => {
        this.buf += d.toString();
        let nl: number;
        while ((nl = this.buf.indexOf('\n')) >= 0) {
          const msg = JSON.parse(this.buf.slice(0, nl)) as { id: number } & Record<string, unknown>;
          this.buf = this.buf.slice(nl + 1);
          this.pending.get(msg.id)?.(msg);
          this.pending.delete(msg.id);
        }
      });
      this.conn = conn;
    });
  }

  private call(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.conn?.write(JSON.stringify({ id, ...cmd }) + '\n');
    });
  }

  async probe(probes: ProbeSpec[], timeoutMs = 1000): Promise<boolean[]> {
    const res = await this.call({ op: 'probe', probes, timeoutMs });
    return res.results as boolean[];
  }

  async open(key: string, ip: string, port: number): Promise<boolean> {
    return (await this.call({ op: 'open', key, ip, port })).ok === true;
  }

  async echo(key: string, data: string, timeoutMs = 2000): Promise<boolean> {
    return (await this.call({ op: 'echo', key, data, timeoutMs })).ok === true;
  }

  async seen(): Promise<string[]> {
    return (await this.call({ op: 'seen' })).peers as string[];
  }

  async resetSeen(): Promise<void> {
    await this.call({ op: 'reset' });
  }

  stop(): void {
    this.conn?.destroy();
    this.child.kill('SIGKILL');
  }
}

/** Teardown registry: run in reverse order, never throws. */
export class Cleanup {
  private readonly steps: (() => Promise<unknown> | unknown)[] = [];
  add(step: () => Promise<unknown> | unknown): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop();
      try {
        await step?.();
      } catch {
        // keep tearing down
      }
    }
  }
}

export const macFor = (prefix: number, n: number): string =>
  `0a:58:${prefix.toString(16).padStart(2, '0')}:00:${((n >> 8) & 255).toString(16).padStart(2, '0')}:${(n & 255).toString(16).padStart(2, '0')}`;
