/**
 * `--open`: show the server's URL in the default browser, the way the platform's own "open this"
 * command does. Detached, so the browser outlives neither the server nor its terminal's signals,
 * and never fatal: a machine without a browser (a server, a container) still gets its server.
 */
import { spawn } from "node:child_process";

/** The command that opens a URL with the user's default browser on this platform. */
function openerFor(platform: NodeJS.Platform, url: string): { command: string; args: string[] } {
  if (platform === "darwin") return { command: "open", args: [url] };
  // `start`'s first quoted argument is a window title, so an empty one comes first.
  if (platform === "win32") return { command: "cmd", args: ["/c", "start", '""', url] };
  return { command: "xdg-open", args: [url] };
}

/** Opens `url`; when that cannot be done, `onFailure` gets one line that says why and what to do. */
export function openInBrowser(url: string, onFailure: (message: string) => void): void {
  const { command, args } = openerFor(process.platform, url);
  const child = spawn(command, args, { detached: true, stdio: "ignore", windowsVerbatimArguments: true });
  child.once("error", (error: NodeJS.ErrnoException) => {
    const why = error.code === "ENOENT" ? `${command} not found` : `${command}: ${error.message}`;
    onFailure(`cannot open a browser (${why}); open ${url} yourself`);
  });
  child.once("exit", (code) => {
    if (code !== null && code !== 0) onFailure(`cannot open a browser (${command} exited with status ${code}); open ${url} yourself`);
  });
  child.unref();
}
