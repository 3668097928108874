/**
 * WebDAV (RFC 4918), so the share mounts as a drive: PROPFIND always (reading), and with --upload
 * PROPPATCH, MKCOL, DELETE, COPY, MOVE, LOCK and UNLOCK (class 1 and 2). PUT and multipart POST
 * stay upload.ts's; they ask `writeRefusal` here first, so the If header and locks guard them too.
 *
 *   method → (writes: --upload, same-site Origin) → target, refused rather than normalised →
 *   what is there, confined as reads are (locate.ts) → If header and locks → the change, through
 *   the write path (writes.ts) → Reply (207 Multi-Status bodies made here)
 *
 * What a client sees follows the listing's rules: dotfiles hidden without --dotfiles, links out of
 * the root hidden without --follow-symlinks, uploads in progress never. A write never goes through
 * a symlink: DELETE and MOVE act on a link itself, COPY copies what a link inside the root names.
 * Locks and dead properties live in memory for the server's lifetime (dav-locks.ts, dav-props.ts).
 */
import { lstatSync, mkdirSync } from "node:fs";
import { Readable } from "node:stream";
import { requestedAuthority, requestScheme } from "./access.js";
import { headerText } from "./conditional.js";
import { ifHolds, parseIf, submittedTokens, type IfHeader, type ResourceState } from "./dav-if.js";
import { LockTable, parseTimeout, type ActiveLock, type LockScope } from "./dav-locks.js";
import { DeadProperties, type DeadProperty } from "./dav-props.js";
import { copyFound, createEmptyFile, isInsidePath, moveEntry, removeEntry, type Entry } from "./dav-disk.js";
import { contentXml, DAV_NS, escapeXml, MAX_XML_BODY, parseXml, propertyXml, XML_NS, XmlRefusal, type XmlElement } from "./dav-xml.js";
import { errorXml, MULTISTATUS_CLOSE, MULTISTATUS_OPEN, multiStatus, multistatusXml, propstat, XML_HEAD, XML_TYPE, xmlReply } from "./dav-answers.js";
import { encodePathSegment } from "./escape.js";
import { contentTypeFor, etagOf } from "./files.js";
import { eachFolderName, locate, locateEntry, pathInFolder, type Found } from "./locate.js";
import { isCrossSite } from "./origin.js";
import { DAV_READ_METHODS, type Policy, type UploadRules } from "./policy.js";
import { announcesBody, closingIfUnread, emptyReply, errorPage, type Reply, type ServedRequest } from "./reply.js";
import { DOT, resolveTargetPath, resolveWriteTarget } from "./target.js";
import { guardedBody, replyForWriteFailure, writableFolder, WriteRefusal, type Placeholders } from "./writes.js";

/** The methods this module answers (PUT and POST are upload.ts's). */
export const DAV_METHODS: ReadonlySet<string> = new Set(["PROPFIND", "PROPPATCH", "MKCOL", "DELETE", "COPY", "MOVE", "LOCK", "UNLOCK"]);


/**
 * Headers every OPTIONS answer carries: the DAV classes, and the one Windows' Web Folders look for.
 * Class 2 (locking) only with --upload, where LOCK is answered: a client told class 2 by a share it
 * cannot write (macOS Finder) mounts it as writable and fails on every change; told class 1, it
 * mounts it read-only.
 */
export function davOptionsHeaders(policy: Policy): Readonly<Record<string, string>> {
  return policy.upload ? CLASS_2 : CLASS_1;
}
const CLASS_1 = { DAV: "1", "MS-Author-Via": "DAV" } as const;
const CLASS_2 = { DAV: "1, 2", "MS-Author-Via": "DAV" } as const;


/** The live properties we compute (RFC 4918 §15); none of them can be set by PROPPATCH. */
const LIVE_PROPERTIES = ["resourcetype", "getcontentlength", "getlastmodified", "getetag", "getcontenttype", "displayname", "creationdate", "supportedlock", "lockdiscovery"] as const;
type LiveProperty = (typeof LIVE_PROPERTIES)[number];
const LIVE_NAMES: ReadonlySet<string> = new Set(LIVE_PROPERTIES);

const SUPPORTED_LOCK =
  "<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>" +
  "<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>";

/** A Depth: 1 answer is sent this many entries at a time: memory stays flat whatever the folder holds. */
const ENTRIES_PER_CHUNK = 64;

/** A resource a request names: its segments below the root and its path key (dav-locks.ts). */
interface Place {
  segments: readonly Buffer[];
  key: string;
}

export class WebDav {
  private readonly locks = new LockTable();
  private readonly properties = new DeadProperties();

  constructor(
    private readonly policy: Policy,
    private readonly placeholders: Placeholders,
  ) {}

  /** Answers a WebDAV method. `sendContinue` is called just before a body is read. */
  async answer(req: ServedRequest, sendContinue: () => void): Promise<Reply> {
    try {
      const method = req.method!;
      if (method === "PROPFIND") return closingIfUnread(req, await this.propfind(req, sendContinue));
      const upload = this.policy.upload;
      if (upload === null) return closingIfUnread(req, { ...emptyReply(405, { Allow: DAV_READ_METHODS }), note: "writes need --upload" });
      if (isCrossSite(req)) throw new WriteRefusal(403, "cross-site write (Origin or Sec-Fetch-Site)");
      // A fragment never reaches a server in a well-formed request; one that does is not stripped
      // and acted on (litmus's delete_fragment: DELETE `coll/#frag` must not delete `coll/`).
      if ((req.url ?? "").includes("#")) throw new WriteRefusal(400, "fragment in request target");
      return closingIfUnread(req, await this.write(method, req, upload, sendContinue));
    } catch (error) {
      return closingIfUnread(req, replyForFailure(error));
    }
  }

