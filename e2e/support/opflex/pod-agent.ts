/**
 * Runs inside a pod's network namespace (`ip netns exec <ns> node --import
 * tsx pod-agent.ts <control.sock> <ip> <tcpPorts> <udpPorts>`): serves TCP
 * and UDP echo on the given ports, and takes commands from the test over a
 * unix socket (paths are not netns-bound), so one process per pod probes
 * hundreds of pairs without spawning anything per probe.
 *
 * Commands (one JSON per line, answered by one JSON line with the same id):
 *   { op: "probe", probes: [{ ip, port, proto }], timeoutMs } -> { results: boolean[] }
 *   { op: "open", key, ip, port }          hold a TCP connection
 *   { op: "echo", key, data, timeoutMs }   -> { ok } round-trip on a held connection
 *   { op: "close", key }
 *   { op: "seen" }                         -> { peers: string[] } sources that reached our servers
 *   { op: "reset" }                        forget the sources seen so far
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { rmSync } from 'node:fs';

const [controlPath = '', listenIp = '0.0.0.0', tcpList = '', udpList = ''] = process.argv.slice(2);
const ports = (s: string): number[] => s.split(',').filter(Boolean).map(Number);
const seen = new Set<string>();

for (const port of ports(tcpList)) {
  net
    .createServer((sock) => {
      seen.add(`${sock.remoteAddress}:tcp:${port}`);
      sock.on('data', (d) => sock.write(d));
      sock.on('error', () => sock.destroy());
    })
    .listen(port, listenIp);
}
for (const port of ports(udpList)) {
  const s = dgram.createSocket('udp4');
  s.on('message', (msg, rinfo) => {
    seen.add(`${rinfo.address}:udp:${port}`);
    s.send(msg, rinfo.port, rinfo.address);
  });
  s.bind(port, listenIp);
}

interface Probe {
  ip: string;
  port: number;
  proto: 'tcp' | 'udp';
}

function probeTcp(p: Probe, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: p.ip, port: p.port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

function probeUdp(p: Probe, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const payload = Buffer.from(`probe-${Math.random()}`);
    // UDP may lose the first datagram while ARP resolves; resend a few times.
    const send = (): void => s.send(payload, p.port, p.ip);
    const timer = setTimeout(() => done(false), timeoutMs);
    const resend = setInterval(send, Math.max(50, timeoutMs / 4));
    let finished = false;
    function done(ok: boolean): void {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      clearInterval(resend);
      s.close();
      resolve(ok);
    }
    s.on('message', (msg) => {
      if (msg.equals(payload)) done(true);
    });
    s.on('error', () => done(false));
    send();
  });
}

const held = new Map<string, net.Socket>();

type Command =
  | { id: number; op: 'probe'; probes: Probe[]; timeoutMs: number }
  | { id: number; op: 'open'; key: string; ip: string; port: number }
  | { id: number; op: 'echo'; key: string; data: string; timeoutMs: number }
  | { id: number; op: 'close'; key: string }
  | { id: number; op: 'seen' }
  | { id: number; op: 'reset' };

async function handle(cmd: Command): Promise<Record<string, unknown>> {
  switch (cmd.op) {
    case 'probe':
      return {
        results: await Promise.all(
          cmd.probes.map((p) =>
            p.proto === 'tcp' ? probeTcp(p, cmd.timeoutMs) : probeUdp(p, cmd.timeoutMs),
          ),
        ),
      };
    case 'open': {
      const sock = net.connect({ host: cmd.ip, port: cmd.port });
      await new Promise<void>((resolve, reject) => {
        sock.once('connect', () => resolve());
        sock.once('error', reject);
      });
      sock.on('error', () => undefined);
      held.set(cmd.key, sock);
      return { ok: true };
    }
    case 'echo': {
      const sock = held.get(cmd.key);
      if (!sock || sock.destroyed) return { ok: false };
      const ok = await new Promise<boolean>((resolve) => {
        let got = '';
        const onData = (d: Buffer): void => {
          got += d.toString();
          if (got.includes(cmd.data)) finish(true);
        };
        const finish = (v: boolean): void => {
          clearTimeout(timer);
          sock.off('data', onData);
          resolve(v);
        };
        const timer = setTimeout(() => finish(false), cmd.timeoutMs);
        sock.on('data', onData);
        sock.write(cmd.data);
      });
      return { ok };
    }
    case 'close':
      held.get(cmd.key)?.destroy();
      held.delete(cmd.key);
      return { ok: true };
    case 'seen':
      return { peers: [...seen] };
    case 'reset':
      seen.clear();
      return { ok: true };
  }
}

rmSync(controlPath, { force: true });
net
  .createServer((conn) => {
    let buf = '';
    conn.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const cmd = JSON.parse(line) as Command;
        void handle(cmd).then(
          (res) => conn.write(JSON.stringify({ id: cmd.id, ...res }) + '\n'),
          (err: unknown) => conn.write(JSON.stringify({ id: cmd.id, error: String(err) }) + '\n'),
        );
      }
    });
    conn.on('error', () => undefined);
  })
  .listen(controlPath, () => process.stdout.write('ready\n'));
