/**
 * Leader election on a clock the test moves: hanging renewals, skewed
 * holder clocks and a paused leader, each against an in-memory Lease with
 * the API server's optimistic concurrency (resourceVersion, 409).
 */
import test from 'ava';
import { KubeApiError } from './client.ts';
import {
  LeaderElector,
  termToken,
  type ElectionClock,
  type Lease,
  type LeaseStore,
} from './leader.ts';

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** Time shared by the candidates; each has its own timers, and a paused (SIGSTOPped) one runs none. */
class ManualClock implements ElectionClock {
  private readonly world: { t: number; seq: number; timers: Timer[] };
  readonly wallStart = Date.parse('2026-01-01T00:00:00Z');
  paused = false;

  constructor(shared?: ManualClock) {
    this.world = shared?.world ?? { t: 0, seq: 0, timers: [] };
  }

  now(): number {
    return this.world.t;
  }
  wallTime(): Date {
    return new Date(this.wallStart + this.world.t);
  }
  timer(ms: number, fire: () => void): () => void {
    const entry = { at: this.world.t + ms, seq: this.world.seq++, fire, live: true, owner: this };
    this.world.timers.push(entry);
    return () => {
      entry.live = false;
    };
  }
  sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        cancel();
        signal.removeEventListener('abort', done);
        resolve();
      };
      const cancel = this.timer(ms, done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
  /** Moves time forward, firing due timers of running candidates in order and letting what they wake run. */
  async advance(ms: number): Promise<void> {
    const end = this.world.t + ms;
    for (;;) {
      await settle();
      const due = this.world.timers
        .filter((x) => x.live && !x.owner.paused && x.at <= end)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      due.live = false;
      this.world.t = Math.max(this.world.t, due.at);
      due.fire();
    }
    this.world.t = end;
    await settle();
  }
}

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
  live: boolean;
  owner: ManualClock;
}

/** One Lease with resourceVersion semantics; each candidate talks to it through its own link. */
class LeaseServer {
  lease: Lease | undefined;
  private version = 0;
  readonly writes: { holder: string; at: number }[] = [];
  constructor(private readonly clock: ManualClock) {}

  link(): LeaseStore & { hang: boolean; aborted: number } {
    const link = {
      hang: false,
      aborted: 0,
      call<T>(signal: AbortSignal, work: () => T): Promise<T> {
        return new Promise<T>((resolve, reject) => {
          if (link.hang) {
            signal.addEventListener('abort', () => {
              link.aborted++;
              reject(new Error('aborted'));
            });
            return;
          }
          queueMicrotask(() => {
            try {
              resolve(work());
            } catch (error) {
              reject(error as Error);
            }
          });
        });
      },
      read: (signal: AbortSignal) => link.call(signal, () => this.copy()),
      create: (lease: Lease, signal: AbortSignal) =>
        link.call(signal, () => {
          if (this.lease) throw new KubeApiError(409, 'AlreadyExists', 'exists');
          return this.store(lease);
        }),
      replace: (lease: Lease, signal: AbortSignal) =>
        link.call(signal, () => {
          if (lease.metadata.resourceVersion !== this.lease?.metadata.resourceVersion)
            throw new KubeApiError(409, 'Conflict', 'the object has been modified');
          return this.store(lease);
        }),
    };
    return link;
  }

  copy(): Lease | undefined {
    return this.lease ? (JSON.parse(JSON.stringify(this.lease)) as Lease) : undefined;
  }

  store(lease: Lease): Lease {
    this.lease = {
      ...lease,
      metadata: { ...lease.metadata, resourceVersion: String(++this.version) },
    };
    this.writes.push({ holder: lease.spec?.holderIdentity ?? '', at: this.clock.now() });
    return this.copy() as Lease;
  }
}

interface Candidate {
  elector: LeaderElector;
  clock: ManualClock;
  link: ReturnType<LeaseServer['link']>;
  /** Times (test clock) at which its leader work started and was aborted. */
  started: number[];
  stopped: number[];
}

function candidate(server: LeaseServer, world: ManualClock, identity: string): Candidate {
  const clock = new ManualClock(world);
  const link = server.link();
  const started: number[] = [];
  const stopped: number[] = [];
  const elector = new LeaderElector(link, {
    namespace: 'ns',
    name: 'lease',
    identity,
    leaseDurationSeconds: 15,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2000,
    clock,
    onStartedLeading: (signal) => {
      started.push(clock.now());
      signal.addEventListener('abort', () => stopped.push(clock.now()), { once: true });
    },
  });
  return { elector, clock, link, started, stopped };
}