  /**
   * What PUT and POST must pass before upload.ts stores anything: the If header and the locks on
   * the resource (for POST, the folder). Null when the write may go on.
   */
  writeRefusal(req: ServedRequest): Reply | null {
    // upload.ts refuses these, with its reasons; a lock must not be revealed to a cross-site page first.
    if (isCrossSite(req)) return null;
    const target = resolveWriteTarget(req.url ?? "/", this.policy.dotfiles);
    if (target.kind === "refuse") return null;
    const segments = target.name === null ? target.folder : [...target.folder, target.name];
    try {
      const place = placeOf(segments);
      // A PUT may add a name (and folders) to a folder. A form POST adds names to its folder and, with
      // --overwrite, replaces the files of those names, known only from the body: any member's lock counts.
      const also = req.method === "PUT" ? this.addedTo(segments) : this.policy.upload?.overwrite ? this.lockedMembers(place) : [];
      this.checkLocks(req, place, "resource", place, also);
      return null;
    } catch (error) {
      return replyForFailure(error);
    }
  }

  /**
   * What a resumable upload's creation (tus.ts) must pass: it will add `name` (or a numbered name)
   * to `folder`, making missing folders, as a PUT of `folder/name` would; the request names the
   * folder. Null when the write may go on.
   */
  additionRefusal(req: ServedRequest, folder: readonly Buffer[], name: Buffer): Reply | null {
    try {
      const segments = [...folder, name];
      const also = this.addedTo(segments);
      if (also.length === 0) also.push(keyOf(folder)); // the name is taken: a numbered one is added to the folder
      this.checkLocks(req, placeOf(segments), "resource", placeOf(folder), also);
      return null;
    } catch (error) {
      return replyForFailure(error);
    }
  }

  private write(method: string, req: ServedRequest, upload: UploadRules, sendContinue: () => void): Promise<Reply> | Reply {
    switch (method) {
      case "PROPPATCH":
        return this.proppatch(req, sendContinue);
      case "MKCOL":
        return this.mkcol(req);
      case "DELETE":
        return this.delete(req, upload);
      case "COPY":
        return this.copyOrMove(req, upload, false);
      case "MOVE":
        return this.copyOrMove(req, upload, true);
      case "LOCK":
        return this.lock(req, sendContinue);
      default:
        return this.unlock(req);
    }
  }

  // -------------------------------------------------------------------------------------------
  // PROPFIND (RFC 4918 §9.1)
  // -------------------------------------------------------------------------------------------

  private async propfind(req: ServedRequest, sendContinue: () => void): Promise<Reply> {
    const place = readPlace(req.url ?? "/", this.policy);
    const depth = depthOf(req, ["0", "1", "infinity"], "infinity");
    // A whole tree in one answer is a denial of service waiting to happen; RFC 4918 lets us refuse it.
    if (depth === "infinity") return errorXml(403, "<D:propfind-finite-depth/>", "PROPFIND Depth: infinity");
    const wanted = propfindRequest(await readXml(req, sendContinue));
    const found = locate(place.segments, this.policy);
    if (found === null || found.kind === "outside") throw new WriteRefusal(404, found?.note ?? "nothing there");
    if (found.kind === "file" && place.slash) throw new WriteRefusal(404, "a file asked for as a folder"); // as GET answers `/f.txt/`
    if (found.kind === "folder" && !this.policy.listing) throw new WriteRefusal(403, "PROPFIND on a folder with --no-listing");
    const self = this.responseXml(hrefOf(place.segments, found.kind === "folder"), place, lastName(place), found, wanted);
    if (depth === "0" || found.kind === "file") return multiStatus(multistatusXml(self), "PROPFIND");
    // The names are kept as latin1 strings (one char per byte, exact), each made a Buffer only in
    // its turn: 100,000 Buffers held at once cost some 13 MB and made the collector grow its young
    // generation, which put this answer over issue 18's 50 MB (test/webdav-hostile.test.ts).
    const names: string[] = [];
    const links = new Set<number>();
    eachFolderName(found, this.policy, (name, type) => {
      if (type === "symlink") links.add(names.length);
      names.push(name);
    });
    const dav = this;
    const policy = this.policy;
    function* chunks(): Generator<string> {
      yield MULTISTATUS_OPEN + self;
      let chunk = "";
      let count = 0;
      for (const [index, latin1] of names.entries()) {
        const entry = { name: Buffer.from(latin1, "latin1"), symlink: links.has(index) };
        const child = locateEntry(found as Found, entry, policy);
        if (child === null || (child.kind !== "file" && child.kind !== "folder")) continue; // gone, unreadable, a link out, a FIFO
        const segments = [...place.segments, entry.name];
        chunk += dav.responseXml(hrefOf(segments, child.kind === "folder"), placeOf(segments), entry.name.toString("utf8"), child, wanted);
        if (++count % ENTRIES_PER_CHUNK === 0) {
          yield chunk;
          chunk = "";
        }
      }
      yield chunk + MULTISTATUS_CLOSE;
    }
    return {
      status: 207,
      note: `PROPFIND Depth: 1, ${names.length} entries`,
      headers: { "Content-Type": XML_TYPE, "Cache-Control": "no-store" },
      body: { kind: "stream", open: () => Readable.from(chunks(), { objectMode: false }), release: () => {} },
    };
  }

