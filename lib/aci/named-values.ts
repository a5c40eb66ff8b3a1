/**
 * The APIC stores well-known L4 ports and IP protocols under their names (the
 * vzEntry and hostprotRule property types of the model reference). The
 * controller normalizes its desired state with these tables so that a re-read
 * compares equal. The APIC simulator takes its port names from the APIC's own
 * class model instead (e2e/apic-simulator/classes.ts), and a test compares the
 * two, so a name missing here shows up as drift, not as agreement. Protocol
 * names likewise: the simulator has its own transcription of the model
 * reference (no metadata source here carries that type).
 */
export const portNames: Readonly<Record<string, string>> = {
  '0': 'unspecified',
  '20': 'ftpData',
  '22': 'ssh',
  '25': 'smtp',
  '53': 'dns',
  '80': 'http',
  '110': 'pop3',
  '443': 'https',
  '554': 'rtsp',
};

export const protoNames: Readonly<Record<string, string>> = {
  '0': 'unspecified',
  '1': 'icmp',
  '2': 'igmp',
  '6': 'tcp',
  '8': 'egp',
  '9': 'igp',
  '17': 'udp',
  '58': 'icmpv6',
  '88': 'eigrp',
  '89': 'ospfigp',
  '103': 'pim',
  '115': 'l2tp',
};
