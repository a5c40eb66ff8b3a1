/**
 * The APIC user the controller logs in as, with its X.509 certificate for
 * signature-based login, as acc-provision creates it (pure): aaaUser with
 * the admin role on security domain all, and aaaUserCert named
 * `<user>.crt`. The password is random and never shown: the controller logs
 * in by certificate only.
 */
import { makeMo as mo, type Mo } from '../apic/mo.ts';

export interface ApicUserInput {
  username: string;
  certificateName: string;
  certificatePem: string;
  /** A random password: local APIC users need one, nobody uses it. */
  password: string;
}

export const userDn = (username: string) => `uni/userext/user-${username}`;

export function apicUserObjects(input: ApicUserInput): Mo {
  return mo(
    'aaaUser',
    {
      dn: userDn(input.username),
      name: input.username,
      accountStatus: 'active',
      pwd: input.password,
    },
    [
      mo('aaaUserDomain', { rn: 'userdomain-all', name: 'all' }, [
        mo('aaaUserRole', { rn: 'role-admin', name: 'admin', privType: 'writePriv' }),
      ]),
      mo('aaaUserCert', {
        rn: `usercert-${input.certificateName}`,
        name: input.certificateName,
        data: input.certificatePem,
      }),
    ],
  );
}
