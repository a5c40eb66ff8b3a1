// Shape of model/classes.json, the class model generate.ts writes.

export interface ModelProp {
  /** APIC base type, e.g. `string:Basic`, `scalar:Enum8`, `scalar:Uint16`, `address:Ip`. */
  type: string;
  /** Not configurable: returned by queries, ignored when a client echoes it back. */
  readOnly?: true;
  naming?: true;
  /** Settable at creation only. */
  createOnly?: true;
  /** Never returned by queries (passwords). */
  secure?: true;
  /** Accepted value → the name the APIC stores (enumerations, booleans, named numbers). */
  values?: Record<string, string>;
  default?: string;
  /** Numeric range for scalars, length range for strings. */
  min?: number;
  max?: number;
  /** Regular expressions a string value must match (any of them). */
  patterns?: string[];
}

export interface ModelClass {
  /** RN format, e.g. `BD-{name}`, `subnet-[{ip}]`, `rsctx`. */
  rn: string;
  /** Naming properties, in RN order. */
  naming: string[];
  /** Classes that may contain it. */
  parents: string[];
  abstract?: true;
  /** False for classes only the APIC itself creates. */
  configurable?: false;
  /** `jsonmeta` (generated from APIC class metadata) or `supplement` (transcribed in supplement.ts). */
  source: 'jsonmeta' | 'supplement';
  /**
   * Transcribed classes whose property list is not complete: attributes the
   * transcription does not name are stored as given instead of refused.
   */
  open?: true;
  props: Record<string, ModelProp>;
}

export interface ModelFile {
  generatedBy: string;
  sources: string[];
  classes: Record<string, ModelClass>;
  /** Classes the metadata names without describing them (real APIC classes the simulator does not model). */
  otherClasses?: string[];
}