  /** One `<D:response>` of a PROPFIND: the properties asked for, grouped by status. */
  private responseXml(href: string, place: Place, displayName: string, found: Found, wanted: PropfindRequest): string {
    const ok: string[] = [];
    const missing: string[] = [];
    const dead = this.properties.all(place.key);
    if (wanted.kind === "propname") {
      for (const name of LIVE_PROPERTIES) if (this.liveValue(name, place, displayName, found) !== null) ok.push(`<D:${name}/>`);
      for (const property of dead) ok.push(propertyXml(property.ns, property.local, ""));
    } else if (wanted.kind === "allprop") {
      for (const name of LIVE_PROPERTIES) {
        const value = this.liveValue(name, place, displayName, found);
        if (value !== null) ok.push(propertyXml(DAV_NS, name, value));
      }
      for (const property of dead) ok.push(propertyXml(property.ns, property.local, property.valueXml, property.lang));
    } else {
      for (const { ns, local } of wanted.names) {
        if (ns === DAV_NS && LIVE_NAMES.has(local)) {
          const value = this.liveValue(local as LiveProperty, place, displayName, found);
          (value === null ? missing : ok).push(propertyXml(ns, local, value ?? ""));
          continue;
        }
        const property = this.properties.get(place.key, ns, local);
        (property === undefined ? missing : ok).push(propertyXml(ns, local, property?.valueXml ?? "", property?.lang));
      }
    }
    let xml = `<D:response><D:href>${escapeXml(href)}</D:href>`;
    if (ok.length > 0 || missing.length === 0) xml += propstat(ok, "200 OK");
    if (missing.length > 0) xml += propstat(missing, "404 Not Found");
    return xml + "</D:response>";
  }

  /** A live property's value as XML, or null when the resource has none (a folder's length). */
  private liveValue(name: LiveProperty, place: Place, displayName: string, found: Found): string | null {
    const { stats } = found;
    const file = found.kind === "file";
    switch (name) {
      case "resourcetype":
        return file ? "" : "<D:collection/>";
      case "getcontentlength":
        return file ? String(stats.size) : null;
      case "getlastmodified":
        return new Date(stats.mtimeMs).toUTCString();
      case "getetag":
        return file ? escapeXml(etagOf(stats)) : null;
      case "getcontenttype":
        return file ? escapeXml(contentTypeFor(Buffer.from(displayName))) : null;
      case "displayname":
        return displayName === "" ? null : escapeXml(displayName);
      case "creationdate":
        // Not every file system keeps a birth time (it reads as 0 then): the change time stands in.
        return new Date(stats.birthtimeMs > 0 ? stats.birthtimeMs : stats.ctimeMs).toISOString();
      case "supportedlock":
        return SUPPORTED_LOCK;
      case "lockdiscovery":
        return this.locks.covering(place.key).map((lock) => activeLockXml(lock, this.policy)).join("");
    }
  }

  // -------------------------------------------------------------------------------------------
  // PROPPATCH (RFC 4918 §9.2): dead properties, all or nothing
  // -------------------------------------------------------------------------------------------

  private async proppatch(req: ServedRequest, sendContinue: () => void): Promise<Reply> {
    const place = existingPlace(req.url ?? "/", this.policy);
    const found = locate(place.segments, this.policy);
    if (found === null || found.kind === "outside") throw new WriteRefusal(404, "PROPPATCH on nothing");
    this.checkLocks(req, place, "resource");
    const body = await readXml(req, sendContinue);
    if (body === null || body.ns !== DAV_NS || body.local !== "propertyupdate") throw new WriteRefusal(400, "PROPPATCH body is not a DAV:propertyupdate");
    const changes: Array<{ set: boolean; property: DeadProperty }> = [];
    for (const instruction of body.children) {
      if (instruction.ns !== DAV_NS || (instruction.local !== "set" && instruction.local !== "remove")) continue; // unknown elements are ignored (§17)
      for (const prop of instruction.children) {
        if (prop.ns !== DAV_NS || prop.local !== "prop") continue;
        const inherited = langOf(prop) ?? langOf(instruction) ?? langOf(body);
        for (const element of prop.children) changes.push({ set: instruction.local === "set", property: { ns: element.ns, local: element.local, valueXml: contentXml(element), lang: langOf(element) ?? inherited } });
      }
    }
    if (changes.length === 0) throw new WriteRefusal(400, "PROPPATCH changes nothing");
    const names = changes.map(({ property }) => propertyXml(property.ns, property.local, ""));
    const href = hrefOf(place.segments, found.kind === "folder");
    const refused = changes.map(({ property }) => property.ns === DAV_NS && LIVE_NAMES.has(property.local));
    if (refused.some(Boolean)) {
      // All or nothing (§9.2): a protected property fails with 403, and every other with 424.
      const body = names.map((name, i) => propstat([name], refused[i] ? "403 Forbidden" : "424 Failed Dependency", refused[i] ? "<D:cannot-modify-protected-property/>" : "")).join("");
      return multiStatus(multistatusXml(`<D:response><D:href>${escapeXml(href)}</D:href>${body}</D:response>`), "PROPPATCH of a protected property");
    }
    if (!this.properties.fits(changes.filter((change) => change.set).map((change) => change.property))) {
      return multiStatus(multistatusXml(`<D:response><D:href>${escapeXml(href)}</D:href>${propstat(names, "507 Insufficient Storage")}</D:response>`), "PROPPATCH over the properties' memory limit");
    }
    for (const { set, property } of changes) {
      if (set) this.properties.set(place.key, property);
      else this.properties.remove(place.key, property.ns, property.local);
    }
    return multiStatus(multistatusXml(`<D:response><D:href>${escapeXml(href)}</D:href>${propstat(names, "200 OK")}</D:response>`), `PROPPATCH ${changes.length} properties`);
  }

