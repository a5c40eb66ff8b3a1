// An error the simulated APIC answers with: HTTP status, APIC error code and
// text, as in `{"imdata":[{"error":{"attributes":{"code","text"}}}]}`.
export class ApicError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: string,
    text: string,
  ) {
    super(text);
  }
}

// Texts of the errors a real APIC gives, as Cisco's cisco.aci integration
// tests assert them (tests/integration/targets/aci_rest/tasks/error_handling.yml,
// aci_epg_to_domain, aci_tenant_span_src_group): see docs/apic.md.
export const apicErrors = {
  unknownClass: (cls: string) => new ApicError(400, '122', `unknown managed object class ${cls}`),
  unknownAttribute: (prop: string, cls: string) =>
    new ApicError(400, '400', `unknown attribute '${prop}' in element '${cls}'`),
  failedValidation: (prop: string, dn: string, value: string) =>
    new ApicError(400, '801', `property ${prop} of ${dn} failed validation for value '${value}'`),
  unknownValue: (value: string, prop: string, cls: string, dn: string) =>
    new ApicError(
      400,
      '120',
      `unknown property value ${value}, , name ${prop}, class ${cls} [(Dn0)] Dn0=${dn}, `,
    ),
  invalidRn: (rn: string) => new ApicError(400, '104', `Invalid RN ${rn}`),
  attributesMissing: () =>
    new ApicError(
      400,
      '400',
      "invalid data at line '1'. Attributes are missing, tag 'attributes' must be specified first, before any other tag",
    ),
  jsonParse: () =>
    new ApicError(400, '400', 'JSON parsing failed - incomplete attribute value at line: 1'),
} as const;
