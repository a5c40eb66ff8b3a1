/**
 * Typed operations on the Open_vSwitch database, built on OvsdbClient. Each
 * function is one transaction, so a bridge or port appears whole or not at
 * all, and each is idempotent (safe to repeat from a repair loop).
 */
import {
  type OvsdbClient,
  type OvsdbOperation,
  type OvsdbRow,
  namedUuid,
  ovsAtoms,
  ovsMap,
  ovsMapToRecord,
  ovsScalar,
  ovsSet,
  uuid,
  uuidOf,
} from './ovsdb.ts';

export const OvsDb = 'Open_vSwitch';

export interface BridgeSpec {
  name: string;
  /** `netdev` (userspace) when the kernel module is missing, else `system`. */
  datapathType: 'netdev' | 'system';
  /** Secure: with no controller and no flows the bridge drops, never acts as a learning switch. */
  failMode: 'secure' | 'standalone';
  protocols: string[];
}

export interface PortSpec {
  name: string;
  type?: '' | 'internal' | 'patch';
  options?: Record<string, string>;
  ofportRequest?: number;
  externalIds?: Record<string, string>;
}

export const DefaultProtocols = ['OpenFlow10', 'OpenFlow13', 'OpenFlow14', 'OpenFlow15'];

async function rootUuid(db: OvsdbClient): Promise<string | undefined> {
  const [res] = await db.transact(OvsDb, [
    { op: 'select', table: 'Open_vSwitch', where: [], columns: ['_uuid'] },
  ]);
  return uuidOf(ovsScalar(res?.rows?.[0]?._uuid));
}