  // -------------------------------------------------------------------------------------------
  // MKCOL (§9.3), DELETE (§9.6)
  // -------------------------------------------------------------------------------------------

  private mkcol(req: ServedRequest): Reply {
    // A body would say what to make the folder from; we know no such format (§9.3).
    if (announcesBody(req)) throw new WriteRefusal(415, "MKCOL with a body");
    const place = newPlace(req.url ?? "/", this.policy);
    if (place.segments.length === 0) throw new WriteRefusal(405, "the root exists");
    this.checkLocks(req, place, "resource", place, [keyOf(place.segments.slice(0, -1))]);
    const folder = parentFolder(place, this.policy);
    try {
      mkdirSync(pathInFolder(folder, place.segments.at(-1)!));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") throw new WriteRefusal(405, "something has that name already");
      throw error;
    }
    return { ...emptyReply(201, { Location: hrefOf(place.segments, true) }), note: "folder made" };
  }

  private delete(req: ServedRequest, upload: UploadRules): Reply {
    const place = existingPlace(req.url ?? "/", this.policy);
    if (place.segments.length === 0) throw new WriteRefusal(403, "the root cannot be deleted");
    const entry = this.visibleEntry(place);
    // Nothing there is a 404 in a drop box too (litmus's delete_null): the refusal is for what exists.
    if (entry === null) throw new WriteRefusal(404, "DELETE of nothing");
    if (!upload.overwrite) throw new WriteRefusal(403, "DELETE needs --overwrite (without it the share only grows)");
    if (entry.stats.isDirectory() && depthOf(req, ["infinity"], "infinity") === null) throw new WriteRefusal(400, "DELETE of a folder takes Depth: infinity only");
    this.checkLocks(req, place, "tree", place, [keyOf(place.segments.slice(0, -1))]);
    const failures = removeEntry(entry, place.segments, this.policy);
    this.locks.forgetWithin(place.key);
    this.properties.forgetWithin(place.key);
    if (failures.length === 0) return { ...emptyReply(204, {}), note: "deleted" };
    const responses = failures.map(({ segments, status }) => `<D:response><D:href>${escapeXml(hrefOf(segments, true))}</D:href><D:status>HTTP/1.1 ${status}</D:status></D:response>`);
    return multiStatus(multistatusXml(responses.join("")), `DELETE left ${failures.length} folders that hold hidden files or changed meanwhile`);
  }

  // -------------------------------------------------------------------------------------------
  // COPY and MOVE (§9.8, §9.9)
  // -------------------------------------------------------------------------------------------

  private async copyOrMove(req: ServedRequest, upload: UploadRules, move: boolean): Promise<Reply> {
    const method = move ? "MOVE" : "COPY";
    const from = existingPlace(req.url ?? "/", this.policy);
    if (move && from.segments.length === 0) throw new WriteRefusal(403, "the root cannot be moved");
    const to = this.destination(req);
    const overwrite = overwriteOf(req);
    if (to.key === from.key) throw new WriteRefusal(403, `${method} onto itself`);
    if (isWithin(to.key, from.key)) throw new WriteRefusal(403, `${method} of a folder into itself`);
    const depth = move ? depthOf(req, ["infinity"], "infinity") : depthOf(req, ["0", "infinity"], "infinity");
    if (depth === null) throw new WriteRefusal(400, `${method} with a Depth it does not take`);
    const source = move ? this.visibleEntry(from) : locate(from.segments, this.policy);
    if (source === null || ("kind" in source && source.kind === "outside")) throw new WriteRefusal(404, `${method} of nothing`);
    if (move && !upload.overwrite) throw new WriteRefusal(403, "MOVE needs --overwrite (a move empties a name; without it the share only grows)");
    const destinationFolder = parentFolder(to, this.policy);
    const destinationPath = pathInFolder(destinationFolder, to.segments.at(-1)!);
    // Through a link inside the root, a URL outside the source's can still name the source or a place
    // in it; and a destination that holds the source would be deleted, source and all, before the copy.
    const sourcePath = (source as Entry | Found).fsPath;
    if (isInsidePath(destinationPath, sourcePath)) throw new WriteRefusal(403, `${method} onto itself or into itself through a link`);
    if (isInsidePath(sourcePath, destinationPath)) throw new WriteRefusal(403, `${method} onto a folder that holds the source`);
    const existing = lstatSync(destinationPath, { throwIfNoEntry: false });
    if (existing && !overwrite) throw new WriteRefusal(412, `${method} onto an existing resource with Overwrite: F`);
    if (existing && !upload.overwrite) throw new WriteRefusal(403, `${method} onto an existing resource needs --overwrite`);
    this.checkLocks(req, to, "tree", from, existing ? [] : [keyOf(to.segments.slice(0, -1))]);
    if (move) this.checkLocks(req, from, "tree", from, [keyOf(from.segments.slice(0, -1))]);
    // A file onto a file is replaced in one step, by the rename of the source (MOVE) or of the copy's
    // temporary file (COPY): the old one goes only when the request succeeds. Deleted first, it was
    // lost whenever the request then failed (a concurrent MOVE took the source: 404). Folders are cleared first.
    const inPlace = existing !== undefined && !existing.isDirectory() && !(source as Entry | Found).stats.isDirectory();
    const forgetDestination = () => {
      this.locks.forgetWithin(to.key);
      this.properties.forgetWithin(to.key);
    };
    if (existing && !inPlace) {
      const failures = removeEntry({ folder: destinationFolder.fsPath, fsPath: destinationPath, stats: existing }, to.segments, this.policy);
      if (failures.length > 0) throw new WriteRefusal(409, "the destination holds hidden files that cannot be replaced");
      forgetDestination();
    }
    if (move) {
      await moveEntry(source as Entry, destinationPath);
      if (inPlace) forgetDestination();
      this.locks.forgetWithin(from.key);
      this.properties.moveWithin(from.key, to.key);
    } else {
      await copyFound(source as Found, destinationFolder.fsPath, destinationPath, depth === "infinity", this.policy, inPlace);
      if (inPlace) forgetDestination();
      if (depth === "infinity") this.properties.copyWithin(from.key, to.key);
      else for (const property of this.properties.all(from.key)) this.properties.set(to.key, property); // the members were not copied
    }
    const location = hrefOf(to.segments, (source as Entry | Found).stats.isDirectory());
    const note = `${method} to ${location}`;
    return existing ? { ...emptyReply(204, {}), note } : { ...emptyReply(201, { Location: location }), note };
  }

