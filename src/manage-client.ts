/**
 * The listing's file management, part of `/__serve-here/upload.js` (upload-client.ts puts it after
 * the uploads): plain JS in a string, for the reasons live-client.ts gives.
 *
 * Only with --upload, and only what the share allows: the upload form's `data-share` says `drive`
 * (--overwrite: rename, move and delete per row, and "New folder") or `drop-box` ("New folder"
 * alone). Each action is the WebDAV request a mounted drive would send (MOVE with a same-origin
 * `Destination` and `Overwrite: F`, DELETE, MKCOL), so the server's rules decide, not this script;
 * a refusal is told in words, with its status. A folder's deletion is confirmed with what it
 * holds, counted by PROPFIND Depth 1 a folder at a time (at most MAX_COUNTED_FOLDERS of them).
 *
 * One `<dialog>` serves every action: a row's button opens it on that row (Rename…, Move…,
 * Delete…), Escape or Cancel closes it and focus goes back to where it was; after a change the
 * listing is fetched again (`refreshListing`, shared with the uploads), focus lands on the row the
 * change made, or the one that took the gone row's place, and `.manage-status` says what happened.
 *
 * Expects from the part before it: `refreshListing()`, `afterRefresh` (hooks run after each
 * refresh), `el(tag, props, ...children)`, `humanSize(bytes)`, `decodeSegment(text)`, `here` (this
 * folder's URL path), `refusal(what, status)` (a refusal in words), and the upload area's `.more`.
 */