/** Creates the root row if missing and merges other_config (e.g. userspace-tso-enable). */
export async function ensureRoot(
  db: OvsdbClient,
  otherConfig: Record<string, string>,
): Promise<void> {
  let root = await rootUuid(db);
  if (!root) {
    const [res] = await db.transact(OvsDb, [{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
    root = uuidOf(res?.uuid);
  }
  if (!root || Object.keys(otherConfig).length === 0) return;
  await db.transact(OvsDb, [
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', uuid(root)]],
      mutations: [
        ['other_config', 'delete', ['set', Object.keys(otherConfig)]],
        ['other_config', 'insert', ovsMap(otherConfig)],
      ],
    },
  ]);
}

export interface BridgeState {
  uuid: string;
  name: string;
  datapathType: string;
  failMode: string;
  protocols: string[];
  ports: string[];
}

export async function listBridges(db: OvsdbClient): Promise<BridgeState[]> {
  const [res] = await db.transact(OvsDb, [{ op: 'select', table: 'Bridge', where: [] }]);
  return (res?.rows ?? []).map((r) => ({
    uuid: uuidOf(ovsScalar(r._uuid)) ?? '',
    name: String(ovsScalar(r.name)),
    datapathType: String(ovsScalar(r.datapath_type) ?? ''),
    failMode: String(ovsScalar(r.fail_mode) ?? ''),
    protocols: ovsAtoms(r.protocols).map(String),
    ports: ovsAtoms(r.ports).map((a) => uuidOf(a) ?? ''),
  }));
}

/**
 * Creates the bridge, or repairs its settings if someone changed them.
 * Returns what it did so the caller can log a repair.
 */
export async function ensureBridge(
  db: OvsdbClient,
  spec: BridgeSpec,
): Promise<'created' | 'repaired' | 'unchanged'> {
  const root = await rootUuid(db);
  if (!root) throw new Error('Open_vSwitch root row missing');
  const existing = (await listBridges(db)).find((b) => b.name === spec.name);
  const row: OvsdbRow = {
    datapath_type: spec.datapathType,
    fail_mode: spec.failMode,
    protocols: ovsSet(spec.protocols),
  };
  if (!existing) {
    await db.transact(OvsDb, [
      { op: 'insert', table: 'Bridge', row: { name: spec.name, ...row }, 'uuid-name': 'br' },
      {
        op: 'mutate',
        table: 'Open_vSwitch',
        where: [['_uuid', '==', uuid(root)]],
        mutations: [['bridges', 'insert', ovsSet([namedUuid('br')])]],
      },
    ]);
    return 'created';
  }
  const same =
    existing.datapathType === spec.datapathType &&
    existing.failMode === spec.failMode &&
    [...existing.protocols].sort().join() === [...spec.protocols].sort().join();
  if (same) return 'unchanged';
  await db.transact(OvsDb, [
    { op: 'update', table: 'Bridge', where: [['_uuid', '==', uuid(existing.uuid)]], row },
  ]);
  return 'repaired';
}

export async function deleteBridge(db: OvsdbClient, name: string): Promise<void> {
  const existing = (await listBridges(db)).find((b) => b.name === name);
  const root = await rootUuid(db);
  if (!existing || !root) return;
  await db.transact(OvsDb, [
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [['_uuid', '==', uuid(root)]],
      mutations: [['bridges', 'delete', ovsSet([uuid(existing.uuid)])]],
    },
  ]);
}

/** Adds a port with one interface of the same name; no-op if the port exists. */
export async function addPort(db: OvsdbClient, bridge: string, port: PortSpec): Promise<void> {
  const br = (await listBridges(db)).find((b) => b.name === bridge);
  if (!br) throw new Error(`bridge ${bridge} not found`);
  const [res] = await db.transact(OvsDb, [
    { op: 'select', table: 'Port', where: [['name', '==', port.name]], columns: ['_uuid'] },
  ]);
  if ((res?.rows ?? []).length > 0) return;
  const iface: OvsdbRow = { name: port.name, type: port.type ?? '' };
  if (port.options) iface.options = ovsMap(port.options);
  if (port.ofportRequest !== undefined) iface.ofport_request = port.ofportRequest;
  if (port.externalIds) iface.external_ids = ovsMap(port.externalIds);
  const ops: OvsdbOperation[] = [
    { op: 'insert', table: 'Interface', row: iface, 'uuid-name': 'iface' },
    {
      op: 'insert',
      table: 'Port',
      row: { name: port.name, interfaces: ovsSet([namedUuid('iface')]) },
      'uuid-name': 'port',
    },
    {
      op: 'mutate',
      table: 'Bridge',
      where: [['_uuid', '==', uuid(br.uuid)]],
      mutations: [['ports', 'insert', ovsSet([namedUuid('port')])]],
    },
  ];
  await db.transact(OvsDb, ops);
}

export async function deletePort(db: OvsdbClient, bridge: string, name: string): Promise<void> {
  const br = (await listBridges(db)).find((b) => b.name === bridge);
  const [res] = await db.transact(OvsDb, [
    { op: 'select', table: 'Port', where: [['name', '==', name]], columns: ['_uuid'] },
  ]);
  const portUuid = uuidOf(ovsScalar(res?.rows?.[0]?._uuid));
  if (!br || !portUuid) return;
  await db.transact(OvsDb, [
    {
      op: 'mutate',
      table: 'Bridge',
      where: [['_uuid', '==', uuid(br.uuid)]],
      mutations: [['ports', 'delete', ovsSet([uuid(portUuid)])]],
    },
  ]);
}

export interface InterfaceState {
  name: string;
  /** -1 or undefined while ovs-vswitchd has not attached it. */
  ofport: number | undefined;
  externalIds: Record<string, string>;
}

export function interfaceFromRow(r: OvsdbRow): InterfaceState {
  const of = ovsScalar(r.ofport);
  return {
    name: String(ovsScalar(r.name)),
    ofport: typeof of === 'number' && of > 0 ? of : undefined,
    externalIds: ovsMapToRecord(r.external_ids),
  };
}

export async function listInterfaces(db: OvsdbClient): Promise<InterfaceState[]> {
  const [res] = await db.transact(OvsDb, [
    { op: 'select', table: 'Interface', where: [], columns: ['name', 'ofport', 'external_ids'] },
  ]);
  return (res?.rows ?? []).map(interfaceFromRow);
}

/**
 * Names the OpenFlow tables (Bridge.flow_tables -> Flow_Table.name) so that
 * `ovs-ofctl --names dump-flows` prints `table=SpoofGuard` instead of numbers.
 */
export async function setFlowTableNames(
  db: OvsdbClient,
  bridge: string,
  names: Map<number, string>,
): Promise<void> {
  const br = (await listBridges(db)).find((b) => b.name === bridge);
  if (!br) return;
  const ops: OvsdbOperation[] = [];
  const entries: [number, ['named-uuid', string]][] = [];
  for (const [id, name] of names) {
    ops.push({ op: 'insert', table: 'Flow_Table', row: { name }, 'uuid-name': `t${id}` });
    entries.push([id, ['named-uuid', `t${id}`]]);
  }
  ops.push({
    op: 'update',
    table: 'Bridge',
    where: [['_uuid', '==', uuid(br.uuid)]],
    row: { flow_tables: ['map', entries] },
  });
  await db.transact(OvsDb, ops);
}