test('a renewal hanging on the network is aborted at the renew deadline, and the leader stops before the lease can be taken', async (t) => {
  const clock = new ManualClock();
  const server = new LeaseServer(clock);
  const first = candidate(server, clock, 'first');
  first.elector.start();
  await clock.advance(0);
  t.true(first.elector.isLeader());
  const second = candidate(server, clock, 'second');
  second.elector.start();
  await clock.advance(500);
  t.false(second.elector.isLeader());

  first.link.hang = true; // every request of the leader from now on hangs, as on a dead connection
  await clock.advance(9000);
  t.true(first.elector.isLeader(), 'still inside the term begun at 0');
  await clock.advance(1000);
  t.false(first.elector.isLeader(), 'the term ends at the renew deadline');
  t.deepEqual(first.stopped, [10_000], 'leader work aborted at the renew deadline');
  t.true(first.link.aborted >= 1, 'the hanging renewal was aborted');

  await clock.advance(10_000);
  t.true(second.elector.isLeader(), 'the standby took over once the lease ran out');
  t.true(
    second.started[0]! >= 500 + 15_000,
    'not before the lease duration since it saw it change',
  );
  t.true(first.stopped[0]! < second.started[0]!, 'never two leaders');
  first.link.hang = false;
  await Promise.all([first.elector.stop(), second.elector.stop(), clock.advance(30_000)]);
});

for (const [skew, label] of [
  [-3600_000, 'an hour behind'],
  [3600_000, 'an hour ahead'],
] as const) {
  test(`expiry is judged by when this process saw the lease change, not by a holder clock ${label}`, async (t) => {
    const clock = new ManualClock();
    const server = new LeaseServer(clock);
    const renewTime = new Date(clock.wallStart + skew).toISOString();
    server.store({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'lease', namespace: 'ns' },
      spec: {
        holderIdentity: 'elsewhere',
        leaseDurationSeconds: 15,
        renewTime,
        acquireTime: renewTime,
      },
    });
    const standby = candidate(server, clock, 'standby');
    standby.elector.start();
    await clock.advance(14_000);
    t.false(
      standby.elector.isLeader(),
      'the holder may still be renewing: its lease is 15 s from our first look',
    );
    await clock.advance(4000);
    t.true(standby.elector.isLeader(), 'no change for the lease duration: expired');
    await Promise.all([standby.elector.stop(), clock.advance(30_000)]);
  });
}

test('a leader paused past its lease is no longer leader when it resumes, and never writes the lease again', async (t) => {
  const world = new ManualClock();
  const server = new LeaseServer(world);
  const first = candidate(server, world, 'first');
  first.elector.start();
  await world.advance(0);
  const second = candidate(server, world, 'second');
  second.elector.start();
  await world.advance(3000);
  t.true(first.elector.isLeader());
  t.is(
    first.elector.term(),
    'first/0',
    'the term token: holder and transitions, as the Lease says',
  );
  t.is(first.elector.term(), termToken(server.lease!));
  t.is(second.elector.term(), undefined, 'a standby has no term');

  // SIGSTOP: the leader runs nothing (no timer, no renewal) while the standby keeps going.
  first.clock.paused = true;
  await world.advance(20_000);
  t.true(second.elector.isLeader(), 'the standby took over the unrenewed lease');
  t.is(second.elector.term(), 'second/1', 'a takeover is a new term');
  t.true(
    second.started[0]! >= 2000 + 15_000,
    'only after the lease duration since the last renewal it saw',
  );

  // SIGCONT: before any of its timers ran, the old leader already knows its term is over.
  const writesBefore = server.writes.length;
  first.clock.paused = false;
  t.false(first.elector.isLeader(), 'a term that ran out during the pause is over at once');
  t.is(first.elector.term(), undefined, 'and its token is gone with it');
  await world.advance(0);
  t.is(first.stopped.length, 1, 'its leader work is aborted when its timers run again');
  await world.advance(10_000);
  t.false(
    first.elector.isLeader(),
    'the new holder keeps renewing, so the old one stays a standby',
  );
  t.false(
    server.writes.slice(writesBefore).some((w) => w.holder === 'first'),
    'no write of the old leader after the pause',
  );
  await Promise.all([first.elector.stop(), second.elector.stop(), world.advance(30_000)]);
});

test('a graceful stop empties the lease and a standby leads at its next retry', async (t) => {
  const clock = new ManualClock();
  const server = new LeaseServer(clock);
  const first = candidate(server, clock, 'first');
  first.elector.start();
  await clock.advance(0);
  const second = candidate(server, clock, 'second');
  second.elector.start();
  await clock.advance(1000);
  const stopping = first.elector.stop();
  await clock.advance(0);
  await stopping;
  t.is(server.lease?.spec?.holderIdentity, null);
  await clock.advance(2000);
  t.true(second.elector.isLeader());
  await Promise.all([second.elector.stop(), clock.advance(30_000)]);
});

test('a renew deadline not shorter than the lease is refused', (t) => {
  const clock = new ManualClock();
  const server = new LeaseServer(clock);
  t.throws(
    () =>
      new LeaderElector(server.link(), {
        namespace: 'ns',
        name: 'lease',
        leaseDurationSeconds: 10,
        renewDeadlineMs: 10_000,
        onStartedLeading: () => {},
      }),
    { message: /renewDeadlineMs \(10000\) must be shorter than the lease duration/ },
  );
});
