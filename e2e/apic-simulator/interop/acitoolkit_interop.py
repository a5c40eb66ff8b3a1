"""Checks the APIC simulator with acitoolkit, a third-party APIC client.

Usage: acitoolkit_interop.py URL USER PASSWORD CA_PATH
Prints one JSON line with what was observed; exits non-zero on failure.
"""
import collections
import collections.abc
import json
import sys

# acitoolkit 0.4 predates Python 3.10 and imports ABCs from `collections`;
# alias them so the unmodified library loads on Python 3.11.
for _name in ("Sequence", "Mapping", "MutableMapping", "Iterable", "Callable"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

from acitoolkit.acitoolkit import AppProfile, BridgeDomain, Context, EPG, Session, Tenant  # noqa: E402


def main() -> int:
    url, user, password, ca_path = sys.argv[1:5]
    # verify_ssl is handed to requests, which accepts a CA bundle path.
    session = Session(url, user, password, verify_ssl=ca_path, subscription_enabled=False)
    try:
        resp = session.login()
    except AttributeError:
        # acitoolkit 0.4 crashes on a refused login when subscriptions are off
        # (it stops a thread it never made); ask again through its requests
        # session to report what the APIC answered.
        resp = session.session.post(url + "/api/aaaLogin.json", verify=ca_path,
                                    json={"aaaUser": {"attributes": {"name": user, "pwd": password}}})
    if not resp.ok:
        print(json.dumps({"step": "login", "status": resp.status_code, "body": resp.text}))
        return 1

    tenant = Tenant("interop-tn")
    vrf = Context("interop-vrf", tenant)
    bd = BridgeDomain("interop-bd", tenant)
    bd.add_context(vrf)
    app = AppProfile("interop-app", tenant)
    epg = EPG("interop-epg", app)
    epg.add_bd(bd)
    resp = session.push_to_apic(tenant.get_url(), tenant.get_json())
    if not resp.ok:
        print(json.dumps({"step": "create", "status": resp.status_code, "body": resp.text}))
        return 1

    tenants = sorted(t.name for t in Tenant.get(session))
    raw = session.get("/api/class/fvAEPg.json?query-target-filter=eq(fvAEPg.name,\"interop-epg\")")
    epgs = [o["fvAEPg"]["attributes"]["dn"] for o in raw.json()["imdata"]]
    rsbd = session.get("/api/mo/uni/tn-interop-tn/ap-interop-app/epg-interop-epg/rsbd.json").json()["imdata"]
    print(json.dumps({
        "login": True,
        "tenants": tenants,
        "epgs": epgs,
        "rsbd": [o["fvRsBd"]["attributes"]["tnFvBDName"] for o in rsbd],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