  /**
   * The `Destination` header as a place (§10.3): an absolute URL that names this server (its Host,
   * and its scheme; behind a trusted proxy, the forwarded ones) or an absolute path; else 502 for
   * another server, or 400. Its path follows the rules of a new name, as a PUT's does.
   */
  private destination(req: ServedRequest): Place {
    const value = headerText(req, "destination");
    if (value === undefined) throw new WriteRefusal(400, "no Destination header");
    let target = value;
    const absolute = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(value);
    if (absolute) {
      const [, scheme, authority, rest] = absolute;
      if (!this.isThisServer(req, scheme!.toLowerCase(), authority!.toLowerCase())) throw new WriteRefusal(502, "Destination names another server");
      target = rest === "" ? "/" : rest!;
    }
    if (target.includes("#") || target.includes("?")) throw new WriteRefusal(400, "Destination with a query or fragment");
    return newPlace(target, this.policy);
  }

  private isThisServer(req: ServedRequest, scheme: string, authority: string): boolean {
    const forwardedHost = this.policy.trustProxy ? lastForwarded(headerText(req, "x-forwarded-host")) : undefined;
    const forwardedProto = this.policy.trustProxy ? lastForwarded(headerText(req, "x-forwarded-proto")) : undefined;
    // Origins are scheme and name together: the one asked for, and behind a trusted proxy its public
    // one. Judged apart, `http://public.example` would pass for `https://public.example`.
    const origins: Array<[string, string | undefined]> = [[requestScheme(req), requestedAuthority(req)]];
    if (this.policy.trustProxy) origins.push([forwardedProto?.toLowerCase() ?? requestScheme(req), forwardedHost ?? requestedAuthority(req)]);
    const wanted = withoutDefaultPort(authority, scheme);
    return origins.some(([originScheme, name]) => originScheme === scheme && name !== undefined && withoutDefaultPort(name.toLowerCase(), scheme) === wanted);
  }

  // -------------------------------------------------------------------------------------------
  // LOCK and UNLOCK (§9.10, §9.11)
  // -------------------------------------------------------------------------------------------

  private async lock(req: ServedRequest, sendContinue: () => void): Promise<Reply> {
    const body = await readXml(req, sendContinue);
    const timeout = parseTimeout(headerText(req, "timeout"));
    if (body === null) return this.refreshLock(req, timeout);
    const info = lockInfo(body);
    const depth = depthOf(req, ["0", "infinity"], "infinity");
    if (depth === null) throw new WriteRefusal(400, "LOCK takes Depth: 0 or infinity");
    const place = newOrExistingPlace(req.url ?? "/", this.policy);
    this.checkIf(req, place);
    const found = locate(place.segments, this.policy);
    if (found !== null && found.kind === "outside") throw new WriteRefusal(404, found.note);
    // The empty file it makes is a name added to a folder, which that folder's locks guard (§7).
    if (found === null) this.checkLocks(req, place, "resource", place, [keyOf(place.segments.slice(0, -1))]);
    const acquired = this.locks.acquire(place.key, { ...info, depth: found?.kind === "file" ? "0" : depth, timeoutSeconds: timeout });
    if (acquired === "full") throw new WriteRefusal(503, "too many locks");
    if ("conflict" in acquired) return errorXml(423, `<D:no-conflicting-lock><D:href>${escapeXml(hrefOfKey(acquired.conflict.key, this.policy))}</D:href></D:no-conflicting-lock>`, "LOCK conflicts with another lock");
    let status = 200;
    if (found === null) {
      // A LOCK on an unmapped URL makes an empty file (§7.3), so that a client can lock a name before writing it.
      try {
        this.placeholders.remember(createEmptyFile(pathInFolder(parentFolder(place, this.policy), place.segments.at(-1)!)));
        status = 201;
      } catch (error) {
        this.locks.release(acquired.token, place.key);
        throw error;
      }
    }
    return lockReply(status, acquired, `<${acquired.token}>`, `LOCK ${acquired.scope} depth ${acquired.depth}`, this.policy);
  }

