/**
 * WebDAV dead properties (RFC 4918 §4): what clients store on a resource with PROPPATCH (Windows'
 * file attributes, a Finder label, litmus's test values), held in memory for the server's
 * lifetime. Nothing is written to disk: a store inside the served folder would be served, listed
 * and zipped, and one elsewhere would outlive the files it describes. They travel with COPY and
 * MOVE and go with DELETE.
 *
 * Resources are named by path keys, as the lock table names them (dav-locks.ts): decoded segments
 * joined with "/", the root "".
 */

/** One property: its name and its value as standalone XML (dav-xml.ts `contentXml`). */
export interface DeadProperty {
  readonly ns: string;
  readonly local: string;
  readonly valueXml: string;
  /** Its xml:lang, on it or inherited from the request's elements around it (RFC 4918 §4.3); null for none. */
  readonly lang: string | null;
}

/**
 * What all properties together may hold. A value is at most a request body (1 MiB); a client
 * setting property after property must not grow memory without bound: past this, 507.
 */
export const MAX_PROPERTY_BYTES = 16 * 1024 * 1024;

export class DeadProperties {
  /** Per key, per name (`ns` + " " + `local`: a local name holds no space). */
  private readonly byKey = new Map<string, Map<string, DeadProperty>>();
  private bytes = 0;

  /** The properties of a resource, in the order they were set. */
  all(key: string): readonly DeadProperty[] {
    const properties = this.byKey.get(key);
    return properties === undefined ? [] : [...properties.values()];
  }

  get(key: string, ns: string, local: string): DeadProperty | undefined {
    return this.byKey.get(key)?.get(nameOf(ns, local));
  }

  /** Whether `changes` fit in what is left of MAX_PROPERTY_BYTES (a PROPPATCH is applied whole or not at all). */
  fits(changes: readonly DeadProperty[]): boolean {
    return this.bytes + changes.reduce((sum, p) => sum + sizeOf(p), 0) <= MAX_PROPERTY_BYTES;
  }

  set(key: string, property: DeadProperty): void {
    let properties = this.byKey.get(key);
    if (properties === undefined) this.byKey.set(key, (properties = new Map()));
    const name = nameOf(property.ns, property.local);
    const old = properties.get(name);
    if (old !== undefined) this.bytes -= sizeOf(old);
    properties.set(name, property);
    this.bytes += sizeOf(property);
  }

  /** Removing a property that is not there is no error (RFC 4918 §14.23). */
  remove(key: string, ns: string, local: string): void {
    const properties = this.byKey.get(key);
    const name = nameOf(ns, local);
    const old = properties?.get(name);
    if (old === undefined) return;
    properties!.delete(name);
    this.bytes -= sizeOf(old);
    if (properties!.size === 0) this.byKey.delete(key);
  }

  /** Forgets the properties of `key` and of everything below it (DELETE, or a destination overwritten). */
  forgetWithin(key: string): void {
    for (const at of this.keysWithin(key)) {
      for (const property of this.byKey.get(at)!.values()) this.bytes -= sizeOf(property);
      this.byKey.delete(at);
    }
  }

  /** Gives `to` (and what is below it) the properties of `from` (and what is below it): COPY. */
  copyWithin(from: string, to: string): void {
    for (const at of this.keysWithin(from)) {
      for (const property of this.byKey.get(at)!.values()) this.set(to + at.slice(from.length), property);
    }
  }

  /** As `copyWithin`, then forgets the source's: MOVE. */
  moveWithin(from: string, to: string): void {
    const moved = this.keysWithin(from).map((at) => [at, this.byKey.get(at)!] as const);
    for (const [at] of moved) this.byKey.delete(at);
    for (const [at, properties] of moved) this.byKey.set(to + at.slice(from.length), properties);
  }

  private keysWithin(key: string): string[] {
    return [...this.byKey.keys()].filter((at) => at === key || key === "" || at.startsWith(key + "/"));
  }
}

function nameOf(ns: string, local: string): string {
  return ns + " " + local;
}

/** Roughly what a property costs in memory: its strings, two bytes a character. */
function sizeOf(property: DeadProperty): number {
  return 2 * (property.ns.length + property.local.length + property.valueXml.length + (property.lang?.length ?? 0)) + 64;
}
