/**
 * QR codes of URLs, drawn two ways from one module matrix (encoded by `uqr`): half-block text for
 * the terminal, and an SVG path for the listing page. Pure rendering, no I/O.
 */
import { createRequire } from "node:module";

// `uqr` is required on first use, not imported: most runs print no QR code and serve no listing,
// and start-up should not pay for an encoder it never calls. It ships a CommonJS build beside its
// ES module, so a synchronous require works where the listing needs it, mid-request.
let uqr: typeof import("uqr") | undefined;

/** Modules of light margin around the code: the 4 that ISO/IEC 18004 asks for. */
export const QUIET_ZONE = 4;

/** The code's modules, row by row, true for dark; without the quiet zone. */
export type QrMatrix = readonly (readonly boolean[])[];

export function qrMatrix(text: string): QrMatrix {
  uqr ??= createRequire(import.meta.url)("uqr") as typeof import("uqr");
  // The smallest version that fits at level L, then as much error correction as that version has
  // room for (boostEcc): more robustness at no cost in size.
  return uqr.encode(text, { ecc: "L", boostEcc: true, border: 0 }).data;
}

/**
 * The matrix as lines of `▀▄█ `, two module rows per line, with the quiet zone. The characters'
 * ink stands for LIGHT modules: terminals mostly draw light text on a dark background, and there the
 * ink makes the light parts (the quiet zone too) and the background the dark modules, which gives
 * the standard dark-on-light code that every scanner reads. Printed with explicit light-on-dark
 * colours (see `cli.ts`), it looks the same on any terminal; printed plain on a light terminal, it is
 * inverted, which phone cameras (iOS, Android's ML Kit) read too.
 */
export function renderHalfBlocks(matrix: QrMatrix): string[] {
  const size = matrix.length + 2 * QUIET_ZONE;
  // Outside the matrix is the quiet zone, light; so is the row below the last when the count is odd.
  const light = (row: number, column: number) => !(matrix[row - QUIET_ZONE]?.[column - QUIET_ZONE] ?? false);
  const lines: string[] = [];
  for (let row = 0; row < size; row += 2) {
    let line = "";
    for (let column = 0; column < size; column++) {
      const top = light(row, column);
      const bottom = row + 1 >= size || light(row + 1, column);
      line += top ? (bottom ? "█" : "▀") : bottom ? "▄" : " ";
    }
    lines.push(line);
  }
  return lines;
}

/**
 * The matrix as an SVG of `sizePx` square: a white square with the quiet zone, and every dark run
 * of a row as one `M x y h{n}v1h-{n}z` in a single path, so the page carries a few hundred bytes
 * rather than an element per module. Explicit colours: the code stays dark-on-light in dark mode.
 */
export function renderSvg(matrix: QrMatrix, sizePx: number): string {
  const size = matrix.length + 2 * QUIET_ZONE;
  let path = "";
  matrix.forEach((row, y) => {
    for (let x = 0; x < row.length; ) {
      if (!row[x]) {
        x++;
        continue;
      }
      let run = 1;
      while (row[x + run]) run++;
      path += `M${x + QUIET_ZONE} ${y + QUIET_ZONE}h${run}v1h-${run}z`;
      x += run;
    }
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size} ${size}" width="${sizePx}" height="${sizePx}" shape-rendering="crispEdges" role="img" aria-label="QR code"><rect width="${size}" height="${size}" fill="#fff"/><path fill="#000" d="${path}"/></svg>`;
}