  /** A LOCK without a body refreshes the lock whose token the If header submits (§9.10.2). */
  private refreshLock(req: ServedRequest, timeout: number): Reply {
    const place = existingPlace(req.url ?? "/", this.policy);
    const header = this.checkIf(req, place);
    if (header === null) throw new WriteRefusal(400, "a LOCK refresh needs the lock's token in an If header");
    for (const token of submittedTokens(header)) {
      const lock = this.locks.refresh(token, place.key, timeout);
      if (lock) return lockReply(200, lock, undefined, "LOCK refreshed", this.policy);
    }
    throw new WriteRefusal(412, "no lock of the If header's tokens covers this resource");
  }

  private unlock(req: ServedRequest): Reply {
    const place = existingPlace(req.url ?? "/", this.policy);
    const token = /^\s*<([^<>]+)>\s*$/.exec(headerText(req, "lock-token") ?? "")?.[1];
    if (token === undefined) throw new WriteRefusal(400, "UNLOCK without a Lock-Token header");
    if (!this.locks.release(token, place.key)) return errorXml(409, "<D:lock-token-matches-request-uri/>", "UNLOCK with a token that does not cover this resource");
    return { ...emptyReply(204, {}), note: "unlocked" };
  }

  // -------------------------------------------------------------------------------------------
  // The If header and locks, on every write
  // -------------------------------------------------------------------------------------------

  /**
   * Throws 412 when the If header does not hold, 400 when it is malformed; returns it parsed (null
   * when there is none). §10.4: a request whose If header does not hold fails whole.
   */
  private checkIf(req: ServedRequest, place: Place): IfHeader | null {
    const value = headerText(req, "if");
    if (value === undefined) return null;
    const header = parseIf(value);
    if (header === null) throw new WriteRefusal(400, "malformed If header");
    if (!ifHolds(header, place.key, (tag) => this.keyForTag(req, tag), (key) => this.stateOf(key))) throw new WriteRefusal(412, "If header does not hold");
    return header;
  }

  /**
   * Throws unless the write may change `place` (and, for "tree", everything below it, and the
   * resources keyed in `also`): the If header holds, and for each locked resource that changes
   * it submits the token of every exclusive lock on it, and of one of the shared locks on it
   * (§6.1, §7); one resource's shared token does not open another's. A missing token is a 423
   * naming the lock's root. The If header's untagged lists are judged against `requested`, the
   * Request-URI (§10.4.1): for a COPY or MOVE's destination, the source. `also` holds the folders
   * a name is added to or taken from: a lock on a folder, depth 0 too, guards its members (§7).
   */
  private checkLocks(req: ServedRequest, place: Place, extent: "resource" | "tree", requested: Place = place, also: readonly string[] = []): void {
    const header = this.checkIf(req, requested);
    const submitted = header === null ? new Set<string>() : submittedTokens(header);
    const changed = new Set([place.key, ...also]);
    if (extent === "tree") for (const lock of this.locks.within(place.key)) changed.add(lock.key);
    for (const key of changed) {
      const locks = this.locks.covering(key);
      const exclusive = locks.find((lock) => lock.scope === "exclusive" && !submitted.has(lock.token));
      const shared = locks.filter((lock) => lock.scope === "shared");
      const missing = exclusive ?? (shared.length > 0 && !shared.some((lock) => submitted.has(lock.token)) ? shared[0] : undefined);
      if (missing) throw new LockedRefusal(hrefOfKey(missing.key, this.policy));
    }
  }

  /** The folder a PUT to `segments` adds a name to: the deepest one that exists (PUT makes the missing ones); none when the file exists. */
  private addedTo(segments: readonly Buffer[]): string[] {
    for (let end = segments.length; end >= 0; end--) {
      if (locate(segments.slice(0, end), this.policy) !== null) return end === segments.length ? [] : [keyOf(segments.slice(0, end))];
    }
    return [];
  }

  /** The keys of a folder's direct members that hold a lock. */
  private lockedMembers(folder: Place): string[] {
    return this.locks.within(folder.key).map((lock) => lock.key).filter((key) => segmentsOf(key).length === folder.segments.length + 1);
  }

  /** A tag of the If header as a path key, or null when it names no resource of this server. */
  private keyForTag(req: ServedRequest, tag: string): string | null {
    const absolute = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(tag);
    if (absolute && !this.isThisServer(req, absolute[1]!.toLowerCase(), absolute[2]!.toLowerCase())) return null;
    const target = resolveTargetPath(absolute ? absolute[3] || "/" : tag, this.policy.dotfiles);
    return target.kind === "path" ? keyOf(target.segments) : null;
  }

  private stateOf(key: string): ResourceState {
    const segments = segmentsOf(key);
    let etag: string | null = null;
    try {
      const found = locate(segments, this.policy);
      if (found?.kind === "file") etag = etagOf(found.stats);
    } catch {
      // unreadable: no ETag to match
    }
    return { etag, lockTokens: new Set(this.locks.covering(key).map((lock) => lock.token)) };
  }