export const MANAGE_CLIENT: string = `
{
const form = document.querySelector("form.upload");
const share = form && form.dataset.share;
const statusLine = document.querySelector(".manage-status");
if (form && statusLine && (share === "drive" || share === "drop-box")) {
  const drive = share === "drive";
  const shownPath = (path) => "/" + path.split("/").filter(Boolean).map((s) => decodeSegment(s) + "/").join("");
  const MAX_COUNTED_FOLDERS = 200;

  const UNREACHABLE = "the server could not be reached; try again.";

  const say = (text, failed = false) => {
    statusLine.textContent = text;
    statusLine.classList.toggle("failed", failed);
  };

  // --- The rows ----------------------------------------------------------------------------
  /** What a row names: its URL path (exact bytes, percent-encoded), its name as shown, folder or not. */
  const itemOf = (row) => {
    const link = row.querySelector("td.name a, a");
    const url = new URL(link.getAttribute("href"), location.href);
    const folder = url.pathname.endsWith("/");
    const label = row.querySelector(".label")?.textContent ?? link.textContent;
    const name = folder ? label.slice(0, -1) : label;
    const size = row.querySelector("data")?.value;
    return { href: url.pathname, segment: url.pathname.split("/").filter(Boolean).pop(), folder, name, label, size: size === undefined ? null : Number(size) };
  };
  const rows = () => [...document.querySelectorAll("tbody tr:not(.parent), ul.grid li.tile:not(.parent)")];
  const rowNamed = (href) => rows().find((row) => itemOf(row).href === href);

  const decorate = () => {
    if (!drive) return;
    const head = document.querySelector("thead tr");
    if (head && !head.querySelector("th.manage")) head.append(el("th", { className: "manage" }, el("span", { className: "sr", textContent: "Actions" })));
    for (const row of document.querySelectorAll("tbody tr.parent")) if (!row.querySelector("td.manage")) row.append(el("td", { className: "manage" }));
    for (const row of rows()) {
      if (row.querySelector("button.manage")) continue;
      const item = itemOf(row);
      const button = el("button", { type: "button", className: "manage", textContent: "⋯", title: "Rename, move or delete" });
      button.setAttribute("aria-label", "Manage " + item.label);
      button.setAttribute("aria-haspopup", "dialog");
      button.addEventListener("click", () => menu(itemOf(row), button));
      if (row.tagName === "TR") row.append(el("td", { className: "manage" }, button));
      else row.append(button);
    }
  };

  // --- The dialog ---------------------------------------------------------------------------
  const dialog = el("dialog", { className: "manage" });
  dialog.setAttribute("aria-labelledby", "manage-title");
  document.body.append(dialog);
  let opener = null;
  let shown = 0; // which view is on screen: an answer for an older one changes nothing
  dialog.addEventListener("close", () => {
    shown++;
    if (opener && opener.isConnected) opener.focus();
    opener = null;
  });

  const button = (text, action, className = "") => el("button", { type: "button", textContent: text, className, onclick: action });
  const cancelButton = () => button("Cancel", () => dialog.close());
  const alertLine = () => {
    const line = el("p", { className: "error" });
    line.setAttribute("role", "alert");
    return line;
  };

  /** Puts a view in the dialog (opening it if shut) and focuses \`focus\`; returns the view's number. */
  const show = (title, parts, focus) => {
    dialog.replaceChildren(el("h2", { id: "manage-title", textContent: title }), ...parts);
    if (!dialog.open) dialog.showModal();
    (focus ?? dialog.querySelector("input, button")).focus();
    return ++shown;
  };

  /**
   * A view with one text field. \`act(text)\` does the change: it returns a sentence saying why
   * not (shown in the view, which stays), or null when done (the view is gone by then).
   */
  const fieldView = ({ title, label, value, hint, submit, act }) => {
    const input = el("input", { type: "text", value, id: "manage-field", autocomplete: "off", spellcheck: false });
    input.setAttribute("autocapitalize", "off");
    const error = alertLine();
    const go = el("button", { type: "submit", textContent: submit });
    const parts = [el("label", { htmlFor: "manage-field", textContent: label }), input];
    if (hint) {
      parts.push(el("p", { className: "hint", id: "manage-hint", textContent: hint }));
      input.setAttribute("aria-describedby", "manage-hint");
    }
    const view = el("form", {}, ...parts, error, el("div", { className: "buttons" }, go, cancelButton()));
    view.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (go.disabled) return;
      go.disabled = true;
      error.textContent = "";
      const problem = await act(input.value).catch(() => UNREACHABLE);
      go.disabled = false;
      if (problem !== null && dialog.open) {
        error.textContent = problem;
        input.focus();
      }
    });
    show(title, [view], input);
    return input;
  };

  /** After a change: the dialog shut, the listing fetched again, focus on \`target()\` and the news said. */
  const changed = async (news, target) => {
    opener = null;
    dialog.close();
    await refreshListing();
    say(news);
    (target() ?? document.querySelector("form.upload .more button") ?? document.body).focus();
  };

  /** The row at the place a gone row had (the next one, else the one before), for focus. */
  const neighbour = (href) => {
    const list = rows();
    const at = list.findIndex((row) => itemOf(row).href === href);
    return at === -1 ? null : list[at + 1] ?? list[at - 1] ?? null;
  };
  const focusable = (row) => row?.querySelector("button.manage") ?? row?.querySelector("a") ?? null;

  // --- The actions --------------------------------------------------------------------------
  const menu = (item, from) => {
    opener = from;
    show(item.label, [
      el("p", { textContent: item.folder ? "A folder in " + shownPath(here) : "A file in " + shownPath(here) + (item.size === null ? "" : ", " + humanSize(item.size)) }),
      el("div", { className: "buttons choices" },
        button("Rename…", () => rename(item)),
        button("Move to another folder…", () => move(item)),
        button("Delete…", () => remove(item), "danger"),
        cancelButton()),
    ]);
  };

  /** MOVE to \`path\` (never over anything: Overwrite: F); null when done, or why not. */
  const moveTo = async (item, path, verb, news, target) => {
    const response = await fetch(item.href, { method: "MOVE", headers: { Destination: location.origin + path, Overwrite: "F" } });
    if (response.status !== 201 && response.status !== 204) return refusal("Not " + verb, response.status);
    const after = neighbour(item.href);
    const afterHref = after && itemOf(after).href;
    await changed(news, () => focusable(target() ?? (afterHref && rowNamed(afterHref))));
    return null;
  };

  const rename = (item) => {
    const input = fieldView({
      title: "Rename " + item.label,
      label: "New name",
      value: item.name,
      submit: "Rename",
      act: async (text) => {
        const name = text.trim();
        if (name === "") return "Give it a name.";
        if (name === item.name) return "That is its name already.";
        if (name.includes("/")) return "A name cannot hold a /: to put it in another folder, use Move.";
        const path = here + encodeURIComponent(name) + (item.folder ? "/" : "");
        return moveTo(item, path, "renamed", "Renamed " + item.label + " to " + name + (item.folder ? "/" : "") + ".", () => rowNamed(path));
      },
    });
    const dot = item.folder ? -1 : item.name.lastIndexOf(".");
    input.setSelectionRange(0, dot > 0 ? dot : item.name.length);
  };

  /** A folder's URL path from what was typed: from the share's top with a leading /, else from this folder. */
  const folderPath = (text) => {
    const segments = text.trim().startsWith("/") ? [] : here.split("/").filter(Boolean);
    for (const piece of text.trim().split("/")) {
      if (piece === "" || piece === ".") continue;
      if (piece === "..") segments.pop();
      else segments.push(encodeURIComponent(piece));
    }
    return "/" + segments.map((segment) => segment + "/").join("");
  };

  const move = (item) => {
    const input = fieldView({
      title: "Move " + item.label,
      label: "To the folder",
      value: shownPath(here),
      hint: "A path from the top of the share, like /photos/2024/, or from this folder, like ../ or old/.",
      submit: "Move",
      act: async (text) => {
        const folder = folderPath(text);
        if (folder === here) return "It is in that folder already.";
        if (item.folder && folder.startsWith(item.href)) return "A folder cannot go into itself.";
        const path = folder + item.segment + (item.folder ? "/" : "");
        return moveTo(item, path, "moved", "Moved " + item.label + " to " + shownPath(folder) + ".", () => null);
      },
    });
    input.select();
    suggestFolders(input, item);
  };

  /** Folders to offer for a move: this one's parents, its folders, and the folders at the top. */
  const suggestFolders = async (input, item) => {
    const list = el("datalist", { id: "manage-folders" });
    input.after(list);
    input.setAttribute("list", "manage-folders");
    const paths = new Set();
    const segments = here.split("/").filter(Boolean);
    for (let n = 0; n <= segments.length; n++) paths.add("/" + segments.slice(0, n).map((s) => s + "/").join(""));
    for (const row of rows()) {
      const other = itemOf(row);
      if (other.folder) paths.add(other.href);
    }
    try {
      for (const entry of await members("/")) if (entry.folder) paths.add(entry.href);
    } catch {}
    for (const path of [...paths].sort()) {
      if (path === here || (item.folder && path.startsWith(item.href))) continue;
      list.append(el("option", { value: shownPath(path) }));
    }
  };

  /** A folder's members by PROPFIND Depth 1: each one's URL path, folder or not, and size. */
  const members = async (href) => {
    const response = await fetch(href, {
      method: "PROPFIND",
      headers: { Depth: "1", "Content-Type": "application/xml" },
      body: '<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><prop><resourcetype/><getcontentlength/></prop></propfind>',
    });
    if (response.status !== 207) throw new Error(String(response.status));
    const xml = new DOMParser().parseFromString(await response.text(), "application/xml");
    const found = [];
    for (const answer of xml.getElementsByTagNameNS("DAV:", "response")) {
      const path = new URL(answer.getElementsByTagNameNS("DAV:", "href")[0]?.textContent ?? "", location.href).pathname;
      if (path === href) continue;
      const folder = answer.getElementsByTagNameNS("DAV:", "collection").length > 0;
      const length = answer.getElementsByTagNameNS("DAV:", "getcontentlength")[0]?.textContent;
      found.push({ href: path, folder, size: folder ? 0 : Number(length ?? 0) });
    }
    return found;
  };

  /** What a folder holds, all the way down, a few folders at a time; \`complete\` false past the bound. */
  const countTree = async (href) => {
    const tally = { files: 0, folders: 0, bytes: 0, complete: true };
    const waiting = [href];
    let visited = 0;
    while (waiting.length > 0) {
      if (visited >= MAX_COUNTED_FOLDERS) {
        tally.complete = false;
        break;
      }
      const batch = waiting.splice(0, Math.min(4, MAX_COUNTED_FOLDERS - visited));
      visited += batch.length;
      for (const found of await Promise.all(batch.map(members))) {
        for (const entry of found) {
          if (entry.folder) {
            tally.folders++;
            waiting.push(entry.href);
          } else {
            tally.files++;
            tally.bytes += entry.size;
          }
        }
      }
    }
    return tally;
  };

  const plural = (n, word) => n.toLocaleString("en") + " " + word + (n === 1 ? "" : "s");

  const remove = (item) => {
    const what = el("p", { textContent: item.folder ? "Counting what " + item.label + " holds…" : item.label + (item.size === null ? "" : " (" + humanSize(item.size) + ")") + " will be deleted." });
    const warning = el("p", { textContent: "This cannot be undone." });
    const error = alertLine();
    const go = button("Delete", null, "danger");
    const cancel = cancelButton();
    const view = show("Delete " + item.label + "?", [what, warning, error, el("div", { className: "buttons" }, go, cancel)], cancel);
    let summary = "";
    if (item.folder) {
      go.disabled = true;
      countTree(item.href).then(
        (tally) => {
          if (view !== shown) return;
          const held = tally.files === 0 && tally.folders === 0 ? "it is empty" : (tally.complete ? "" : "at least ") + plural(tally.files, "file") + (tally.folders > 0 ? " in " + plural(tally.folders + 1, "folder") : "") + ", " + humanSize(tally.bytes);
          summary = held === "it is empty" ? " (it was empty)" : " with " + held;
          what.textContent = "The folder " + item.label + " will be deleted with everything in it: " + held + (tally.complete ? "." : " (counting stopped there).");
          go.disabled = false;
        },
        () => {
          if (view !== shown) return;
          what.textContent = "The folder " + item.label + " will be deleted with everything in it (what it holds could not be counted).";
          go.disabled = false;
        },
      );
    }
    go.onclick = async () => {
      go.disabled = true;
      error.textContent = "";
      let response;
      try {
        response = await fetch(item.href, { method: "DELETE", headers: item.folder ? { Depth: "infinity" } : {} });
      } catch {
        response = null;
      }
      if (view !== shown) return;
      go.disabled = false;
      if (response === null) error.textContent = "Not deleted: " + UNREACHABLE;
      else if (response.status === 207) {
        const after = neighbour(item.href);
        await changed("Deleted what could be deleted in " + item.label + ": some folders were kept, as they hold hidden files or changed meanwhile.", () => focusable(rowNamed(item.href) ?? after));
      } else if (response.status !== 204 && response.status !== 200) error.textContent = refusal("Not deleted", response.status);
      else {
        const after = neighbour(item.href);
        const afterHref = after && itemOf(after).href;
        await changed("Deleted " + item.label + summary + ".", () => focusable(afterHref && rowNamed(afterHref)));
      }
    };
  };

  const newFolder = (from) => {
    opener = from;
    fieldView({
      title: "New folder in " + shownPath(here),
      label: "Name",
      value: "",
      submit: "Create",
      act: async (text) => {
        const name = text.trim();
        if (name === "") return "Give it a name.";
        if (name.includes("/")) return "A name cannot hold a /.";
        const path = here + encodeURIComponent(name) + "/";
        const response = await fetch(path, { method: "MKCOL" });
        if (response.status !== 201) return refusal("Not created", response.status);
        await changed("Made the folder " + name + "/.", () => rowNamed(path)?.querySelector("a"));
        return null;
      },
    });
  };

  const more = form.querySelector(".more") ?? el("div", { className: "more" });
  const create = button("New folder", () => newFolder(create));
  create.setAttribute("aria-haspopup", "dialog");
  more.append(create);
  if (!more.isConnected) form.querySelector(".hint").before(more);
  decorate();
  afterRefresh.push(decorate);
}
}
`;
