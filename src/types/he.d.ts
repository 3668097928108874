// he 2.x ships as an ES module without type declarations; this declares the one function we use.
declare module "he" {
  /** Escapes `&`, `<`, `>`, `"`, `'` and `` ` `` for use in HTML text and attribute values. */
  export function escape(text: string): string;
}