  /**
   * The entry a place names, as lstat sees it (a link is itself, not what it names), in a folder
   * confined as reads are; null when there is nothing a reader could see (a link out of the root
   * without --follow-symlinks counts as nothing).
   */
  private visibleEntry(place: Place): Entry | null {
    const folder = writableFolderOrNull(place.segments.slice(0, -1), this.policy);
    if (folder === null) return null;
    const fsPath = pathInFolder(folder, place.segments.at(-1)!);
    const stats = lstatSync(fsPath, { throwIfNoEntry: false });
    if (stats === undefined) return null;
    if (stats.isSymbolicLink()) {
      const seen = locate(place.segments, this.policy);
      if (seen === null || seen.kind === "outside") return null;
    } else if (!stats.isFile() && !stats.isDirectory()) {
      return null;
    }
    return { folder: folder.fsPath, fsPath, stats };
  }
}

// ---------------------------------------------------------------------------------------------
// Places: request targets and Destination headers as segments and keys
// ---------------------------------------------------------------------------------------------

/** Path key (dav-locks.ts): the segments' bytes as latin1, joined with "/"; the root is "". */
function keyOf(segments: readonly Buffer[]): string {
  return segments.map((segment) => segment.toString("latin1")).join("/");
}

function segmentsOf(key: string): Buffer[] {
  return key === "" ? [] : key.split("/").map((part) => Buffer.from(part, "latin1"));
}

function placeOf(segments: readonly Buffer[]): Place {
  return { segments, key: keyOf(segments) };
}

function isWithin(key: string, ancestor: string): boolean {
  return ancestor === "" ? key !== "" : key.startsWith(ancestor + "/");
}

/**
 * A target to read (PROPFIND, a COPY's source): decoded as GET decodes it, but a target with dot
 * segments is refused, not redirected (a redirect would turn the method into something else).
 */
function readPlace(url: string, policy: Policy): Place & { slash: boolean } {
  const target = resolveTargetPath(url, policy.dotfiles);
  if (target.kind === "redirect") throw new WriteRefusal(400, target.reason + ": ask for the normal form");
  if (target.kind === "refuse") throw new WriteRefusal(target.status, target.reason);
  return { ...placeOf(target.segments), slash: target.slash };
}

/**
 * A target that names something that exists (DELETE, MOVE's source, PROPPATCH, UNLOCK): read as
 * GET reads it, so a name on disk that a new file could not be given (not UTF-8, say) can still
 * be deleted; never a dotfile without --dotfiles (`.well-known` included, which GET serves).
 */
function existingPlace(url: string, policy: Policy): Place {
  const place = readPlace(url, policy);
  if (!policy.dotfiles && place.segments.some((segment) => segment[0] === DOT)) throw new WriteRefusal(404, "dotfile hidden; --dotfiles allows it");
  return place;
}

/** A target that names something to be made (MKCOL, a Destination, LOCK on an unmapped URL): every segment must be a name a file may have. */
function newPlace(url: string, policy: Policy): Place {
  const target = resolveWriteTarget(url, policy.dotfiles);
  if (target.kind === "refuse") throw new WriteRefusal(target.status, target.reason);
  return placeOf(target.name === null ? target.folder : [...target.folder, target.name]);
}

/** LOCK's target: an existing resource by the reading rules, else a new name by the writing ones. */
function newOrExistingPlace(url: string, policy: Policy): Place {
  const place = existingPlace(url, policy);
  return locate(place.segments, policy) === null ? newPlace(url, policy) : place;
}

/** The folder a new name goes into: it must exist (§9.3.1, §9.8.5: else 409), confined as reads are. */
function parentFolder(place: Place, policy: Policy): { kind: "folder"; fsPath: Buffer } {
  if (place.segments.length === 0) throw new WriteRefusal(403, "the root has no parent");
  const folder = writableFolderOrNull(place.segments.slice(0, -1), policy);
  if (folder === null) throw new WriteRefusal(409, "the parent folder does not exist");
  return folder;
}

function writableFolderOrNull(segments: readonly Buffer[], policy: Policy): { kind: "folder"; fsPath: Buffer } | null {
  try {
    return writableFolder(segments, policy, false);
  } catch (error) {
    if (error instanceof WriteRefusal && error.status !== 403) return null; // missing, or a file in the way
    throw error;
  }
}

/** The percent-encoded path of segments, with a trailing `/` for a folder: an href of our answers. */
function hrefOf(segments: readonly Buffer[], folder: boolean): string {
  const path = "/" + segments.map(encodePathSegment).join("/");
  return folder && segments.length > 0 ? path + "/" : path;
}

/** The href of a lock's root (locks know keys, not kinds): a folder's ends with `/`, as PROPFIND gives it. */
function hrefOfKey(key: string, policy: Policy): string {
  const segments = segmentsOf(key);
  let folder = false;
  try {
    folder = locate(segments, policy)?.kind === "folder";
  } catch {
    // unreadable: named as a file
  }
  return hrefOf(segments, folder);
}

/**
 * A resource's display name: its last segment as text; "" for the root, whose own name on disk is
 * not the client's business (no answer names the served folder's path or name), and then no
 * displayname is given.
 */
function lastName(place: Place): string {
  return place.segments.at(-1)?.toString("utf8") ?? "";
}

function lastForwarded(value: string | undefined): string | undefined {
  return value?.split(",").at(-1)?.trim() || undefined;
}

function withoutDefaultPort(authority: string, scheme: string): string {
  return authority.replace(scheme === "https" ? /:443$/ : /:80$/, "");
}

// ---------------------------------------------------------------------------------------------
// Headers and bodies
// ---------------------------------------------------------------------------------------------

/** The Depth header if it is one of `allowed` (absent: `absent`), else null for a 400. */
function depthOf<T extends string>(req: ServedRequest, allowed: readonly T[], absent: T): T | null {
  const value = headerText(req, "depth")?.trim().toLowerCase();
  if (value === undefined) return absent;
  return (allowed as readonly string[]).includes(value) ? (value as T) : null;
}

/** `Overwrite: T` unless it says F (§10.6); anything else is a 400. */
function overwriteOf(req: ServedRequest): boolean {
  const value = headerText(req, "overwrite")?.trim().toUpperCase();
  if (value === undefined || value === "T") return true;
  if (value === "F") return false;
  throw new WriteRefusal(400, "Overwrite is neither T nor F");
}

/** The request body as XML, or null when there is none; at most MAX_XML_BODY bytes (else 413, unread when the length says so). */
async function readXml(req: ServedRequest, sendContinue: () => void): Promise<XmlElement | null> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_XML_BODY) throw new XmlRefusal(413, `XML body of ${declared} bytes is over ${MAX_XML_BODY}`);
  if (req.httpVersionMajor < 2 && !announcesBody(req)) return null;
  sendContinue();
  const chunks: Buffer[] = [];
  for await (const chunk of guardedBody(req, MAX_XML_BODY, "the XML body limit")) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  return body.toString("latin1").trim() === "" ? null : parseXml(body);
}

type PropfindRequest = { kind: "allprop" } | { kind: "propname" } | { kind: "prop"; names: ReadonlyArray<{ ns: string; local: string }> };

/** What a PROPFIND body asks for (§14.20); no body means allprop (§9.1). */
function propfindRequest(body: XmlElement | null): PropfindRequest {
  if (body === null) return { kind: "allprop" };
  if (body.ns !== DAV_NS || body.local !== "propfind") throw new WriteRefusal(400, "PROPFIND body is not a DAV:propfind");
  const [first] = body.children.filter((child) => child.ns === DAV_NS);
  switch (first?.ns === DAV_NS ? first.local : undefined) {
    case "allprop":
      return { kind: "allprop" };
    case "propname":
      return { kind: "propname" };
    case "prop":
      return { kind: "prop", names: first!.children.map(({ ns, local }) => ({ ns, local })) };
    default:
      throw new WriteRefusal(400, "PROPFIND asks for neither allprop, propname nor prop");
  }
}

/** An element's own xml:lang, or null. */
function langOf(element: XmlElement): string | null {
  return element.attributes.find((attribute) => attribute.ns === XML_NS && attribute.local === "lang")?.value ?? null;
}

/** What a LOCK body asks for (§14.11): the scope, and the owner as the client wrote it. Only write locks exist. */
function lockInfo(body: XmlElement): { scope: LockScope; owner: string } {
  if (body.ns !== DAV_NS || body.local !== "lockinfo") throw new WriteRefusal(400, "LOCK body is not a DAV:lockinfo");
  const child = (local: string) => body.children.find((element) => element.ns === DAV_NS && element.local === local);
  const scope = child("lockscope")?.children.find((element) => element.ns === DAV_NS)?.local;
  const type = child("locktype")?.children.find((element) => element.ns === DAV_NS)?.local;
  if ((scope !== "exclusive" && scope !== "shared") || type !== "write") throw new WriteRefusal(400, "LOCK asks for no exclusive or shared write lock");
  const owner = child("owner");
  return { scope, owner: owner ? contentXml(owner) : "" };
}

function activeLockXml(lock: ActiveLock, policy: Policy): string {
  const seconds = Math.max(0, lock.timeoutSeconds);
  return (
    `<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope><D:${lock.scope}/></D:lockscope><D:depth>${lock.depth}</D:depth>` +
    (lock.owner === "" ? "" : `<D:owner>${lock.owner}</D:owner>`) +
    `<D:timeout>Second-${seconds}</D:timeout><D:locktoken><D:href>${escapeXml(lock.token)}</D:href></D:locktoken>` +
    `<D:lockroot><D:href>${escapeXml(hrefOfKey(lock.key, policy))}</D:href></D:lockroot></D:activelock>`
  );
}

function lockReply(status: number, lock: ActiveLock, lockTokenHeader: string | undefined, note: string, policy: Policy): Reply {
  const xml = `${XML_HEAD}<D:prop xmlns:D="DAV:"><D:lockdiscovery>${activeLockXml(lock, policy)}</D:lockdiscovery></D:prop>\n`;
  return xmlReply(status, xml, note, lockTokenHeader === undefined ? {} : { "Lock-Token": lockTokenHeader });
}

/** A write refused by a lock whose token was not submitted: 423 naming the lock's root (§16). */
class LockedRefusal extends Error {
  constructor(readonly lockRoot: string) {
    super("locked");
  }
}

function replyForFailure(error: unknown): Reply {
  if (error instanceof LockedRefusal) return errorXml(423, `<D:lock-token-submitted><D:href>${escapeXml(error.lockRoot)}</D:href></D:lock-token-submitted>`, "locked; the If header does not submit its token");
  if (error instanceof XmlRefusal) return { ...errorPage(error.status), note: error.reason };
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === "EXDEV") return { ...errorPage(502), note: "the destination is on another file system" };
  return replyForWriteFailure(error);
}
